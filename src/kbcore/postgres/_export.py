"""An org's documents streamed out of PostgreSQL in batches sized by bytes, not rows.

A batch of rows is a round trip; what bounds an export's memory is the bytes a batch
holds. So the export first reads the documents' sizes (a cursor over ids and
``octet_length``, which reads a stored value's size without fetching the value), groups
the ids into batches of at most ``EXPORT_BATCH_BYTES`` (or ``EXPORT_BATCH_ROWS``
documents), and fetches each batch by id. Small documents come in thousands per round
trip, 300 kB ones a dozen at a time. Every statement runs in one read-only REPEATABLE
READ transaction, so the sizes and the documents come from one snapshot.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from uuid import UUID

import asyncpg
import attrs

from kbcore._domain import Document
from kbcore.postgres._connection import mapped_failures, transaction
from kbcore.postgres._reads import DOCUMENT_COLUMNS, document_from_row

#: What one batch of an export holds at most (plus one document, when a single one is larger).
EXPORT_BATCH_BYTES = 4 * 1024 * 1024
#: Documents one batch holds at most, however small: each costs some memory as a value.
EXPORT_BATCH_ROWS = 2_000
#: Sizes read from the cursor at a time (an id and a number each).
SIZE_ROWS = 10_000

# A document's size: its content and its stored metadata (pg_column_size: no conversion).
_SIZES = """
SELECT id, octet_length(content) + pg_column_size(metadata) AS size{total}
FROM knowledge_base WHERE org_id = $1{active} ORDER BY created_at, id
"""
# How many rows the snapshot holds: an uncorrelated subquery, computed once (an InitPlan).
_TOTAL = ", (SELECT count(*) FROM knowledge_base WHERE org_id = $1{active}) AS total"

_BATCH = f"""
SELECT {DOCUMENT_COLUMNS} FROM knowledge_base
WHERE org_id = $1 AND id = ANY($2::uuid[])
ORDER BY created_at, id
"""  # noqa: S608


def _sizes_query(*, include_inactive: bool, counted: bool) -> str:
    # Each filter is its own statement text, so the planner can use the partial indexes.
    active = "" if include_inactive else " AND active"
    return _SIZES.format(active=active, total=_TOTAL.format(active=active) if counted else "")


@attrs.define
class ByteBatches:
    """Groups ids, in order, into batches of at most ``budget`` bytes and ``rows`` ids.

    A document larger than the budget is a batch of its own.
    """

    budget: int = EXPORT_BATCH_BYTES
    rows: int = EXPORT_BATCH_ROWS
    _ids: list[UUID] = attrs.Factory(list)
    _bytes: int = 0

    def add(self, document_id: UUID, size: int) -> list[UUID] | None:
        """Take the next id; return the batch it closes, if it closes one."""
        full = None
        if self._ids and (self._bytes + size > self.budget or len(self._ids) >= self.rows):
            full, self._ids, self._bytes = self._ids, [], 0
        self._ids.append(document_id)
        self._bytes += size
        return full

    def rest(self) -> list[UUID]:
        """The last batch (empty when no id came)."""
        rest, self._ids, self._bytes = self._ids, [], 0
        return rest


async def export_documents(
    pool: asyncpg.Pool,
    org_id: UUID,
    *,
    include_inactive: bool,
    on_total: Callable[[int], None] | None = None,
    batches: ByteBatches | None = None,
) -> AsyncGenerator[Document, None]:
    """The org's documents, oldest first, from one snapshot; see the module's docstring."""
    query = _sizes_query(include_inactive=include_inactive, counted=on_total is not None)
    batches = ByteBatches() if batches is None else batches
    async with transaction(pool, snapshot=True) as db:
        with mapped_failures("opening a cursor"):
            cursor = await db.conn.cursor(query, org_id)
        while True:
            with mapped_failures("reading a cursor"):
                sizes = await cursor.fetch(SIZE_ROWS)
            if on_total is not None:
                on_total(sizes[0]["total"] if sizes else 0)
                on_total = None
            full = [batch for row in sizes if (batch := batches.add(row[0], row[1]))]
            if not sizes:
                full.append(batches.rest())
            for ids in full:
                if not ids:
                    continue
                with mapped_failures("reading documents"):
                    rows = await db.conn.fetch(_BATCH, org_id, ids)
                for row in rows:
                    yield document_from_row(row)
            if not sizes:
                return
