"""Every write of a document in memory: the one place that writes the documents table.

Each write, one document or many, ends in ``_put``, which stores the document's new
row, its changelog rows and its passages at one instant, as one statement of
postgres/_writes.py does; whatever must be written with a document belongs there.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from kbcore._auto_sync import AutoSync
from kbcore._domain import (
    KEY_REUSED_MESSAGE,
    Change,
    ChangeDraft,
    Creation,
    Document,
    DocumentState,
    IdempotencyKey,
    NewDocument,
    Revision,
)
from kbcore.errors import DuplicateFilename, NotFound, ValidationError
from kbcore.memory._passages import passages_of
from kbcore.memory._reads import document, history, named
from kbcore.memory._requests import mark
from kbcore.memory._tables import Clock, Tables


@attrs.frozen
class MemoryWrites:
    """The document writes of a unit of work, on its own copy of the tables."""

    _tables: Tables
    _clock: Clock
    #: With auto-sync, each write marks its org as needing a sync, with the write.
    _auto_sync: AutoSync | None = None

    async def create(
        self, draft: NewDocument, change: ChangeDraft, *, key: IdempotencyKey | None = None
    ) -> Document:
        if key is not None and (taken := self._tables.keys.get((draft.org_id, key.key))):
            document_id, fingerprint = taken
            if fingerprint != key.fingerprint:
                raise ValidationError("idempotency_key", KEY_REUSED_MESSAGE)
            return self._tables.documents[document_id]
        created = self._add(uuid.uuid4(), draft, change, self._clock.now())
        self._mark(draft.org_id, created.created_at)
        if key is not None:
            self._tables.keys[draft.org_id, key.key] = (created.id, key.fingerprint)
        return created

    async def lock(self, org_id: UUID, document_id: UUID) -> Document | None:
        # Units of work run one at a time: reading is locking.
        return document(self._tables, org_id, document_id)

    async def lock_named(
        self, org_id: UUID, filenames: Sequence[str], *, include_inactive: bool = False
    ) -> Sequence[Document]:
        return named(self._tables, org_id, filenames, include_inactive=include_inactive)

    async def history(self, org_id: UUID, document_id: UUID) -> Sequence[Change]:
        return history(self._tables, org_id, document_id)

    async def update(
        self,
        org_id: UUID,
        document_id: UUID,
        state: DocumentState,
        changes: Sequence[ChangeDraft],
    ) -> Document:
        now = self._clock.now()
        revised = self._revise(org_id, document_id, state, changes, now=now)
        self._mark(org_id, now)
        return revised

    async def insert_many(self, org_id: UUID, creations: Sequence[Creation]) -> None:
        # One instant for the whole batch, as a transaction's now() in PostgreSQL.
        now = self._clock.now()
        for creation in creations:
            self._add(creation.id, creation.document, creation.change, now, creation.deletion)
        if creations:
            self._mark(org_id, now)

    async def update_many(self, org_id: UUID, revisions: Sequence[Revision]) -> None:
        now = self._clock.now()
        for revision in revisions:
            self._revise(
                org_id,
                revision.document_id,
                revision.state,
                revision.changes,
                metadata=revision.metadata,
                now=now,
            )
        if revisions:
            self._mark(org_id, now)

    def _mark(self, org_id: UUID, now: datetime) -> None:
        if self._auto_sync is not None:
            mark(self._tables, org_id, self._auto_sync, now)

    def _add(
        self,
        document_id: UUID,
        draft: NewDocument,
        change: ChangeDraft,
        now: datetime,
        deletion: ChangeDraft | None = None,
    ) -> Document:
        created = Document(
            id=document_id,
            org_id=draft.org_id,
            filename=draft.filename,
            content=draft.content,
            category=draft.category,
            version=1,
            active=deletion is None,
            metadata=draft.metadata,
            created_at=now,
            updated_at=now,
        )
        return self._put(created, [change] if deletion is None else [change, deletion], now)

    def _revise(
        self,
        org_id: UUID,
        document_id: UUID,
        state: DocumentState,
        changes: Sequence[ChangeDraft],
        *,
        metadata: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> Document:
        current = document(self._tables, org_id, document_id)
        if current is None:
            raise NotFound(f"Document {document_id} not found")
        revised = attrs.evolve(
            current,
            filename=state.filename,
            content=state.content,
            category=state.category,
            version=state.version,
            active=state.active,
            metadata=current.metadata if metadata is None else metadata,
            updated_at=now,
        )
        return self._put(revised, changes, now)

    def _put(self, written: Document, changes: Sequence[ChangeDraft], now: datetime) -> Document:
        """Store a document's new row, its changelog rows and its passages, all at ``now``.

        A second active document of a filename is refused, as the unique index refuses it.
        """
        names = self._tables.active_names
        name = (written.org_id, written.filename)
        if written.active and names.get(name, written.id) != written.id:
            raise DuplicateFilename(written.filename)
        before = self._tables.documents.get(written.id)
        if before is not None and before.active:
            del names[(before.org_id, before.filename)]
        if written.active:
            names[name] = written.id
        self._tables.documents[written.id] = written
        self._tables.passages[written.id] = passages_of(written)
        self._tables.changes.extend(
            Change(
                id=uuid.uuid4(),
                document_id=written.id,
                org_id=written.org_id,
                change_type=draft.change_type,
                version_from=draft.version_from,
                version_to=draft.version_to,
                changed_by=draft.changed_by,
                summary=draft.summary,
                previous_content=draft.previous_content,
                new_content=draft.new_content,
                created_at=now,
            )
            for draft in changes
        )
        return written
