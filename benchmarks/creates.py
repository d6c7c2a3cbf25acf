"""create against the raw INSERTs a host would write by hand, at two logging set-ups.

Four baselines, each one statement through the same pool: the document row alone (the
figure of the first runs); the document and its changelog row (what an audited create
wrote before live knowledge); every row create writes, which adds the passages and the
org's auto-sync mark, with the passages split beforehand, outside the timing; and the
same with the passages split in the call, by ``kbcore.retrieval.split_document``.

The goal's baseline is every row, split beforehand: kbcore's share is all the rest,
splitting included. Passages are written in create's statement so that live knowledge
answers from a write at once (docs/live-knowledge.md), and the mark is what makes
auto-sync see the write; like the changelog's copy of the content, they are rows the
server must write. The last baseline shows what the split costs between two round trips,
and what is left of kbcore's share without it.

create runs with logging as a library finds it (nothing configured: silent) and with
structlog configured at INFO, rendering JSON into ``/dev/null``. Each baseline is timed
turn about with create (``interleave``, as the issue measured it), in blocks; each block
gives one ratio of medians. Turn about, each call follows each kind of call equally
often. In one rotation of all five calls, whose order only shifted from round to round,
each call nearly always had the same neighbour, and create's ratio depended on it
(benchmarks/speed_results.md).
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import asyncpg
import structlog

from benchmarks import corpus
from benchmarks.environment import Env
from benchmarks.harness import (
    Figure,
    Pair,
    interleave,
    log_info_to,
    ms,
    percentile,
    spread_text,
    statistic,
    structlog_kept,
)
from kbcore import KnowledgeBase
from kbcore._auto_sync import AutoSync
from kbcore.postgres import PostgresStore
from kbcore.postgres._passages import passage_arrays
from kbcore.postgres._requests import mark_arguments
from kbcore.postgres._writes import INSERT_MARKED
from kbcore.retrieval import split_document

_ONE_ROW = """
INSERT INTO knowledge_base (org_id, filename, content, category, metadata)
VALUES ($1, $2, $3, $4, $5::jsonb)
"""

_TWO_ROWS = """
WITH d AS (
    INSERT INTO knowledge_base (org_id, filename, content, category, metadata)
    VALUES ($1, $2, $3, $4, $5::jsonb)
    RETURNING id, org_id
)
INSERT INTO knowledge_base_changelog
    (knowledge_base_id, org_id, version_to, change_type, changed_by, change_summary, new_content)
SELECT d.id, d.org_id, 1, 'created', $6, $7, $3 FROM d
"""

# Every row create writes, by hand: the document, its changelog row, its passages ($8 to
# $10, parallel arrays) and the org's auto-sync mark as a host would write it, one row per
# org with its count of waiting edits bumped and its due time moved on.
_ALL_ROWS = """
WITH d AS (
    INSERT INTO knowledge_base (org_id, filename, content, category, metadata)
    VALUES ($1, $2, $3, $4, $5::jsonb)
    RETURNING id, org_id
), c AS (
    INSERT INTO knowledge_base_changelog
        (knowledge_base_id, org_id, version_to, change_type, changed_by, change_summary,
         new_content)
    SELECT d.id, d.org_id, 1, 'created', $6, $7, $3 FROM d
), m AS (
    INSERT INTO kb_sync_requests AS r (org_id, tool_name, due_at)
    SELECT d.org_id, 'kb', now() + interval '2 seconds' FROM d
    ON CONFLICT (org_id, tool_name) DO UPDATE
    SET edits = r.edits + 1, last_edit_at = now(), due_at = now() + interval '2 seconds'
)
INSERT INTO knowledge_passages (document_id, position, org_id, context, content)
SELECT d.id, n.position, d.org_id, n.context, n.content
FROM d CROSS JOIN unnest($8::integer[], $9::text[], $10::text[]) AS n (position, context, content)
"""

_BASELINES = (
    "the document row",
    "the document + changelog rows",
    "every row it writes, passages split beforehand",
    "every row it writes, passages split in the call",
)
#: The baseline of the goal (counted from 1): every row, split beforehand.
_GOAL = 3


@contextmanager
def logging_setup(configured: bool) -> Iterator[None]:
    """structlog unconfigured (a library's default), or at INFO into ``/dev/null``."""
    with open(os.devnull, "w") as devnull, structlog_kept():
        if configured:
            log_info_to(devnull)
        else:
            structlog.reset_defaults()
        yield


async def create(env: Env) -> list[Figure]:
    figures: list[Figure] = []
    async with env.pool() as pool:
        for configured in (False, True):
            with logging_setup(configured):
                pairs = await _pairs(env, pool)
            figures += _figures(env, pairs, configured)
        figures.append(await _statement_alone(env, pool))
    return figures


async def _pairs(env: Env, pool: asyncpg.Pool) -> list[list[Pair]]:
    """Per baseline (in ``_BASELINES``' order), per block, create's and its times."""
    kb = KnowledgeBase(PostgresStore(pool))
    org = uuid.uuid4()
    content = corpus.text(1, 150)
    names = itertools.count()
    passages = passage_arrays(split_document("raw.md", content))

    def name() -> str:
        return f"doc-{next(names)}.md"

    async def ours(_: int) -> None:
        await kb.create(org, filename=name(), content=content, actor="bench")

    async def by_hand(_: int) -> None:
        # What a host writing the passages by hand must do too: split the document.
        filename = name()
        split = passage_arrays(split_document(filename, content))
        await pool.execute(_ALL_ROWS, org, filename, content, "general", "{}", "bench", "c", *split)

    baselines: list[Callable[[int], Awaitable[object]]] = [
        lambda _: pool.execute(_ONE_ROW, org, name(), content, "general", "{}"),
        lambda _: pool.execute(_TWO_ROWS, org, name(), content, "general", "{}", "bench", "c"),
        lambda _: pool.execute(
            _ALL_ROWS, org, name(), content, "general", "{}", "bench", "c", *passages
        ),
        by_hand,
    ]
    return [
        [await interleave(ours, raw, env.sizes.creates) for _ in range(env.sizes.create_blocks)]
        for raw in baselines
    ]


def _figures(env: Env, pairs: list[list[Pair]], configured: bool) -> list[Figure]:
    setup = "structlog at INFO, JSON" if configured else "logging unconfigured (default)"
    figures = []
    for index, (baseline, blocks) in enumerate(zip(_BASELINES, pairs, strict=True), start=1):
        ours = [percentile(pair.ours, 0.5) for pair in blocks]
        raw = [percentile(pair.raw, 0.5) for pair in blocks]
        ratios = [pair.ratio() for pair in blocks]
        goal = index == _GOAL
        figures.append(
            Figure(
                f"create, {setup}, against a raw INSERT of {baseline}, turn about "
                f"({env.sizes.create_blocks} blocks of {env.sizes.creates})",
                ms(statistic(ours)),
                f"{ms(statistic(raw))} raw INSERT",
                spread_text(ratios),
                "≤ 1.25x" if goal else "reported",
                statistic(ratios) <= 1.25 if goal else None,
            )
        )
    return figures


async def _statement_alone(env: Env, pool: asyncpg.Pool) -> Figure:
    """create's own statement sent by hand, against the raw INSERT of every row it writes."""
    org = uuid.uuid4()
    content = corpus.text(1, 150)
    names = itertools.count()
    passages = passage_arrays(split_document("stmt.md", content))
    marks = mark_arguments(AutoSync())

    def ours(filename: str) -> tuple[object, ...]:
        change = ("bench", f"Created: {filename}")  # who and the summary: the rest is fixed
        return (org, filename, content, "general", "{}", *change, *passages, *marks)

    def raw(filename: str) -> tuple[object, ...]:
        return (org, filename, content, "general", "{}", "bench", "c", *passages)

    samples: dict[str, list[float]] = {INSERT_MARKED: [], _ALL_ROWS: []}
    for i in range(env.sizes.creates + 5):
        for query, arguments in ((INSERT_MARKED, ours), (_ALL_ROWS, raw))[:: 1 if i % 2 else -1]:
            args = arguments(f"stmt-{next(names)}.md")
            started = time.perf_counter()
            await pool.execute(query, *args)
            if i >= 5:
                samples[query].append(time.perf_counter() - started)
    ratio = statistic(samples[INSERT_MARKED]) / statistic(samples[_ALL_ROWS])
    return Figure(
        "create's statement alone, sent by hand, against the raw INSERT of every row it writes",
        ms(statistic(samples[INSERT_MARKED])),
        f"{ms(statistic(samples[_ALL_ROWS]))} raw INSERT",
        f"{ratio:.2f}x",
        "diagnostic",
        None,
        "The database's share of create's cost beyond the rows themselves.",
    )
