"""MemoryStore's bulk repository: imports and exports, as PostgresStore does them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import attrs

from kbcore._domain import Creation, Document, Revision

if TYPE_CHECKING:
    from kbcore.memory._store import _Clock, _MemoryDocuments, _Tables


def oldest_first(document: Document) -> tuple[datetime, UUID]:
    return (document.created_at, document.id)


@attrs.define
class MemoryBatches:
    _tables: _Tables
    _clock: _Clock
    _documents: _MemoryDocuments

    async def active_named(self, org_id: UUID, filenames: Sequence[str]) -> Sequence[Document]:
        wanted = set(filenames)
        return sorted(
            (
                document
                for document in self._tables.documents.values()
                if document.org_id == org_id and document.active and document.filename in wanted
            ),
            key=oldest_first,
        )

    async def insert_many(self, org_id: UUID, creations: Sequence[Creation]) -> None:
        # One instant for the whole batch, as a transaction's now() in PostgreSQL.
        now = self._clock.now()
        for creation in creations:
            self._documents.add(creation.id, creation.document, creation.change, now)

    async def update_many(self, org_id: UUID, revisions: Sequence[Revision]) -> None:
        for revision in revisions:
            document = await self._documents.update(
                org_id, revision.document_id, revision.state, revision.changes
            )
            self._tables.documents[document.id] = attrs.evolve(document, metadata=revision.metadata)

    async def stream(self, org_id: UUID, *, include_inactive: bool) -> AsyncIterator[Document]:
        found = [
            document
            for document in self._tables.documents.values()
            if document.org_id == org_id and (include_inactive or document.active)
        ]
        for document in sorted(found, key=oldest_first):
            yield document
