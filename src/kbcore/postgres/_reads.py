"""Documents and their changelog, each write in one statement."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
import attrs

from kbcore._domain import Change, ChangeDraft, Document, DocumentState, NewDocument, PageKey
from kbcore.errors import NotFound
from kbcore.postgres._connection import Db

# The f-strings below splice in these constant column lists only; every value is a
# $n parameter (hence the S608 waivers).
#
# metadata travels as text both ways, so a JSON codec the host set on its pool
# cannot encode or decode it a second time.
DOCUMENT_COLUMNS = """
    id, org_id, filename, content, category, version, active,
    metadata::text AS metadata, created_at, updated_at
"""

_CHANGE_COLUMNS = """
    knowledge_base_id, org_id, version_from, version_to, change_type, changed_by,
    change_summary, previous_content, new_content
"""

INSERT_QUERY = f"""
WITH d AS (
    INSERT INTO knowledge_base
        (org_id, filename, content, category, version, active, metadata, created_at, updated_at)
    VALUES ($1, $2, $3, $4, 1, true, $5::text::jsonb, now(), now())
    RETURNING {DOCUMENT_COLUMNS}
), c AS (
    INSERT INTO knowledge_base_changelog ({_CHANGE_COLUMNS})
    SELECT d.id, d.org_id, $6::integer, $7::integer, $8::text, $9::text, $10::text, $11::text,
           $12::text
    FROM d
)
SELECT * FROM d
"""  # noqa: S608

# The changes arrive as parallel arrays; WITH ORDINALITY keeps their order in seq.
_UPDATE = f"""
WITH d AS (
    UPDATE knowledge_base
    SET filename = $3, content = $4, category = $5, version = $6, active = $7
    WHERE org_id = $1 AND id = $2
    RETURNING {DOCUMENT_COLUMNS}
), c AS (
    INSERT INTO knowledge_base_changelog ({_CHANGE_COLUMNS})
    SELECT d.id, d.org_id, ch.version_from, ch.version_to, ch.change_type, ch.changed_by,
           ch.change_summary, ch.previous_content, ch.new_content
    FROM d CROSS JOIN unnest(
        $8::integer[], $9::integer[], $10::text[], $11::text[], $12::text[], $13::text[],
        $14::text[]
    ) WITH ORDINALITY AS ch(
        version_from, version_to, change_type, changed_by, change_summary, previous_content,
        new_content, position
    )
    ORDER BY ch.position
)
SELECT * FROM d
"""  # noqa: S608

_GET = f"SELECT {DOCUMENT_COLUMNS} FROM knowledge_base WHERE org_id = $1 AND id = $2"  # noqa: S608

_HISTORY = """
SELECT id, knowledge_base_id, org_id, change_type, version_from, version_to, changed_by,
       change_summary, previous_content, new_content, created_at
FROM knowledge_base_changelog
WHERE org_id = $1 AND knowledge_base_id = $2
ORDER BY created_at, seq
"""


def page_query(
    org_id: UUID,
    *,
    category: str | None,
    include_inactive: bool,
    limit: int,
    after: PageKey | None,
    columns: str = DOCUMENT_COLUMNS,
) -> tuple[str, list[object]]:
    """The listing query for one combination of filters, and its arguments.

    Each combination is its own statement text (values stay parameters) so that the
    planner can match the partial indexes on ``active``.
    """
    args: list[object] = [org_id]

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["org_id = $1"]
    if not include_inactive:
        where.append("active")
    if category is not None:
        where.append(f"category = {param(category)}")
    if after is not None:
        where.append(f"(created_at, id) < ({param(after.created_at)}, {param(after.id)})")
    query = (
        f"SELECT {columns} FROM knowledge_base WHERE {' AND '.join(where)} "  # noqa: S608
        f"ORDER BY created_at DESC, id DESC LIMIT {param(limit)}"
    )
    return query, args


def document_from_row(row: asyncpg.Record) -> Document:
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


def metadata_from_text(text: str | None) -> dict[str, Any]:
    """Stored metadata; nearly always "{}", which needs no JSON parser."""
    # A host's legacy rows may hold NULL; kbcore never writes one.
    if text is None or text == "{}":
        return {}
    value: dict[str, Any] = json.loads(text)
    return value


def _change_from_row(row: asyncpg.Record) -> Change:
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


@attrs.frozen
class PostgresDocuments:
    _db: Db

    async def insert(self, draft: NewDocument, change: ChangeDraft) -> Document:
        row = await self._db.fetchrow(
            INSERT_QUERY,
            draft.org_id,
            draft.filename,
            draft.content,
            draft.category,
            json.dumps(dict(draft.metadata)),
            change.version_from,
            change.version_to,
            str(change.change_type),
            change.changed_by,
            change.summary,
            change.previous_content,
            change.new_content,
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        return document_from_row(row)

    async def get(
        self, org_id: UUID, document_id: UUID, *, for_update: bool = False
    ) -> Document | None:
        query = f"{_GET} FOR UPDATE" if for_update else _GET
        row = await self._db.fetchrow(query, org_id, document_id)
        return None if row is None else document_from_row(row)

    async def update(
        self,
        org_id: UUID,
        document_id: UUID,
        state: DocumentState,
        changes: Sequence[ChangeDraft],
    ) -> Document:
        row = await self._db.fetchrow(
            _UPDATE,
            org_id,
            document_id,
            state.filename,
            state.content,
            state.category,
            state.version,
            state.active,
            [c.version_from for c in changes],
            [c.version_to for c in changes],
            [str(c.change_type) for c in changes],
            [c.changed_by for c in changes],
            [c.summary for c in changes],
            [c.previous_content for c in changes],
            [c.new_content for c in changes],
        )
        if row is None:
            raise NotFound(f"Document {document_id} not found")
        return document_from_row(row)

    async def page(
        self,
        org_id: UUID,
        *,
        category: str | None,
        include_inactive: bool,
        limit: int,
        after: PageKey | None,
    ) -> Sequence[Document]:
        query, args = page_query(
            org_id, category=category, include_inactive=include_inactive, limit=limit, after=after
        )
        rows = await self._db.fetch(query, *args)
        return [document_from_row(row) for row in rows]


@attrs.frozen
class PostgresChanges:
    _db: Db

    async def for_document(self, org_id: UUID, document_id: UUID) -> Sequence[Change]:
        rows = await self._db.fetch(_HISTORY, org_id, document_id)
        return [_change_from_row(row) for row in rows]
