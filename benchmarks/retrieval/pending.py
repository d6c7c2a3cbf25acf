"""``python -m benchmarks.retrieval.pending``: what a full GIN pending list costs a search.

Migration 0010 lets writes of passages go through the GIN indexes' pending list (1 MB at
most), which every search reads in full besides the index until a write fills it past the
limit, or VACUUM, merges it. This times kbcore's ranking query over the test set's
questions with both pending lists empty (right after VACUUM), then with both filled to
just under their limit by passages of other orgs written one document at a time (as
edits would write them), then empty again, taking turns over ``--rounds`` rounds on one
warm connection. Prints p50/p90/p99/max for each state and the pending pages.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Sequence

import anyio
import asyncpg
from asyncpg.pool import PoolConnectionProxy

from benchmarks.harness import percentile
from benchmarks.retrieval import methods, testset
from benchmarks.retrieval.corpus import Writer
from benchmarks.retrieval.load import load, prepare
from benchmarks.retrieval.quality import ORG
from benchmarks.retrieval.speed import Sizes, build
from kbcore.postgres._ranking import RANK_PASSAGES
from kbcore.testing import database

_INDEXES = ("knowledge_passages_search_vector_idx", "knowledge_passages_context_vector_idx")
# The pending list's limit is 128 pages (1 MB); filling stops a document short of it.
_FULL_PAGES = 120


async def pending_pages(conn: PoolConnectionProxy) -> list[int]:
    query = "SELECT pending_pages FROM pgstatginindex($1::regclass)"
    return [int(await conn.fetchval(query, index)) for index in _INDEXES]


async def fill(conn: PoolConnectionProxy) -> tuple[int, list[int]]:
    """Passages of another org, a document at a time, until a pending list is nearly full."""
    writer = Writer(testset.documents())
    org = uuid.uuid4()
    documents = writer.documents(100_000, seed=99, prefix="pending")
    for written, document in enumerate(documents, start=1):
        await load(conn, org, [document])
        pages = await pending_pages(conn)
        # A write that fills a list past its limit merges it: then filling goes on.
        if max(pages) >= _FULL_PAGES:
            return written, pages
    raise RuntimeError("the pending lists never filled")


async def time_searches(conn: PoolConnectionProxy, rounds: int) -> list[float]:
    questions = testset.questions() + testset.questions(testset.HELD_OUT)
    live = await conn.prepare(RANK_PASSAGES)
    arguments = [methods.live_arguments(ORG, q, limit=3) for q in questions]
    for args in arguments:  # warm
        await live.fetch(*args)
    times = []
    for _ in range(rounds):
        for args in arguments:
            started = time.perf_counter()
            await live.fetch(*args)
            times.append(time.perf_counter() - started)
    return times


def line(state: str, pages: Sequence[int], times: Sequence[float]) -> str:
    ms = [t * 1000 for t in times]
    return (
        f"| {state} | {' / '.join(map(str, pages))} | {percentile(ms, 0.5):.1f} "
        f"| {percentile(ms, 0.9):.1f} | {percentile(ms, 0.99):.1f} | {max(ms):.1f} |"
    )


async def run(server_dsn: str, sizes: Sizes) -> str:
    async with (
        database.temporary_database(server_dsn, prefix="kbcore_pending") as dsn,
        asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool,
    ):
        await prepare(pool)
        async with pool.acquire() as conn:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
            counts = await build(conn, sizes)
            await conn.execute("SET jit = off")
            rows = []
            for state in itertools.islice(itertools.cycle(["empty", "full"]), 2 * sizes.rounds):
                if state == "empty":
                    await conn.execute("VACUUM knowledge_passages")
                    filled = ""
                else:
                    written, _ = await fill(conn)
                    filled = f" ({written} documents written)"
                pages = await pending_pages(conn)
                rows.append(line(state + filled, pages, await time_searches(conn, 1)))
    return "\n".join(
        [
            f"Passages: {', '.join(f'{k} {v:,}' for k, v in counts.items())}.",
            "",
            "| pending lists | pending pages (search / context) | p50 ms | p90 ms | p99 ms "
            "| max ms |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    sizes = Sizes.from_command_line("python -m benchmarks.retrieval.pending", __doc__, argv)
    with database.postgres_server() as server_dsn:
        print(anyio.run(run, server_dsn, sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
