"""Imports and exports: many documents per statement, COPY for new ones, a cursor out.

New documents are copied (binary COPY) into a temporary table and moved from there
into ``knowledge_base`` and its changelog by one statement. Staging costs the server
one extra write of rows that are never WAL-logged, and buys three things: each
content crosses the wire once though it is stored twice (document and ``created``
change), the timestamps are the transaction's ``now()`` like every other write's,
and metadata travels as text, so a JSON codec the host set on its pool cannot
encode it a second time (COPY would encode straight into the ``jsonb`` column).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from uuid import UUID

import attrs

from kbcore._domain import Creation, Document, Revision
from kbcore.postgres._connection import Db, unavailable_on_failure
from kbcore.postgres._reads import DOCUMENT_COLUMNS, document_from_row

#: Rows a stream fetches at a time: a few MB at most with 300 kB documents.
STREAM_PREFETCH = 50

# ON COMMIT DROP: nothing is left behind on the host's pooled connection.
_STAGE = """
CREATE TEMP TABLE kbcore_import (
    id uuid NOT NULL,
    filename text NOT NULL,
    content text NOT NULL,
    category text NOT NULL,
    metadata text NOT NULL,
    changed_by text,
    change_summary text
) ON COMMIT DROP
"""

_STAGED_COLUMNS = [
    "id",
    "filename",
    "content",
    "category",
    "metadata",
    "changed_by",
    "change_summary",
]

# DELETE ... RETURNING empties the staging table for the transaction's next batch.
_MOVE_STAGED = """
WITH staged AS (
    DELETE FROM pg_temp.kbcore_import RETURNING *
), d AS (
    INSERT INTO knowledge_base
        (id, org_id, filename, content, category, version, active, metadata, created_at, updated_at)
    SELECT id, $1, filename, content, category, 1, true, metadata::jsonb, now(), now()
    FROM staged
)
INSERT INTO knowledge_base_changelog
    (knowledge_base_id, org_id, version_from, version_to, change_type, changed_by,
     change_summary, previous_content, new_content, created_at)
SELECT id, $1, NULL, 1, 'created', changed_by, change_summary, NULL, content, now()
FROM staged
"""

_ACTIVE_NAMED = f"""
SELECT {DOCUMENT_COLUMNS} FROM knowledge_base
WHERE org_id = $1 AND active AND filename = ANY($2::text[])
ORDER BY created_at, id
FOR UPDATE
"""  # noqa: S608

# The revisions and their changes arrive as parallel arrays; a change names its document.
_UPDATE_MANY = """
WITH d AS (
    UPDATE knowledge_base AS k
    SET filename = v.filename, content = v.content, category = v.category,
        version = v.version, active = v.active, metadata = v.metadata::jsonb
    FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::boolean[],
                $8::text[]) AS v(id, filename, content, category, version, active, metadata)
    WHERE k.org_id = $1 AND k.id = v.id
)
INSERT INTO knowledge_base_changelog
    (knowledge_base_id, org_id, version_from, version_to, change_type, changed_by,
     change_summary, previous_content, new_content)
SELECT ch.document_id, $1, ch.version_from, ch.version_to, ch.change_type, ch.changed_by,
       ch.change_summary, ch.previous_content, ch.new_content
FROM unnest($9::uuid[], $10::integer[], $11::integer[], $12::text[], $13::text[], $14::text[],
            $15::text[], $16::text[]) WITH ORDINALITY AS ch(
    document_id, version_from, version_to, change_type, changed_by, change_summary,
    previous_content, new_content, position
)
ORDER BY ch.position
"""

# Each filter is its own statement text, so the planner can use the partial index on active.
_STREAM = f"SELECT {DOCUMENT_COLUMNS} FROM knowledge_base WHERE org_id = $1 ORDER BY created_at, id"  # noqa: S608
_STREAM_ACTIVE = f"""
SELECT {DOCUMENT_COLUMNS} FROM knowledge_base WHERE org_id = $1 AND active
ORDER BY created_at, id
"""  # noqa: S608


@attrs.define
class PostgresBatches:
    """The bulk repository of one transaction."""

    _db: Db
    _staging: bool = False

    async def active_named(self, org_id: UUID, filenames: Sequence[str]) -> Sequence[Document]:
        rows = await self._db.fetch(_ACTIVE_NAMED, org_id, list(filenames))
        return [document_from_row(row) for row in rows]

    async def insert_many(self, org_id: UUID, creations: Sequence[Creation]) -> None:
        if not creations:
            return
        if not self._staging:
            await self._db.execute(_STAGE)
            self._staging = True
        records = [
            (
                creation.id,
                creation.document.filename,
                creation.document.content,
                creation.document.category,
                json.dumps(dict(creation.document.metadata)),
                creation.change.changed_by,
                creation.change.summary,
            )
            for creation in creations
        ]
        with unavailable_on_failure(self._db.conn, "copying documents"):
            await self._db.conn.copy_records_to_table(
                "kbcore_import", records=records, columns=_STAGED_COLUMNS
            )
        await self._db.execute(_MOVE_STAGED, org_id)

    async def update_many(self, org_id: UUID, revisions: Sequence[Revision]) -> None:
        if not revisions:
            return
        changes = [(r.document_id, c) for r in revisions for c in r.changes]
        await self._db.execute(
            _UPDATE_MANY,
            org_id,
            [r.document_id for r in revisions],
            [r.state.filename for r in revisions],
            [r.state.content for r in revisions],
            [r.state.category for r in revisions],
            [r.state.version for r in revisions],
            [r.state.active for r in revisions],
            [json.dumps(dict(r.metadata)) for r in revisions],
            [document_id for document_id, _ in changes],
            [c.version_from for _, c in changes],
            [c.version_to for _, c in changes],
            [str(c.change_type) for _, c in changes],
            [c.changed_by for _, c in changes],
            [c.summary for _, c in changes],
            [c.previous_content for _, c in changes],
            [c.new_content for _, c in changes],
        )

    async def stream(self, org_id: UUID, *, include_inactive: bool) -> AsyncIterator[Document]:
        # A server-side cursor: rows come a few at a time, all from the statement's snapshot.
        query = _STREAM if include_inactive else _STREAM_ACTIVE
        with unavailable_on_failure(self._db.conn, "opening a cursor"):
            cursor = await self._db.conn.cursor(query, org_id)
        while True:
            with unavailable_on_failure(self._db.conn, "reading a cursor"):
                rows = await cursor.fetch(STREAM_PREFETCH)
            if not rows:
                return
            for row in rows:
                yield document_from_row(row)
