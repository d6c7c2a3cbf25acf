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
structlog configured at INFO, rendering JSON into ``/dev/null``. The calls take turns in
blocks; each block gives one ratio of medians.
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
    log_info_to,
    ms,
    percentile,
    spread_text,
    statistic,
    structlog_kept,
)
from kbcore import KnowledgeBase
from kbcore._auto_sync import AutoSync
from kbcore._domain import ChangeType
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

Call = Callable[[], Awaitable[object]]
_BASELINES = (
    "the document row",
    "the document + changelog rows",
    "every row it writes, passages split beforehand",
    "every row it writes, passages split in the call",
)
#: The baseline of the goal: every row, split beforehand.
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
                times = await _blocks(env, pool)
            figures += _figures(env, times, configured)
        figures.append(await _statement_alone(env, pool))
    return figures


async def _blocks(env: Env, pool: asyncpg.Pool) -> list[list[list[float]]]:
    """Per block, per call (kbcore first, then the baselines in order), its times."""
    kb = KnowledgeBase(PostgresStore(pool))
    org = uuid.uuid4()
    content = corpus.text(1, 150)
    names = itertools.count()
    passages = passage_arrays(split_document("raw.md", content))

    def name() -> str:
        return f"doc-{next(names)}.md"

    async def by_hand() -> None:
        # What a host writing the passages by hand must do too: split the document.
        filename = name()
        split = passage_arrays(split_document(filename, content))
        await pool.execute(_ALL_ROWS, org, filename, content, "general", "{}", "bench", "c", *split)

    calls: list[Call] = [
        lambda: kb.create(org, filename=name(), content=content, actor="bench"),
        lambda: pool.execute(_ONE_ROW, org, name(), content, "general", "{}"),
        lambda: pool.execute(_TWO_ROWS, org, name(), content, "general", "{}", "bench", "c"),
        lambda: pool.execute(
            _ALL_ROWS, org, name(), content, "general", "{}", "bench", "c", *passages
        ),
        by_hand,
    ]
    for call in calls * 5:  # warm up every statement's preparation
        await call()
    blocks = []
    for _ in range(env.sizes.create_blocks):
        samples: list[list[float]] = [[] for _ in calls]
        for i in range(env.sizes.creates):
            # A different order each round, so that no call always follows another.
            shift = i % len(calls)
            for index in [*range(shift, len(calls)), *range(shift)]:
                started = time.perf_counter()
                await calls[index]()
                samples[index].append(time.perf_counter() - started)
        blocks.append(samples)
    return blocks


def _figures(env: Env, blocks: list[list[list[float]]], configured: bool) -> list[Figure]:
    setup = "structlog at INFO, JSON" if configured else "logging unconfigured (default)"
    ours = [percentile(block[0], 0.5) for block in blocks]
    figures = []
    for index, baseline in enumerate(_BASELINES, start=1):
        raw = [percentile(block[index], 0.5) for block in blocks]
        ratios = [o / r for o, r in zip(ours, raw, strict=True)]
        goal = index == _GOAL
        figures.append(
            Figure(
                f"create, {setup}, against a raw INSERT of {baseline} "
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
        change = (None, 1, ChangeType.CREATED.value, "bench", f"Created: {filename}", None)
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
