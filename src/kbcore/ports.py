"""What the core needs from storage, and nothing more.

A ``Store`` hands out transactions; a ``Transaction`` exposes the repositories.
Everything done through one transaction commits together on a normal exit of
``async with store.transaction() as tx:`` and rolls back on an exception.
Adapters (``kbcore.postgres``, ``kbcore.memory``) implement these protocols;
services depend on them only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from kbcore.domain import (
    Assistant,
    Change,
    ChangeDraft,
    ClaimOutcome,
    Creation,
    Document,
    DocumentState,
    DocumentSummary,
    LedgerFile,
    LedgerTool,
    NewDocument,
    PageKey,
    Revision,
    SearchHit,
    Secret,
    SyncDocument,
    SyncOutcome,
    SyncRun,
    ToolIntent,
)


class Documents(Protocol):
    async def insert(self, draft: NewDocument, change: ChangeDraft) -> Document:
        """Store a new document at version 1 together with its ``created`` change."""
        ...

    async def get(
        self, org_id: UUID, document_id: UUID, *, for_update: bool = False
    ) -> Document | None:
        """The org's document, or None. ``for_update`` locks it until the transaction ends."""
        ...

    async def update(
        self,
        org_id: UUID,
        document_id: UUID,
        state: DocumentState,
        changes: Sequence[ChangeDraft],
    ) -> Document:
        """Write the new state and its changelog rows; ``updated_at`` moves to now."""
        ...

    async def page(
        self,
        org_id: UUID,
        *,
        category: str | None,
        include_inactive: bool,
        limit: int,
        after: PageKey | None,
    ) -> Sequence[Document]:
        """Up to ``limit`` documents, newest first by (created_at, id), after ``after``."""
        ...


class DocumentBatches(Protocol):
    """Many documents at a time, for imports and exports."""

    async def active_named(self, org_id: UUID, filenames: Sequence[str]) -> Sequence[Document]:
        """The org's active documents with any of these filenames, locked until the end."""
        ...

    async def insert_many(self, org_id: UUID, creations: Sequence[Creation]) -> None:
        """Store new documents at version 1, each with its ``created`` change."""
        ...

    async def update_many(self, org_id: UUID, revisions: Sequence[Revision]) -> None:
        """Write each revision's state, metadata and changelog rows, in the order given."""
        ...

    def stream(self, org_id: UUID, *, include_inactive: bool) -> AsyncIterator[Document]:
        """Every document of the org, oldest first by (created_at, id), read as it goes."""
        ...


class DocumentSearch(Protocol):
    """Reads for large orgs: full-text search and listings without content."""

    async def search(
        self, org_id: UUID, query: str, *, category: str | None, limit: int
    ) -> Sequence[SearchHit]:
        """The org's active documents that match a web-search style query, best first."""
        ...

    async def summaries(
        self,
        org_id: UUID,
        *,
        category: str | None,
        include_inactive: bool,
        limit: int,
        after: PageKey | None,
    ) -> Sequence[DocumentSummary]:
        """As ``Documents.page``, without the content."""
        ...


class SyncDocuments(Protocol):
    async def active(self, org_id: UUID) -> Sequence[SyncDocument]:
        """The org's active documents, with the SHA-256 of their UTF-8 content, no content."""
        ...

    async def contents(self, org_id: UUID, document_ids: Sequence[UUID]) -> Mapping[UUID, str]:
        """The content of the given documents of the org (those that still exist)."""
        ...


class Changes(Protocol):
    async def for_document(self, org_id: UUID, document_id: UUID) -> Sequence[Change]:
        """The document's changelog, oldest first."""
        ...


class Agents(Protocol):
    async def assistants(self, org_id: UUID, roles: Sequence[str]) -> Sequence[Assistant]:
        """The org's agents whose role is one of ``roles``, with or without a Vapi id."""
        ...


class Integrations(Protocol):
    async def vapi_key(self, org_id: UUID) -> Secret | None:
        """The org's Vapi private key from its ``vapi`` integration, if configured."""
        ...


class SyncRuns(Protocol):
    """The audit log and the per-org claim that keeps syncs apart."""

    async def claim(
        self, org_id: UUID, *, min_interval: timedelta, lease: timedelta, actor: str | None
    ) -> ClaimOutcome:
        """Start a run, atomically against every other process, or say why not.

        A run starts when no live lease is held and the last success is at least
        ``min_interval`` old, both judged by the database's clock. A claimed run
        gets an ``in_progress`` audit row; a lease older than ``lease`` is taken
        over and its run is marked failed.
        """
        ...

    async def reject(self, org_id: UUID, message: str, *, actor: str | None) -> UUID:
        """Record an attempt that never started, as a failed audit row."""
        ...

    async def renew(self, org_id: UUID, run_id: UUID, lease: timedelta) -> bool:
        """Extend a running claim; False when the run no longer owns the org."""
        ...

    async def finish(self, org_id: UUID, run_id: UUID, outcome: SyncOutcome) -> SyncRun:
        """Close the run's audit row and release the claim; success starts the window.

        The row's ``duration_ms`` is measured by the database, from the claim to now.
        """
        ...

    async def recent(self, org_id: UUID, limit: int) -> Sequence[SyncRun]:
        """The org's latest audit rows, newest first."""
        ...


class Ledger(Protocol):
    """What kbcore has put on Vapi for an org, so a sync can be incremental."""

    async def files(self, org_id: UUID, tool_name: str) -> Sequence[LedgerFile]: ...

    async def add_file(self, org_id: UUID, tool_name: str, file: LedgerFile) -> None: ...

    async def forget_files(self, org_id: UUID, tool_name: str, file_ids: Sequence[str]) -> None: ...

    async def tools(self, org_id: UUID) -> Sequence[LedgerTool]:
        """Every tool kbcore ever created for the org, deleted ones included."""
        ...

    async def set_current_tool(self, org_id: UUID, tool_name: str, tool_id: str) -> None:
        """Make ``tool_id`` the current tool of that name; earlier ones become stale."""
        ...

    async def remember_tool(self, org_id: UUID, tool_name: str, tool_id: str) -> None:
        """Record a tool kbcore made but never recorded (a stray), as not current; once."""
        ...

    async def mark_tool_deleted(self, org_id: UUID, tool_id: str) -> None:
        """Vapi no longer has the tool; it stays known, so that its id is still detached."""
        ...

    async def add_tool_intent(self, org_id: UUID, intent: ToolIntent) -> None:
        """Record a tool about to be created, before the create is sent (once per fingerprint)."""
        ...

    async def tool_intents(self, org_id: UUID) -> Sequence[ToolIntent]:
        """Every tool the org's syncs set out to create, of every tool name."""
        ...


class Transaction(Protocol):
    @property
    def documents(self) -> Documents: ...

    @property
    def changes(self) -> Changes: ...

    @property
    def batches(self) -> DocumentBatches: ...

    @property
    def search(self) -> DocumentSearch: ...

    @property
    def agents(self) -> Agents: ...

    @property
    def integrations(self) -> Integrations: ...


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work: commit on normal exit, roll back on an exception."""
        ...

    def autocommit(self) -> AbstractAsyncContextManager[Transaction]:
        """Statements that each commit on their own, for a use case that is one statement.

        A write made of one statement is atomic by itself; running it without
        BEGIN and COMMIT saves two round trips. If the connection is lost, the
        statement may or may not have been saved.
        """
        ...

    def read(self) -> AbstractAsyncContextManager[Transaction]:
        """Reads that need no transaction, for one-statement reads where every round trip counts.

        Each read sees what was committed when it ran, as each statement of a READ
        COMMITTED transaction does; nothing is locked. Nothing may be written
        through it (MemoryStore discards such writes; PostgreSQL would commit each
        at once), and it holds no cursor.
        """
        ...


class SyncTransaction(Transaction, Protocol):
    """A transaction that also reaches the sync state: what a SyncCoordinator needs."""

    @property
    def sync_documents(self) -> SyncDocuments: ...

    @property
    def sync_runs(self) -> SyncRuns: ...

    @property
    def ledger(self) -> Ledger: ...


class SyncStore(Store, Protocol):
    def transaction(self) -> AbstractAsyncContextManager[SyncTransaction]:
        """A unit of work, as ``Store.transaction``, with the sync repositories too."""
        ...

    def autocommit(self) -> AbstractAsyncContextManager[SyncTransaction]:
        """One-statement writes without a transaction, as ``Store.autocommit``."""
        ...

    def read(self) -> AbstractAsyncContextManager[SyncTransaction]:
        """Reads without a transaction, as ``Store.read``."""
        ...
