"""An export on PostgreSQL reads in batches sized by bytes: many small documents, few large."""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg
import attrs
import pytest

from kbcore import DocumentDraft, KnowledgeBase
from kbcore.postgres import PostgresStore
from kbcore.postgres._export import ByteBatches, export_documents

pytestmark = pytest.mark.anyio


def test_small_documents_share_a_batch_and_large_ones_stand_alone() -> None:
    """Ids group while their sizes fit the budget; a document over it is a batch of its own."""
    batches = ByteBatches(budget=1_000, rows=100)
    ids = [uuid.uuid4() for _ in range(8)]
    sizes = [100, 100, 100, 5_000, 100, 950, 40, 10]
    closed = [batch for i, size in zip(ids, sizes, strict=True) if (batch := batches.add(i, size))]
    closed.append(batches.rest())
    assert closed == [ids[:3], [ids[3]], [ids[4]], ids[5:]]


def test_a_batch_holds_at_most_its_rows() -> None:
    """However small the documents, a batch stops at ``rows`` ids."""
    batches = ByteBatches(budget=1_000_000, rows=3)
    closed = [batch for i in range(7) if (batch := batches.add(uuid.uuid4(), 1))]
    assert [len(batch) for batch in [*closed, batches.rest()]] == [3, 3, 1]


@attrs.define
class _Recording(ByteBatches):
    """ByteBatches that remembers the size of every batch it closed."""

    closed: list[int] = attrs.Factory(list)

    def add(self, document_id: UUID, size: int) -> list[UUID] | None:
        full = super().add(document_id, size)
        if full:
            self.closed.append(len(full))
        return full


async def test_export_fetches_small_documents_by_the_hundred_and_large_ones_by_few(
    kbcore_pool: asyncpg.Pool,
) -> None:
    """200 small documents then 6 of 40 kB, under a 100 kB budget: 3 large ones a batch."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    org = uuid.uuid4()
    small = [DocumentDraft(f"s{i:03d}.md", f"note {i}") for i in range(200)]
    large = [DocumentDraft(f"l{i}.md", "x" * 40_000) for i in range(6)]
    await kb.import_documents(org, small)
    await kb.import_documents(org, large)
    batches = _Recording(budget=100_000, rows=500)
    exported = [
        d.filename
        async for d in export_documents(kbcore_pool, org, include_inactive=False, batches=batches)
    ]
    # Oldest first: each import's documents share its transaction's time, then go by id.
    assert sorted(exported[:200]) == [d.filename for d in small]
    assert sorted(exported[200:]) == [d.filename for d in large]
    # The small ones and the first two large ones fill the first batch; then 2, then 2.
    assert batches.closed == [202, 2]
