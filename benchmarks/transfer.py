"""Moving many documents: an export of a large org and a bulk import, against raw COPY.

Each is timed turn about with its baseline, a few times, and reported as the median
with its spread (the lowest and highest ratio of a pair); round trips are counted
through a proxy (``roundtrips.py``) and peak memory with ``tracemalloc``, each in a
run of its own so that neither slows the timed runs.
"""

from __future__ import annotations

import statistics
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import asyncpg
import attrs

from benchmarks import corpus
from benchmarks.environment import Env
from benchmarks.harness import Figure, Pair, interleave, ratio_text
from benchmarks.roundtrips import RoundTrips, counting_proxy
from kbcore import DocumentDraft, KnowledgeBase
from kbcore.postgres import PostgresStore
from kbcore.retrieval import split_document
from kbcore.testing import database

# What an export reads, as COPY TO sends it.
_EXPORTED = """
SELECT id, org_id, filename, content, category, version, active, metadata, created_at, updated_at
FROM knowledge_base WHERE org_id = $1 AND active ORDER BY created_at, id
"""


def _summary(pair: Pair, count: int) -> tuple[str, str, str]:
    """Throughputs and their ratio: the median, with the lowest and highest run or pair."""
    ratios = _ratios(pair)
    spread = f"{ratio_text(min(ratios))}-{ratio_text(max(ratios))}"
    return (
        _rate(count, pair.ours),
        _rate(count, pair.raw),
        f"{ratio_text(statistics.median(ratios))} ({spread})",
    )


def _ratios(pair: Pair) -> list[float]:
    """kbcore's throughput over the baseline's, one per pair of runs."""
    return [raw / ours for ours, raw in zip(pair.ours, pair.raw, strict=True)]


def _rate(count: int, seconds: Sequence[float]) -> str:
    rates = [count / s for s in seconds]
    return f"{statistics.median(rates):,.0f} docs/s ({min(rates):,.0f}-{max(rates):,.0f})"


@asynccontextmanager
async def _database(env: Env) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool, RoundTrips]]:
    """A pool on a database of the scenario's own, and one through the counting proxy."""
    async with (
        database.temporary_database(
            env.server_dsn, template=env.template, prefix="kbcore_bench"
        ) as dsn,
        counting_proxy(dsn) as (proxied, trips),
        asyncpg.create_pool(dsn, min_size=2, max_size=4) as pool,
        asyncpg.create_pool(proxied, min_size=1, max_size=1) as counted,
    ):
        yield pool, counted, trips


async def _count(trips: RoundTrips, call: Callable[[], Awaitable[object]]) -> int:
    trips.count, trips.counting = 0, True
    try:
        await call()
    finally:
        trips.counting = False
    return trips.count


async def _peak_mb(call: Callable[[], Awaitable[object]]) -> float:
    """The most memory Python held at once during the call, beyond what it held before."""
    tracemalloc.start()
    try:
        await call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6


async def transfer(env: Env) -> list[Figure]:
    return [*await _export(env), *await _import(env)]


async def _export(env: Env) -> list[Figure]:
    count = env.sizes.export_documents
    async with _database(env) as (pool, counted, trips):
        org = uuid.uuid4()
        await _load(pool, org, count)

        async def ours(_: int, pool: asyncpg.Pool = pool) -> None:
            exported = 0
            async for _document in KnowledgeBase(PostgresStore(pool)).export(org):
                exported += 1
            assert exported == count

        async def raw(_: int, pool: asyncpg.Pool = pool) -> None:
            async with pool.acquire() as conn:
                await conn.copy_from_query(_EXPORTED, org, output=_discard)

        timed = await interleave(ours, raw, env.sizes.transfer_repeats, warmup=0)
        peak = await _peak_mb(lambda: ours(0))
        ours_trips = await _count(trips, lambda: ours(0, counted))
        raw_trips = await _count(trips, lambda: raw(0, counted))
    measured, baseline, ratio = _summary(timed, count)
    scenario = f"export of {count:,} documents (~1 kB), {env.sizes.transfer_repeats} runs"
    return [
        Figure(scenario, measured, f"{baseline} raw COPY TO", ratio, "reported", None),
        Figure(
            f"export of {count:,}: round trips and peak memory",
            f"{ours_trips:,} round trips, {peak:.1f} MB peak",
            f"{raw_trips:,} round trips, raw COPY TO",
            "",
            "reported",
            None,
        ),
    ]


async def _discard(data: bytes) -> None:
    pass


async def _load(pool: asyncpg.Pool, org: uuid.UUID, count: int) -> None:
    """``count`` documents of ~1 kB, straight through COPY."""
    records = [
        (org, f"doc-{i:06d}.md", corpus.text(i, 150), corpus.CATEGORIES[i % 4])
        for i in range(count)
    ]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "knowledge_base", records=records, columns=["org_id", "filename", "content", "category"]
        )
        await conn.execute("ANALYZE knowledge_base")


@attrs.frozen
class _Rows:
    """Every row an import of the drafts writes, made ahead, for the raw COPY baselines."""

    org: uuid.UUID
    documents: list[tuple[object, ...]]
    changes: list[tuple[object, ...]]
    passages: list[tuple[object, ...]]

    @classmethod
    def of(cls, drafts: Sequence[DocumentDraft]) -> _Rows:
        org = uuid.uuid4()
        ids = [uuid.uuid4() for _ in drafts]
        return cls(
            org,
            [(i, org, d.filename, d.content, d.category) for i, d in zip(ids, drafts, strict=True)],
            [
                (i, org, 1, "created", "bench", f"Created: {d.filename}", d.content)
                for i, d in zip(ids, drafts, strict=True)
            ],
            [
                (i, p.position, org, p.context, p.text)
                for i, d in zip(ids, drafts, strict=True)
                for p in split_document(d.filename, d.content)
            ],
        )

    async def copy(self, pool: asyncpg.Pool, *, passages: bool) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table(
                "knowledge_base",
                records=self.documents,
                columns=["id", "org_id", "filename", "content", "category"],
            )
            await conn.copy_records_to_table(
                "knowledge_base_changelog",
                records=self.changes,
                columns=[
                    "knowledge_base_id",
                    *("org_id", "version_to", "change_type", "changed_by", "change_summary"),
                    "new_content",
                ],
            )
            if passages:
                await conn.copy_records_to_table(
                    "knowledge_passages",
                    records=self.passages,
                    columns=["document_id", "position", "org_id", "context", "content"],
                )


async def _import(env: Env) -> list[Figure]:
    count, repeats = env.sizes.transfer_import_documents, env.sizes.transfer_repeats
    drafts = corpus.drafts(count)
    async with _database(env) as (pool, counted, trips):

        async def ours(_: int, pool: asyncpg.Pool = pool) -> None:
            report = await KnowledgeBase(PostgresStore(pool)).import_documents(
                uuid.uuid4(), iter(drafts)
            )
            assert report.created == count, report.errors[:3]

        baselines = []
        for passages in (False, True):
            rows = [_Rows.of(drafts) for _ in range(repeats)]

            async def raw(repeat: int, rows: list[_Rows] = rows, passages: bool = passages) -> None:
                await rows[repeat].copy(pool, passages=passages)

            baselines.append(await interleave(ours, raw, repeats, warmup=0))
            del rows
        peak = await _peak_mb(lambda: ours(0))
        ours_trips = await _count(trips, lambda: ours(0, counted))
        every_row = _Rows.of(drafts)
        raw_trips = await _count(trips, lambda: every_row.copy(counted, passages=True))
    documents, everything = baselines
    measured, baseline, ratio = _summary(documents, count)
    met = (
        statistics.median(r / o for o, r in zip(documents.ours, documents.raw, strict=True)) >= 0.5
    )
    scenario = f"import of {count:,} documents (~1 kB), {repeats} runs"
    all_measured, all_baseline, all_ratio = _summary(everything, count)
    return [
        Figure(
            scenario,
            measured,
            f"{baseline} raw COPY of documents and changelog",
            ratio,
            "≥ 0.5x",
            met,
        ),
        Figure(
            "the same import against raw COPY of every row it writes, passages included",
            all_measured,
            f"{all_baseline} raw COPY",
            all_ratio,
            "reported",
            None,
        ),
        Figure(
            f"import of {count:,}: round trips and peak memory",
            f"{ours_trips:,} round trips, {peak:.1f} MB peak",
            f"{raw_trips:,} round trips, raw COPY of every row",
            "",
            "reported",
            None,
        ),
    ]
