"""The document use cases: every read and write of an org's knowledge base."""

from __future__ import annotations

import builtins
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any
from uuid import UUID

import attrs

from kbcore import bulk, rules
from kbcore import search as text_search
from kbcore.domain import (
    Change,
    ChangeDraft,
    ChangeType,
    Document,
    DocumentState,
    DocumentSummary,
    ImportReport,
    NewDocument,
    Page,
    SearchHit,
)
from kbcore.edits import Edit
from kbcore.errors import NotFound, ValidationError, VersionConflict
from kbcore.logging import get_logger
from kbcore.paging import PageRequest, decode_cursor
from kbcore.ports import Store, Transaction
from kbcore.rules import Rules

log = get_logger()


@attrs.define
class KnowledgeBase:
    """An org-scoped knowledge base over any ``Store``.

    Every method takes the org first; no call reads or writes another org's rows.
    Inputs are validated before a transaction starts, so a rejected call writes nothing.
    """

    _store: Store
    _rules: Rules = attrs.field(factory=Rules, kw_only=True)

    async def create(
        self,
        org_id: UUID | str,
        *,
        filename: str,
        content: str,
        category: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> Document:
        draft = NewDocument(
            org_id=rules.uuid(org_id, "org_id"),
            filename=self._rules.filename(filename),
            content=self._rules.content(content),
            category=self._rules.category(category),
            metadata=rules.metadata(metadata),
        )
        change = ChangeDraft(
            change_type=ChangeType.CREATED,
            summary=f"Created: {draft.filename}",
            changed_by=rules.actor(actor),
            version_to=1,
            new_content=draft.content,
        )
        # One statement writes the document and its changelog row, atomically on its own.
        async with self._store.autocommit() as tx:
            document = await tx.documents.insert(draft, change)
        # Debug, not info: the changelog already records every write, and a host at INFO
        # would otherwise get a line per document (ten thousand for one import).
        log.debug(
            "kbcore.document.created",
            org_id=str(document.org_id),
            document_id=str(document.id),
            category=document.category,
        )
        return document

    async def get(self, org_id: UUID | str, document_id: UUID | str) -> Document:
        org, doc_id = _ids(org_id, document_id)
        async with self._store.read() as tx:
            return await _require(tx, org, doc_id)

    async def list(
        self,
        org_id: UUID | str,
        *,
        category: str | None = None,
        include_inactive: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Document]:
        """One page of documents, newest first. Pass ``page.next_cursor`` back for the next."""
        request = self._page_request(org_id, category, include_inactive, limit, cursor)
        async with self._store.read() as tx:
            return await request.page(tx.documents.page)

    async def list_summaries(
        self,
        org_id: UUID | str,
        *,
        category: str | None = None,
        include_inactive: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[DocumentSummary]:
        """As ``list``, without the content: for large orgs. The cursors are the same."""
        request = self._page_request(org_id, category, include_inactive, limit, cursor)
        async with self._store.read() as tx:
            return await request.page(tx.search.summaries)

    async def search(
        self,
        org_id: UUID | str,
        query: str,
        *,
        category: str | None = None,
        limit: int = 10,
    ) -> builtins.list[SearchHit]:
        """The org's active documents that match ``query``, best first.

        The query reads like a web search: words must all occur (in any order, in the
        filename or the content), ``"quoted words"`` must occur together, ``or``
        offers alternatives and ``-word`` excludes. Words match whole and
        case-insensitively, without stemming.
        """
        return await text_search.search(
            self._store, self._rules, org_id, query, category=category, limit=limit
        )

    def _page_request(
        self,
        org_id: UUID | str,
        category: str | None,
        include_inactive: bool,
        limit: int,
        cursor: str | None,
    ) -> PageRequest:
        return PageRequest(
            org=rules.uuid(org_id, "org_id"),
            category=None if category is None else self._rules.category(category),
            include_inactive=rules.active(include_inactive),
            size=rules.page_size(limit),
            after=None if cursor is None else decode_cursor(cursor),
        )

    async def update(
        self,
        org_id: UUID | str,
        document_id: UUID | str,
        *,
        filename: str | None = None,
        content: str | None = None,
        category: str | None = None,
        active: bool | None = None,
        actor: str | None = None,
        expected_version: int | None = None,
    ) -> Document:
        """Change any of the fields; each effective change gets its changelog row.

        Only a content change bumps the version. With ``expected_version`` the
        update fails with ``VersionConflict`` if the document moved on.
        """
        org, doc_id = _ids(org_id, document_id)
        edit = Edit(
            filename=None if filename is None else self._rules.filename(filename),
            content=None if content is None else self._rules.content(content),
            category=None if category is None else self._rules.category(category),
            active=None if active is None else rules.active(active),
            actor=rules.actor(actor),
        )
        expected = (
            None
            if expected_version is None
            else rules.version(expected_version, "expected_version")
        )
        async with self._store.transaction() as tx:
            current = await _require(tx, org, doc_id, for_update=True)
            if expected is not None and current.version != expected:
                raise VersionConflict(expected=expected, actual=current.version)
            state, changes = edit.apply_to(DocumentState.of(current))
            if not changes:
                return current
            document = await tx.documents.update(org, doc_id, state, changes)
        _log_changes(document, changes)
        return document

    async def delete(
        self, org_id: UUID | str, document_id: UUID | str, *, actor: str | None = None
    ) -> Document:
        """Soft delete: the document turns inactive. Deleting twice is harmless."""
        return await self.update(org_id, document_id, active=False, actor=actor)

    async def history(self, org_id: UUID | str, document_id: UUID | str) -> builtins.list[Change]:
        """The document's changelog, oldest first."""
        org, doc_id = _ids(org_id, document_id)
        async with self._store.transaction() as tx:
            await _require(tx, org, doc_id)
            return list(await tx.changes.for_document(org, doc_id))

    async def restore(
        self,
        org_id: UUID | str,
        document_id: UUID | str,
        *,
        version: int,
        actor: str | None = None,
    ) -> Document:
        """Make an earlier version's content the current content, as a new version."""
        org, doc_id = _ids(org_id, document_id)
        wanted = rules.version(version)
        changed_by = rules.actor(actor)
        async with self._store.transaction() as tx:
            current = await _require(tx, org, doc_id, for_update=True)
            if wanted >= current.version:
                raise ValidationError(
                    "version", f"Version {wanted} is not earlier than the current {current.version}"
                )
            content = _content_at(await tx.changes.for_document(org, doc_id), wanted)
            if content is None:
                raise NotFound(f"Version {wanted} of document {doc_id} is not in its history")
            if content == current.content:
                return current
            change = ChangeDraft(
                change_type=ChangeType.RESTORED,
                summary=f"Restored: {current.filename} to version {wanted}",
                changed_by=changed_by,
                version_from=current.version,
                version_to=current.version + 1,
                previous_content=current.content,
                new_content=content,
            )
            state = attrs.evolve(
                DocumentState.of(current), content=content, version=current.version + 1
            )
            document = await tx.documents.update(org, doc_id, state, [change])
        _log_changes(document, [change])
        return document

    async def import_documents(
        self,
        org_id: UUID | str,
        drafts: Iterable[bulk.DraftLike] | AsyncIterable[bulk.DraftLike],
        *,
        actor: str | None = None,
        on_conflict: bulk.OnConflict = "error",
        all_or_nothing: bool = True,
        batch_size: int = bulk.DEFAULT_BATCH_SIZE,
    ) -> ImportReport:
        """Import many documents; the report says what became of each item.

        Items are ``DocumentDraft``s, mappings with the same keys, or ``Document``s
        (so ``export`` output imports as it is). Every item is validated before any
        is written. ``on_conflict`` says what an item does when an active document
        (or an earlier item) has its filename: ``"error"`` reports it, ``"skip"``
        leaves the document alone, ``"update"`` gives it the item's content as a new
        version. With ``all_or_nothing`` (the default) a single problem means nothing
        is written, and the whole import is one transaction; otherwise the valid
        items are written in batches of ``batch_size``, one transaction per batch.
        """
        report = await bulk.import_documents(
            self._store,
            self._rules,
            org_id,
            drafts,
            actor=actor,
            on_conflict=on_conflict,
            all_or_nothing=all_or_nothing,
            batch_size=batch_size,
        )
        log.info(
            "kbcore.documents.imported",
            org_id=str(org_id),
            created=report.created,
            updated=report.updated,
            skipped=report.skipped,
            errors=len(report.errors),
        )
        return report

    def export(
        self, org_id: UUID | str, *, include_inactive: bool = False
    ) -> AsyncGenerator[Document, None]:
        """Every document of the org, oldest first, streamed from one snapshot.

        The stream holds a database connection until it is exhausted or closed; when
        stopping early, close it (``contextlib.aclosing``).
        """
        return bulk.export(self._store, org_id, include_inactive=include_inactive)


def _ids(org_id: UUID | str, document_id: UUID | str) -> tuple[UUID, UUID]:
    return rules.uuid(org_id, "org_id"), rules.uuid(document_id, "document_id")


async def _require(
    tx: Transaction, org_id: UUID, document_id: UUID, *, for_update: bool = False
) -> Document:
    document = await tx.documents.get(org_id, document_id, for_update=for_update)
    if document is None:
        raise NotFound(f"Document {document_id} not found")
    return document


def _content_at(history: Sequence[Change], version: int) -> str | None:
    """The content a document had at ``version``, from its changelog."""
    for change in history:
        if change.version_to == version and change.new_content is not None:
            return change.new_content
    return None


def _log_changes(document: Document, changes: list[ChangeDraft]) -> None:
    log.debug(
        "kbcore.document.changed",
        org_id=str(document.org_id),
        document_id=str(document.id),
        version=document.version,
        changes=[str(change.change_type) for change in changes],
    )
