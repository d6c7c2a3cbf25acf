"""Every write of a document on PostgreSQL: the one place that writes knowledge_base.

A create is one statement (the document, its ``created`` change and its idempotency
key, if it has one), atomic on its own; an update is one statement after the locked
read; an import writes its new documents and their changes by one statement, their
passages by another, and updates many documents by a third, all of parallel arrays.
Whatever must be written in the same transaction as a document belongs here: each write
ends with its documents' passages (``_passages.py``), and a write that would give an org
two active documents of one filename raises ``DuplicateFilename`` (``_filenames.py``).

Nothing travels by COPY. asyncpg's COPY (``copy_records_to_table``) makes the future it
waits on before it checks the connection's protocol state, outside its own error
handling. When the server ends the session while the transaction's connection sits
between two statements (``pg_terminate_backend``, a restart), asyncpg reads the server's
FATAL error, and a COPY begun before the close arrives fails at once: its future is left
behind, the close then fails it, and nobody waits for it. The event loop's exception
handler gets an untyped ``ConnectionDoesNotExistError`` ("Future exception was never
retrieved"), and the future is out of kbcore's reach. A statement fails cleanly there.
Arrays also let each content cross the wire once though it is stored twice (document and
``created`` change), and metadata travel as text, so that a JSON codec the host set on
its pool cannot encode it a second time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import attrs
from asyncpg import Record

from kbcore._auto_sync import AutoSync
from kbcore._domain import (
    KEY_REUSED_MESSAGE,
    Change,
    ChangeDraft,
    ChangeType,
    Creation,
    Document,
    DocumentState,
    IdempotencyKey,
    NewDocument,
    Revision,
)
from kbcore.errors import NotFound, ValidationError
from kbcore.postgres._connection import Db
from kbcore.postgres._filenames import one_active_filename
from kbcore.postgres._passages import (
    Written,
    insert_new_passages,
    new_passages,
    passage_arrays,
    passage_rows,
    write_passages,
)
from kbcore.postgres._reads import (
    DOCUMENT_COLUMNS,
    GET,
    HISTORY,
    change_from_row,
    document_from_row,
    metadata_from_text,
)
from kbcore.postgres._requests import mark_arguments, mark_cte, mark_orgs
from kbcore.retrieval import split_document

_CHANGE_COLUMNS = """
    knowledge_base_id, org_id, version_from, version_to, change_type, changed_by,
    change_summary, previous_content, new_content
"""

# The ``created`` change of the document that a create's ``d`` inserted (who made it and
# its summary, $6 and $7; the rest of a ``created`` change is fixed, and its new content is
# the document's, which crosses the wire once), its passages ($8 to $10), and what the
# server made of that document (its id, times, and metadata as jsonb keeps it): how both
# creates below end. The rest is what the create sent, not sent back.
_CREATED = f"""
c AS (
    INSERT INTO knowledge_base_changelog ({_CHANGE_COLUMNS})
    SELECT d.id, d.org_id, NULL, 1, 'created', $6::text, $7::text, NULL, d.content
    FROM d
), {new_passages(8)}
SELECT d.id, d.metadata, d.created_at, d.updated_at FROM d
"""  # noqa: S608

_INSERT_DOCUMENT = f"""
WITH d AS (
    INSERT INTO knowledge_base
        (org_id, filename, content, category, version, active, metadata, created_at, updated_at)
    VALUES ($1, $2, $3, $4, 1, true, $5::text::jsonb, now(), now())
    RETURNING {DOCUMENT_COLUMNS}
),"""  # noqa: S608

INSERT_QUERY = f"{_INSERT_DOCUMENT} {_CREATED}"
# With auto-sync, the create marks its org in the same statement ($11 to $14).
INSERT_MARKED = f"{_INSERT_DOCUMENT} {mark_cte(11)}, {_CREATED}"

# As INSERT_QUERY, when the create has an idempotency key: the key is claimed first, and
# only a key new to the org lets the document through. Another create holding the same
# key makes this one wait for its end; then the statement writes nothing and returns no row.
_KEYED_DOCUMENT = f"""
WITH k AS (
    INSERT INTO kb_idempotency_keys (org_id, key, document_id, fingerprint)
    VALUES ($1, $11, gen_random_uuid(), $12)
    ON CONFLICT (org_id, key) DO NOTHING
    RETURNING document_id
), d AS (
    INSERT INTO knowledge_base
        (id, org_id, filename, content, category, version, active, metadata, created_at,
         updated_at)
    SELECT k.document_id, $1, $2, $3, $4, 1, true, $5::text::jsonb, now(), now()
    FROM k
    RETURNING {DOCUMENT_COLUMNS}
),"""  # noqa: S608

_INSERT_KEYED = f"{_KEYED_DOCUMENT} {_CREATED}"
# With auto-sync, as INSERT_MARKED: the mark's parameters follow the key's ($13 to $16).
_INSERT_KEYED_MARKED = f"{_KEYED_DOCUMENT} {mark_cte(13)}, {_CREATED}"

# The document a key created, as it is now, and the fingerprint the key came with.
_KEYED = f"""
SELECT d.*, k.fingerprint
FROM kb_idempotency_keys AS k,
     LATERAL (SELECT {DOCUMENT_COLUMNS} FROM knowledge_base WHERE id = k.document_id) AS d
WHERE k.org_id = $1 AND k.key = $2
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

# The new documents arrive as parallel arrays, each content once though it is stored twice
# (document and ``created`` change). A document imported deleted (deleted_summary set)
# gets its ``deleted`` row after ``created``.
_INSERT_MANY = """
WITH staged AS (
    SELECT *
    FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::text[], $10::text[])
        AS s(id, filename, content, category, metadata, changed_by, change_summary,
             deleted_by, deleted_summary)
), d AS (
    INSERT INTO knowledge_base
        (id, org_id, filename, content, category, version, active, metadata, created_at, updated_at)
    SELECT id, $1, filename, content, category, 1, deleted_summary IS NULL, metadata::jsonb,
           now(), now()
    FROM staged
)
INSERT INTO knowledge_base_changelog
    (knowledge_base_id, org_id, version_from, version_to, change_type, changed_by,
     change_summary, previous_content, new_content, created_at)
SELECT id, $1, NULL::integer, 1, 'created', changed_by, change_summary, NULL, content, now()
FROM staged
UNION ALL
SELECT id, $1, NULL, NULL, 'deleted', deleted_by, deleted_summary, NULL, NULL, now()
FROM staged
WHERE deleted_summary IS NOT NULL
"""

_LOCK_NAMED = f"""
SELECT {DOCUMENT_COLUMNS} FROM knowledge_base
WHERE org_id = $1 AND active AND filename = ANY($2::text[])
ORDER BY created_at, id
FOR UPDATE
"""  # noqa: S608

_LOCK_NAMED_ANY = f"""
SELECT {DOCUMENT_COLUMNS} FROM knowledge_base
WHERE org_id = $1 AND filename = ANY($2::text[])
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


_LOCK = f"{GET} FOR UPDATE"


@attrs.define
class PostgresWrites:
    """The document writes of a unit of work (``create`` also runs on its own).

    ``db`` runs the statements: a transaction's connection, or for a create the pool.
    With ``auto_sync``, each write marks its org as needing a sync: a create in its own
    statement, a unit of work by ``mark_edited_orgs`` as its last statement.
    """

    _db: Db
    _auto_sync: AutoSync | None = None
    _edited: set[UUID] = attrs.Factory(set)
    #: A create's mark arguments, worked out once: a store's creates share this object.
    _marks: tuple[object, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        self._marks = () if self._auto_sync is None else mark_arguments(self._auto_sync)

    async def create(
        self, draft: NewDocument, change: ChangeDraft, *, key: IdempotencyKey | None = None
    ) -> Document:
        # The statement writes the fixed fields of a ``created`` change itself, and the
        # document's content as the change's new content.
        assert _is_creation(change, draft)
        arguments = (
            draft.org_id,
            draft.filename,
            draft.content,
            draft.category,
            _metadata_text(draft.metadata),
            change.changed_by,
            change.summary,
            *passage_arrays(split_document(draft.filename, draft.content)),
        )
        marks = self._marks
        if key is None:
            query = INSERT_QUERY if self._auto_sync is None else INSERT_MARKED
            row = await one_active_filename(self._db.fetchrow(query, *arguments, *marks))
            assert row is not None  # INSERT ... RETURNING always returns the row
            return _created(draft, row)
        keyed = _INSERT_KEYED if self._auto_sync is None else _INSERT_KEYED_MARKED
        while True:
            # A clash of filenames fails the whole statement: the key stays free.
            row = await one_active_filename(
                self._db.fetchrow(keyed, *arguments, key.key, key.fingerprint, *marks)
            )
            if row is not None:
                return _created(draft, row)
            # The key was taken: by the first try of this very create, or by another request.
            taken = await self._db.fetchrow(_KEYED, draft.org_id, key.key)
            if taken is None:
                continue  # its document was deleted outright meanwhile, and the key with it
            if taken["fingerprint"] != key.fingerprint:
                raise ValidationError("idempotency_key", KEY_REUSED_MESSAGE)
            return document_from_row(taken[:-1])

    async def lock(self, org_id: UUID, document_id: UUID) -> Document | None:
        row = await self._db.fetchrow(_LOCK, org_id, document_id)
        return None if row is None else document_from_row(row)

    async def lock_named(
        self, org_id: UUID, filenames: Sequence[str], *, include_inactive: bool = False
    ) -> Sequence[Document]:
        query = _LOCK_NAMED_ANY if include_inactive else _LOCK_NAMED
        rows = await self._db.fetch(query, org_id, list(filenames))
        return [document_from_row(row) for row in rows]

    async def history(self, org_id: UUID, document_id: UUID) -> Sequence[Change]:
        return [change_from_row(row) for row in await self._db.fetch(HISTORY, org_id, document_id)]

    async def update(
        self,
        org_id: UUID,
        document_id: UUID,
        state: DocumentState,
        changes: Sequence[ChangeDraft],
    ) -> Document:
        write = self._db.fetchrow(
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
        row = await one_active_filename(write)
        if row is None:
            raise NotFound(f"Document {document_id} not found")
        document = document_from_row(row)
        await write_passages(self._db, [_written(document)])
        self._edited.add(org_id)
        return document

    async def insert_many(self, org_id: UUID, creations: Sequence[Creation]) -> None:
        if not creations:
            return
        # Splitting into passages is Python's work and the insert is the server's: the split
        # runs in a worker thread meanwhile. A document imported deleted gets no passages.
        new = [
            Written(c.id, org_id, c.document.filename, c.document.content, True)
            for c in creations
            if c.deletion is None
        ]
        splitting = asyncio.get_running_loop().run_in_executor(None, passage_rows, new)
        deletions = [creation.deletion for creation in creations]
        await one_active_filename(
            self._db.execute(
                _INSERT_MANY,
                org_id,
                [creation.id for creation in creations],
                [creation.document.filename for creation in creations],
                [creation.document.content for creation in creations],
                [creation.document.category for creation in creations],
                [_metadata_text(creation.document.metadata) for creation in creations],
                [creation.change.changed_by for creation in creations],
                [creation.change.summary for creation in creations],
                [None if deletion is None else deletion.changed_by for deletion in deletions],
                [None if deletion is None else deletion.summary for deletion in deletions],
            )
        )
        await insert_new_passages(self._db, await splitting)
        self._edited.add(org_id)

    async def update_many(self, org_id: UUID, revisions: Sequence[Revision]) -> None:
        if not revisions:
            return
        changes = [(r.document_id, c) for r in revisions for c in r.changes]
        write = self._db.execute(
            _UPDATE_MANY,
            org_id,
            [r.document_id for r in revisions],
            [r.state.filename for r in revisions],
            [r.state.content for r in revisions],
            [r.state.category for r in revisions],
            [r.state.version for r in revisions],
            [r.state.active for r in revisions],
            [_metadata_text(r.metadata) for r in revisions],
            [document_id for document_id, _ in changes],
            [c.version_from for _, c in changes],
            [c.version_to for _, c in changes],
            [str(c.change_type) for _, c in changes],
            [c.changed_by for _, c in changes],
            [c.summary for _, c in changes],
            [c.previous_content for _, c in changes],
            [c.new_content for _, c in changes],
        )
        await one_active_filename(write)
        self._edited.add(org_id)
        await write_passages(
            self._db,
            (
                Written(r.document_id, org_id, r.state.filename, r.state.content, r.state.active)
                for r in revisions
            ),
        )

    async def mark_edited_orgs(self) -> None:
        """Mark the orgs this unit of work edited; its last statement, so that the
        request rows are locked for the shortest time and always after the documents."""
        if self._auto_sync is not None and self._edited:
            await mark_orgs(self._db, sorted(self._edited), self._auto_sync)
        self._edited.clear()


def _created(draft: NewDocument, row: Record) -> Document:
    """The document a create stored: what it sent, and the id and times the server gave."""
    id_, metadata, created_at, updated_at = row
    return Document(
        id=id_,
        org_id=draft.org_id,
        filename=draft.filename,
        content=draft.content,
        category=draft.category,
        version=1,
        active=True,
        metadata=metadata_from_text(metadata),
        created_at=created_at,
        updated_at=updated_at,
    )


def _is_creation(change: ChangeDraft, draft: NewDocument) -> bool:
    """Whether ``change`` is the ``created`` change of ``draft``, as a create writes it."""
    return (
        change.change_type is ChangeType.CREATED
        and change.version_from is None
        and change.version_to == 1
        and change.previous_content is None
        and (change.new_content is draft.content or change.new_content == draft.content)
    )


def _written(document: Document) -> Written:
    return Written(
        document.id, document.org_id, document.filename, document.content, document.active
    )


def _metadata_text(metadata: Mapping[str, Any]) -> str:
    """Metadata as the statements send it: JSON text (most documents have none)."""
    return json.dumps(dict(metadata)) if metadata else "{}"
