"""The document reads in memory: what each PostgreSQL statement of postgres/_reads.py does.

Reads look at the committed tables and take no lock, so they never wait for a
unit of work, as reads at READ COMMITTED never wait in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from datetime import datetime
from uuid import UUID

from kbcore._domain import Change, Document, DocumentSummary, PageRequest, SearchHit
from kbcore.memory._search import search
from kbcore.memory._tables import Tables


class MemoryReads:
    """The reads of ``Documents``, for ``MemoryStore``."""

    __slots__ = ()
    #: The committed rows.
    _tables: Tables

    async def get(self, org_id: UUID, document_id: UUID) -> Document | None:
        return document(self._tables, org_id, document_id)

    async def page(self, request: PageRequest) -> Sequence[Document]:
        return page(self._tables, request)

    async def summaries(self, request: PageRequest) -> Sequence[DocumentSummary]:
        return [summary(document) for document in page(self._tables, request)]

    async def search(
        self, org_id: UUID, query: str, *, category: str | None, limit: int
    ) -> Sequence[SearchHit]:
        return search(self._tables, org_id, query, category=category, limit=limit)

    async def history(self, org_id: UUID, document_id: UUID) -> Sequence[Change]:
        return history(self._tables, org_id, document_id)

    async def export(
        self,
        org_id: UUID,
        *,
        include_inactive: bool,
        on_total: Callable[[int], None] | None = None,
    ) -> AsyncGenerator[Document, None]:
        # The list is the snapshot: later writes replace the tables' values, not these.
        found = [
            document
            for document in self._tables.documents.values()
            if document.org_id == org_id and (include_inactive or document.active)
        ]
        if on_total is not None:
            on_total(len(found))
        for document in sorted(found, key=oldest_first):
            yield document


def document(tables: Tables, org_id: UUID, document_id: UUID) -> Document | None:
    found = tables.documents.get(document_id)
    return found if found is not None and found.org_id == org_id else None


def page(tables: Tables, request: PageRequest) -> list[Document]:
    after = None if request.after is None else (request.after.created_at, request.after.id)

    def wanted(document: Document) -> bool:
        return (
            document.org_id == request.org_id
            and (request.include_inactive or document.active)
            and (request.category is None or document.category == request.category)
            and (after is None or oldest_first(document) < after)
        )

    matching = sorted(filter(wanted, tables.documents.values()), key=oldest_first, reverse=True)
    return matching[: request.limit]


def history(tables: Tables, org_id: UUID, document_id: UUID) -> list[Change]:
    return [
        change
        for change in tables.changes
        if change.org_id == org_id and change.document_id == document_id
    ]


def named(
    tables: Tables, org_id: UUID, filenames: Sequence[str], *, include_inactive: bool = False
) -> list[Document]:
    """The org's active (or all) documents with any of these filenames, oldest first."""
    wanted = set(filenames)
    return sorted(
        (
            document
            for document in tables.documents.values()
            if document.org_id == org_id
            and (include_inactive or document.active)
            and document.filename in wanted
        ),
        key=oldest_first,
    )


def oldest_first(document: Document) -> tuple[datetime, UUID]:
    """The listings' sort key: (created_at, id)."""
    return (document.created_at, document.id)


def summary(document: Document) -> DocumentSummary:
    return DocumentSummary(
        id=document.id,
        org_id=document.org_id,
        filename=document.filename,
        category=document.category,
        version=document.version,
        active=document.active,
        size_bytes=len(document.content.encode("utf-8")),
        metadata=document.metadata,
        created_at=document.created_at,
        updated_at=document.updated_at,
    )
