"""Storage scenarios: bulk import, a page of a large org, search.

Each baseline is the raw asyncpg call a host would write by hand, through the same
pool (so both pay the pool's acquire and its reset on release), measured turn
about with kbcore's call.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from benchmarks import corpus
from benchmarks.environment import Env
from benchmarks.harness import (
    Figure,
    Pair,
    interleave,
    ms,
    percentile,
    ratio_text,
    statistic,
)
from kbcore import DocumentDraft, KnowledgeBase
from kbcore._domain import PageKey, PageRequest
from kbcore.documents._paging import encode_cursor
from kbcore.postgres import PostgresStore
from kbcore.postgres._reads import SUMMARY_COLUMNS, page_query
from kbcore.postgres._search import SEARCH_QUERY

_MATCHES = """
SELECT count(*) FROM knowledge_base
WHERE org_id = $1 AND active AND search_vector @@ websearch_to_tsquery('simple', $2)
"""

_READ_NOTE = (
    "One statement on a pooled connection, without BEGIN and COMMIT: what remains is the "
    "pool's acquire and release around it (as the baseline's) and turning rows into "
    "kbcore's values."
)


async def bulk_import(env: Env) -> list[Figure]:
    sizes = env.sizes
    drafts = corpus.drafts(sizes.import_documents)
    async with env.pool() as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        ours_times: list[float] = []
        raw_times: list[float] = []
        for repeat in range(sizes.import_repeats):
            for which in ("ours", "raw") if repeat % 2 == 0 else ("raw", "ours"):
                org = uuid.uuid4()
                started = time.perf_counter()
                if which == "ours":
                    report = await kb.import_documents(org, drafts)
                    assert report.created == len(drafts), report.errors[:3]
                    ours_times.append(time.perf_counter() - started)
                else:
                    await _copy(pool, org, drafts)
                    raw_times.append(time.perf_counter() - started)
    ours_rate = len(drafts) / statistic(ours_times)
    raw_rate = len(drafts) / statistic(raw_times)
    ratio = ours_rate / raw_rate
    return [
        Figure(
            f"bulk import of {len(drafts):,} documents (~1 kB), median of {sizes.import_repeats}",
            f"{ours_rate:,.0f} docs/s",
            f"{raw_rate:,.0f} docs/s raw COPY",
            ratio_text(ratio),
            "≥ 0.5x",
            ratio >= 0.5,
            ""
            if ratio >= 0.5
            else "An import also writes each document's changelog row "
            "(its content again) and validates every item.",
        )
    ]


async def _copy(pool: asyncpg.Pool, org: uuid.UUID, drafts: list[DocumentDraft]) -> None:
    records = [(org, d.filename, d.content, d.category) for d in drafts]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "knowledge_base", records=records, columns=["org_id", "filename", "content", "category"]
        )


async def list_page(env: Env) -> list[Figure]:
    count = env.sizes.list_documents
    async with env.pool() as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        org = uuid.uuid4()
        await _load_large_org(pool, org, count)
        middle = await pool.fetchrow(
            "SELECT created_at, id FROM knowledge_base WHERE org_id = $1 AND active"
            " ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
            org,
            count // 2,
        )
        assert middle is not None
        key = PageKey(created_at=middle["created_at"], id=middle["id"])
        figures = []
        for label, after in (("first page", None), ("a page in the middle", key)):
            cursor = None if after is None else encode_cursor(key)
            query, args = page_query(_first_page(org, after))

            async def ours(_: int, cursor: str | None = cursor) -> None:
                await kb.list(org, limit=50, cursor=cursor)

            async def raw(_: int, query: str = query, args: list[object] = args) -> None:
                await pool.fetch(query, *args)

            pair = await interleave(ours, raw, env.sizes.list_reads)
            scenario = f"list: {label} of 50 in an org of {count:,}"
            figures.append(_read_figure(scenario, pair, 1.5, note=_READ_NOTE))
        figures.append(await _summaries(env, kb, pool, org))
    return figures


def _first_page(org: uuid.UUID, after: PageKey | None) -> PageRequest:
    """What ``KnowledgeBase.list(org, limit=50)`` reads: one row more than the page."""
    return PageRequest(org_id=org, category=None, include_inactive=False, limit=51, after=after)


async def _summaries(env: Env, kb: KnowledgeBase, pool: asyncpg.Pool, org: uuid.UUID) -> Figure:
    query, args = page_query(_first_page(org, None), columns=SUMMARY_COLUMNS)

    async def ours(_: int) -> None:
        await kb.list_summaries(org, limit=50)

    async def raw(_: int) -> None:
        await pool.fetch(query, *args)

    pair = await interleave(ours, raw, env.sizes.list_reads)
    count = env.sizes.list_documents
    scenario = f"list_summaries: first page of 50 in an org of {count:,}"
    return _read_figure(scenario, pair, 1.5, note=_READ_NOTE)


async def _load_large_org(pool: asyncpg.Pool, org: uuid.UUID, count: int) -> None:
    """``count`` small documents, a millisecond apart, straight through COPY."""
    start = datetime.now(UTC)
    records = [
        (
            org,
            f"doc-{i:06d}.md",
            corpus.text(i, 40),
            corpus.CATEGORIES[i % 4],
            start - timedelta(milliseconds=i),
            start - timedelta(milliseconds=i),
        )
        for i in range(count)
    ]
    columns = ["org_id", "filename", "content", "category", "created_at", "updated_at"]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("knowledge_base", records=records, columns=columns)
        await conn.execute("ANALYZE knowledge_base")


def _read_figure(scenario: str, pair: Pair, goal: float, *, note: str) -> Figure:
    """A read's p50 and p95 against its raw query's; ``note`` says what limits a miss."""
    p50, p95 = pair.ratio(0.5), pair.ratio(0.95)
    met = p50 <= goal
    return Figure(
        scenario,
        f"p50 {ms(percentile(pair.ours, 0.5))}, p95 {ms(percentile(pair.ours, 0.95))}",
        f"p50 {ms(percentile(pair.raw, 0.5))}, p95 {ms(percentile(pair.raw, 0.95))} raw query",
        f"{ratio_text(p50)} (p95 {ratio_text(p95)})",
        f"≤ {goal}x (p50)",
        met,
        "" if met else note,
    )


async def search(env: Env) -> list[Figure]:
    count = env.sizes.search_documents
    async with env.pool() as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        org = uuid.uuid4()
        report = await kb.import_documents(org, corpus.drafts(count))
        assert report.created == count
        await pool.execute("ANALYZE knowledge_base")
        figures = []
        for query in (corpus.FREQUENT, corpus.RARE, "annual discount"):
            hits = await pool.fetchval(_MATCHES, org, query)

            async def ours(_: int, query: str = query) -> None:
                await kb.search(org, query)

            async def raw(_: int, query: str = query) -> None:
                await pool.fetch(SEARCH_QUERY, org, query, 10, None)

            pair = await interleave(ours, raw, env.sizes.search_reads)
            scenario = f"search {query!r} over {count:,} documents ({hits:,} match, top 10)"
            figures.append(_read_figure(scenario, pair, 1.3, note=_READ_NOTE))
    return figures
