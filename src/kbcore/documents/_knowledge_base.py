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
from contextlib import aclosing
from typing import Any
from uuid import UUID

import attrs

from kbcore import _progress as progress
from kbcore import _validators as check
from kbcore._domain import (
    Change,
    ChangeDraft,
    ChangeType,
    Document,
    DocumentState,
    DocumentSummary,
    ImportReport,
    NewDocument,
    Page,
    PageRequest,
    SearchHit,
)
from kbcore._ports import Documents, DocumentWrites
from kbcore._progress import OnProgress
from kbcore.documents import _idempotency as idempotency
from kbcore.documents import _imports as imports
from kbcore.documents import _rules as rules
from kbcore.documents._edits import Edit
from kbcore.documents._import_items import DraftLike
from kbcore.documents._paging import decode_cursor, page_of, page_request
from kbcore.documents._rules import Rules
from kbcore.documents._search import MAX_HITS, query_text
from kbcore.errors import NotFound, ValidationError, VersionConflict
from kbcore.logging import get_logger

log = get_logger()


@attrs.define
class KnowledgeBase:
    """An org-scoped knowledge base over any store of ``Documents``.

    Every method takes the org first; no call reads or writes another org's rows.
    Inputs are validated before a transaction starts, so a rejected call writes nothing.
    """

    _store: Documents
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
        idempotency_key: str | None = None,
    ) -> Document:
        """Add a document at version 1, with its ``created`` change.

        With ``idempotency_key``, trying the create again (after ``OutcomeUnknown``, say)
        returns the document the first try created, as it is now, never a second one.
        The key is the org's for as long as the document lives; bringing it back with
        other fields is a ``ValidationError``.
        """
        draft = NewDocument(
            org_id=check.uuid("org_id", org_id),
            filename=self._rules.filename(filename),
            content=self._rules.content(content),
            category=self._rules.category(category),
            metadata=rules.metadata(metadata),
        )
        change = ChangeDraft(
            change_type=ChangeType.CREATED,
            summary=f"Created: {draft.filename}",
            changed_by=check.actor(actor),
            version_to=1,
            new_content=draft.content,
        )
        key = idempotency.key_for(idempotency_key, draft)
        document = await self._store.create(draft, change, key=key)
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
        return _found(await self._store.get(org, doc_id), doc_id)

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
        return page_of(await self._store.page(request), request)

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
        return page_of(await self._store.summaries(request), request)

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
        org = check.uuid("org_id", org_id)
        text = query_text(query)
        wanted = None if category is None else self._rules.category(category)
        size = check.integer("limit", limit, low=1, high=MAX_HITS)
        return list(await self._store.search(org, text, category=wanted, limit=size))

    def _page_request(
        self,
        org_id: UUID | str,
        category: str | None,
        include_inactive: bool,
        limit: int,
        cursor: str | None,
    ) -> PageRequest:
        return page_request(
            check.uuid("org_id", org_id),
            category=None if category is None else self._rules.category(category),
            include_inactive=_include_inactive(include_inactive),
            size=check.integer("limit", limit, low=1, high=rules.MAX_PAGE_SIZE),
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
            active=None if active is None else check.flag("active", active),
            actor=check.actor(actor),
        )
        expected = (
            None if expected_version is None else _version("expected_version", expected_version)
        )
        async with self._store.writing() as writes:
            current = await _locked(writes, org, doc_id)
            if expected is not None and current.version != expected:
                raise VersionConflict(expected=expected, actual=current.version)
            state, changes = edit.apply_to(DocumentState.of(current))
            if not changes:
                return current
            document = await writes.update(org, doc_id, state, changes)
        _log_changes(document, changes)
        return document

    async def delete(
        self, org_id: UUID | str, document_id: UUID | str, *, actor: str | None = None
    ) -> Document:
        """Soft delete: the document turns inactive. Deleting twice is harmless."""
        return await self.update(org_id, document_id, active=False, actor=actor)

    async def history(self, org_id: UUID | str, document_id: UUID | str) -> builtins.list[Change]:
        """The document's changelog, in the order its rows were written."""
        org, doc_id = _ids(org_id, document_id)
        _found(await self._store.get(org, doc_id), doc_id)
        return list(await self._store.history(org, doc_id))

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
        wanted = _version("version", version)
        changed_by = check.actor(actor)
        async with self._store.writing() as writes:
            current = await _locked(writes, org, doc_id)
            if wanted >= current.version:
                raise ValidationError(
                    "version", f"Version {wanted} is not earlier than the current {current.version}"
                )
            content = _content_at(await writes.history(org, doc_id), wanted)
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
            document = await writes.update(org, doc_id, state, [change])
        _log_changes(document, [change])
        return document

    async def import_documents(
        self,
        org_id: UUID | str,
        drafts: Iterable[DraftLike] | AsyncIterable[DraftLike],
        *,
        actor: str | None = None,
        on_conflict: imports.OnConflict = "error",
        all_or_nothing: bool = True,
        batch_size: int = imports.DEFAULT_BATCH_SIZE,
        on_progress: OnProgress | None = None,
    ) -> ImportReport:
        """Import many documents; the report says what became of each item.

        Items are ``DocumentDraft``s, mappings with the same keys, or ``Document``s
        (so ``export`` output imports as it is), from any iterable or async iterable:
        the import reads them a batch of ``batch_size`` at a time (fewer when their
        contents pass 8 MB), and each batch is validated before any of it is written.
        ``on_conflict`` says what an item does when an active document (or an earlier
        item) has its filename: ``"error"`` reports it, ``"skip"`` leaves the document
        alone, ``"update"`` gives it the item's content as a new version. With
        ``all_or_nothing`` (the default) the whole import is one transaction, and a
        single problem, however late, means nothing is written (the rest of the input
        is still validated, so that the report lists every problem); otherwise each
        batch's valid items are written in a transaction of their own, and a database
        failure raises ``ImportInterrupted``, whose report says exactly which items were
        committed. ``on_progress`` hears of phase ``"import"``: how many items were
        read and dealt with (written, skipped or rejected), after each batch, of the
        input's length when it has one.

        An org has at most one active document per filename. An item with
        ``"active": False`` (as an export of deleted documents has) is imported as a
        deleted document, beside any active one of its name, unless the org already
        has a deleted document just like it, when it is skipped.
        """
        org = check.uuid("org_id", org_id)
        importer = imports.Importer(
            store=self._store,
            rules=self._rules,
            on_conflict=imports.on_conflict(on_conflict),
            all_or_nothing=check.flag("all_or_nothing", all_or_nothing),
            batch_size=check.integer("batch_size", batch_size, low=1, high=imports.MAX_BATCH_SIZE),
            changed_by=check.actor(actor),
            on_progress=progress.on_progress(on_progress),
        )
        report = await importer.run(org, drafts)
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
        self,
        org_id: UUID | str,
        *,
        include_inactive: bool = False,
        on_progress: OnProgress | None = None,
    ) -> AsyncGenerator[Document, None]:
        """Every document of the org, oldest first, streamed from one snapshot.

        The stream holds a database connection until it is exhausted or closed; when
        stopping early, close it (``contextlib.aclosing``). ``on_progress`` hears of
        phase ``"export"``: how many documents the snapshot holds, then each one taken.
        """
        org = check.uuid("org_id", org_id)
        wanted = _include_inactive(include_inactive)
        callback = progress.on_progress(on_progress)
        if callback is None:
            return self._store.export(org, include_inactive=wanted)
        return _counted(self._store, org, wanted, progress.Tally("export", callback))


async def _counted(
    store: Documents, org: UUID, include_inactive: bool, tally: progress.Tally
) -> AsyncGenerator[Document, None]:
    """The export, counted: a document is done when its reader comes back for the next."""
    stream = store.export(org, include_inactive=include_inactive, on_total=tally.start)
    async with aclosing(stream):
        async for document in stream:
            yield document
            tally.advance()


def _ids(org_id: UUID | str, document_id: UUID | str) -> tuple[UUID, UUID]:
    return check.uuid("org_id", org_id), check.uuid("document_id", document_id)


def _found(document: Document | None, document_id: UUID) -> Document:
    if document is None:
        raise NotFound(f"Document {document_id} not found")
    return document


async def _locked(writes: DocumentWrites, org_id: UUID, document_id: UUID) -> Document:
    return _found(await writes.lock(org_id, document_id), document_id)


def _include_inactive(value: object) -> bool:
    # A listing's filter on the documents' active flag: its error names that field.
    return check.flag("active", value)


def _version(field: str, value: object) -> int:
    positive = "must be a positive version number"
    return check.integer(field, value, low=1, high=rules.MAX_VERSION, out_of_range=positive)


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
