"""A document's history in the order of its writes, however its writers queued."""

from __future__ import annotations

from itertools import pairwise
from uuid import UUID

import anyio
import asyncpg
import pytest

from kbcore import KnowledgeBase
from kbcore.postgres import PostgresStore

pytestmark = pytest.mark.anyio

WRITERS = 6
UPDATES = 100


async def test_history_is_in_write_order_after_concurrent_updates(
    kbcore_database_dsn: str, org: UUID
) -> None:
    """Six updaters queue on one row: history() still reads as one unbroken chain.

    Each writer's changelog rows get the ``now()`` of its transaction's start, and
    writers take the row lock in another order than they started; only the order of
    writes (seq) makes every change start from the content the one before it left.
    """
    async with asyncpg.create_pool(kbcore_database_dsn, min_size=WRITERS, max_size=WRITERS) as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        doc = await kb.create(org, filename="a.md", content="start")

        async def updater(writer: int) -> None:
            for update in range(UPDATES):
                await kb.update(org, doc.id, content=f"{writer}-{update}")

        async with anyio.create_task_group() as tasks:
            for writer in range(WRITERS):
                tasks.start_soon(updater, writer)
        history = await kb.history(org, doc.id)
        current = await kb.get(org, doc.id)
    assert len(history) == 1 + WRITERS * UPDATES
    assert [change.version_to for change in history] == list(range(1, len(history) + 1))
    broken = [
        (before.version_to, after.version_to)
        for before, after in pairwise(history)
        if after.previous_content != before.new_content
    ]
    assert broken == []
    assert history[-1].new_content == current.content
