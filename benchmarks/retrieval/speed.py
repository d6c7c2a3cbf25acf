"""``python -m benchmarks.retrieval.speed``: ranking latency at 10,000 documents in one org.

Builds a throwaway database: one org with the test set's 40 documents and generated
sales-like distractors up to ``--documents``, and ``--other-orgs`` orgs with the test
set and ``--other-documents`` distractors each in the same table; counts every org's
terms; then times kbcore's ranking query and the simplest OR query (the baseline) over
every question of the test set, both as prepared statements on one warm connection,
taking turns, for ``--rounds`` rounds. Prints p50/p90/p99/max per round and over all rounds, and the
recall of both methods in the large org (the distractors compete with the answers).
"""

from __future__ import annotations

import argparse
import itertools
import time
import uuid
from collections.abc import Sequence

import anyio
import asyncpg
import attrs
from asyncpg.pool import PoolConnectionProxy

from benchmarks.harness import percentile
from benchmarks.retrieval import methods, testset
from benchmarks.retrieval.corpus import Writer
from benchmarks.retrieval.load import load, prepare
from benchmarks.retrieval.metrics import quality
from benchmarks.retrieval.quality import ORG
from kbcore.postgres._connection import OnConnection
from kbcore.postgres._ranking import RANK_PASSAGES, refresh_term_counts
from kbcore.testing import database


@attrs.frozen
class Sizes:
    documents: int = 10_000
    other_orgs: int = 3
    other_documents: int = 2_000
    rounds: int = 5

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(documents=60, other_orgs=1, other_documents=20, rounds=1)

    @classmethod
    def from_command_line(cls, prog: str, doc: str | None, argv: Sequence[str] | None) -> Sizes:
        """The sizes ``--documents``, ``--other-orgs``, ``--other-documents``, ``--rounds`` say."""
        parser = argparse.ArgumentParser(prog=prog, description=doc)
        defaults = cls()
        parser.add_argument("--documents", type=int, default=defaults.documents)
        parser.add_argument("--other-orgs", type=int, default=defaults.other_orgs)
        parser.add_argument("--other-documents", type=int, default=defaults.other_documents)
        parser.add_argument("--rounds", type=int, default=defaults.rounds)
        args = parser.parse_args(argv)
        return cls(args.documents, args.other_orgs, args.other_documents, args.rounds)


@attrs.frozen
class Latency:
    method: str
    round: int | None  # None: every round together
    samples: tuple[float, ...]

    def line(self) -> str:
        ms = [s * 1000 for s in self.samples]
        label = "all" if self.round is None else str(self.round)
        return (
            f"| {self.method} | {label} | {percentile(ms, 0.5):.1f} | {percentile(ms, 0.9):.1f} "
            f"| {percentile(ms, 0.99):.1f} | {max(ms):.1f} |"
        )


async def build(conn: PoolConnectionProxy, sizes: Sizes) -> dict[str, int]:
    """The large org and the others; returns passages per org (by label)."""
    writer = Writer(testset.documents())
    real = testset.documents()
    distractors = writer.documents(max(0, sizes.documents - len(real)), seed=1, prefix="kb")
    counts = {"large org": await load(conn, ORG, itertools.chain(real, distractors))}
    for index in range(sizes.other_orgs):
        org = uuid.UUID(int=index + 1)
        # Other tenants sell similar things: each has the test set's documents too, so
        # the large org's rare words are found in every org of the table.
        docs = writer.documents(sizes.other_documents, seed=index + 2, prefix=f"org{index}")
        counts[f"org {index + 1}"] = await load(conn, org, itertools.chain(real, docs))
    for org_id in [ORG, *(uuid.UUID(int=i + 1) for i in range(sizes.other_orgs))]:
        async with conn.transaction():
            await refresh_term_counts(OnConnection(conn), org_id)
    await conn.execute("VACUUM ANALYZE knowledge_passages")
    return counts


async def time_methods(conn: PoolConnectionProxy, rounds: int) -> list[Latency]:
    questions = testset.questions() + testset.questions(testset.HELD_OUT)
    live = await conn.prepare(RANK_PASSAGES)
    baseline = await conn.prepare(methods.OR_BASELINE)
    calls = {
        "kbcore.live": [(live, methods.live_arguments(ORG, q, limit=3)) for q in questions],
        "OR baseline": [(baseline, methods.baseline_arguments(ORG, q, limit=3)) for q in questions],
    }
    for prepared in calls.values():  # warm: plans, caches
        for statement, arguments in prepared:
            await statement.fetch(*arguments)
    samples: dict[str, list[list[float]]] = {name: [] for name in calls}
    for round_ in range(rounds):
        for name in list(calls) if round_ % 2 == 0 else list(calls)[::-1]:
            times = []
            for statement, arguments in calls[name]:
                started = time.perf_counter()
                await statement.fetch(*arguments)
                times.append(time.perf_counter() - started)
            samples[name].append(times)
    return [
        Latency(name, index, tuple(times))
        for name, rounds_ in samples.items()
        for index, times in [*enumerate(rounds_, 1), (None, [t for r in rounds_ for t in r])]
    ]


async def run(server_dsn: str, sizes: Sizes) -> str:
    async with (
        database.temporary_database(server_dsn, prefix="kbcore_retrieval") as dsn,
        asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool,
    ):
        await prepare(pool)
        async with pool.acquire() as conn:
            started = time.perf_counter()
            counts = await build(conn, sizes)
            built = time.perf_counter() - started
            # JIT compiles plans whose estimated cost is high; for queries of a few
            # milliseconds it only adds time. Off for both methods alike.
            await conn.execute("SET jit = off")
            latencies = await time_methods(conn, sizes.rounds)
            recall = await _recall(conn)
    lines = [
        f"Passages: {', '.join(f'{k} {v:,}' for k, v in counts.items())} (built in {built:.0f} s).",
        "",
        "| method | round | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
        *(latency.line() for latency in latencies),
        "",
        *recall,
    ]
    return "\n".join(lines)


async def _recall(conn: PoolConnectionProxy) -> list[str]:
    questions = testset.questions() + testset.questions(testset.HELD_OUT)
    live = quality([await methods.live(conn, ORG, q) for q in questions])
    base = quality([await methods.baseline(conn, ORG, q) for q in questions])
    return [
        f"In the large org, all {live.questions} answerable questions: kbcore.live recall@3 "
        f"{live.recall_at_3:.2f}, MRR@10 {live.mrr_at_10:.2f}; OR baseline recall@3 "
        f"{base.recall_at_3:.2f}, MRR@10 {base.mrr_at_10:.2f}."
    ]


def main(argv: Sequence[str] | None = None) -> int:
    sizes = Sizes.from_command_line("python -m benchmarks.retrieval.speed", __doc__, argv)
    with database.postgres_server() as server_dsn:
        print(anyio.run(run, server_dsn, sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
