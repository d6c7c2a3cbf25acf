"""The document reads on PostgreSQL: each one statement, outside any transaction.

Each sees what was committed when it ran, as every statement of a READ COMMITTED
transaction does, and locks nothing; without BEGIN and COMMIT it takes two round
trips fewer. Only ``export`` opens a transaction, to read one snapshot (``_export.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from kbcore._domain import (
    Change,
    Document,
    DocumentSummary,
    PageRequest,
    SearchHit,
)
from kbcore.postgres._connection import Db
from kbcore.postgres._search import SEARCH_QUERY, hit_from_row

# The f-strings below splice in these constant column lists only; every value is a
# $n parameter (hence the S608 waivers).
#
# metadata travels as text both ways, so a JSON codec the host set on its pool
# cannot encode or decode it a second time.
DOCUMENT_COLUMNS = """
    id, org_id, filename, content, category, version, active,
    metadata::text AS metadata, created_at, updated_at
"""

# octet_length reads the stored size of a TOASTed value without fetching the value.
SUMMARY_COLUMNS = """
    id, org_id, filename, category, version, active, octet_length(content) AS size_bytes,
    metadata::text AS metadata, created_at, updated_at
"""

GET = f"SELECT {DOCUMENT_COLUMNS} FROM knowledge_base WHERE org_id = $1 AND id = $2"  # noqa: S608

HISTORY = """
SELECT id, knowledge_base_id, org_id, change_type, version_from, version_to, changed_by,
       change_summary, previous_content, new_content, created_at
FROM knowledge_base_changelog
WHERE org_id = $1 AND knowledge_base_id = $2
ORDER BY seq
"""


class PostgresReads:
    """The reads of ``Documents``, for ``PostgresStore``: statements on the pool."""

    __slots__ = ()
    _pool: asyncpg.Pool
    #: Runs each statement on a pooled connection of its own.
    _read: Db

    async def get(self, org_id: UUID, document_id: UUID) -> Document | None:
        row = await self._read.fetchrow(GET, org_id, document_id)
        return None if row is None else document_from_row(row)

    async def page(self, request: PageRequest) -> Sequence[Document]:
        query, args = page_query(request)
        return [document_from_row(row) for row in await self._read.fetch(query, *args)]

    async def summaries(self, request: PageRequest) -> Sequence[DocumentSummary]:
        query, args = page_query(request, columns=SUMMARY_COLUMNS)
        return [summary_from_row(row) for row in await self._read.fetch(query, *args)]

    async def search(
        self, org_id: UUID, query: str, *, category: str | None, limit: int
    ) -> Sequence[SearchHit]:
        rows = await self._read.fetch(SEARCH_QUERY, org_id, query, limit, category)
        return [hit_from_row(row) for row in rows]

    async def history(self, org_id: UUID, document_id: UUID) -> Sequence[Change]:
        return [
            change_from_row(row) for row in await self._read.fetch(HISTORY, org_id, document_id)
        ]


def page_query(
    request: PageRequest, *, columns: str = DOCUMENT_COLUMNS
) -> tuple[str, list[object]]:
    """The listing query for one combination of filters, and its arguments.

    Each combination is its own statement text (values stay parameters) so that the
    planner can match the partial indexes on ``active``.
    """
    args: list[object] = [request.org_id]

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["org_id = $1"]
    if not request.include_inactive:
        where.append("active")
    if request.category is not None:
        where.append(f"category = {param(request.category)}")
    if (after := request.after) is not None:
        where.append(f"(created_at, id) < ({param(after.created_at)}, {param(after.id)})")
    query = (
        f"SELECT {columns} FROM knowledge_base WHERE {' AND '.join(where)} "  # noqa: S608
        f"ORDER BY created_at DESC, id DESC LIMIT {param(request.limit)}"
    )
    return query, args


def document_from_row(row: Iterable[Any]) -> Document:
    """A row of ``DOCUMENT_COLUMNS``, unpacked by position (a listing converts many)."""
    id_, org_id, filename, content, category, version, active, metadata, created, updated = row
    return Document(
        id=id_,
        org_id=org_id,
        filename=filename,
        content=content,
        category=category,
        version=version,
        active=active,
        metadata=metadata_from_text(metadata),
        created_at=created,
        updated_at=updated,
    )


def summary_from_row(row: asyncpg.Record) -> DocumentSummary:
    """A row of ``SUMMARY_COLUMNS``, unpacked by position as ``document_from_row`` does."""
    id_, org_id, filename, category, version, active, size, metadata, created, updated = row
    return DocumentSummary(
        id=id_,
        org_id=org_id,
        filename=filename,
        category=category,
        version=version,
        active=active,
        size_bytes=size,
        metadata=metadata_from_text(metadata),
        created_at=created,
        updated_at=updated,
    )


def metadata_from_text(text: str | None) -> dict[str, Any]:
    """Stored metadata; nearly always "{}", which needs no JSON parser."""
    # A host's legacy rows may hold NULL; kbcore never writes one.
    if text is None or text == "{}":
        return {}
    value: dict[str, Any] = json.loads(text)
    return value


def change_from_row(row: asyncpg.Record) -> Change:
    return Change(
        id=row["id"],
        document_id=row["knowledge_base_id"],
        org_id=row["org_id"],
        change_type=row["change_type"],
        version_from=row["version_from"],
        version_to=row["version_to"],
        changed_by=row["changed_by"],
        summary=row["change_summary"],
        previous_content=row["previous_content"],
        new_content=row["new_content"],
        created_at=row["created_at"],
    )
