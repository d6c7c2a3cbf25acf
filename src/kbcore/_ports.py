"""What the core needs from storage, named after who needs it.

- ``Documents``: what ``KnowledgeBase`` reads and writes. Reads need no transaction:
  each sees what was committed when it ran. ``create`` is atomic on its own; every
  other write happens in a unit of work that ``writing()`` opens.
- ``DocumentWrites``: that unit of work. Everything done through it commits together
  on a normal exit of ``async with store.writing() as writes:`` and rolls back on an
  exception.
- ``SyncState``: what ``SyncCoordinator`` reads and records: the claim that keeps the
  syncs of an org apart, the audit log, the host's agents and Vapi key, the ledger of
  what kbcore put on Vapi; ``kbcore.report`` reads the log's statistics.
- ``SetupState``: what ``SyncSetup`` reads and writes: an org's agents and its Vapi key,
  in the host's own tables.
- ``SyncRequests``: what ``SyncWorker`` claims and settles: the pending syncs that every
  document write marks in its own transaction, and their status.
- ``Passages``: what the live-knowledge server reads: an org's passages ranked for a
  caller's question. Every document write keeps them, in its own transaction.

Whether an operation needs BEGIN and COMMIT, and how many round trips it takes, is
the adapter's business. ``kbcore.postgres`` and ``kbcore.memory`` implement all six;
services depend on these protocols only.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable
from uuid import UUID

from kbcore._domain import (
    Assistant,
    Change,
    ChangeDraft,
    ClaimOutcome,
    Creation,
    Document,
    DocumentState,
    DocumentSummary,
    IdempotencyKey,
    LedgerFile,
    LedgerTool,
    NewDocument,
    PageRequest,
    RankedPassage,
    Revision,
    SearchHit,
    Secret,
    SyncDocument,
    SyncOutcome,
    SyncRequest,
    SyncRun,
    SyncStats,
    SyncStatus,
    ToolIntent,
)


class Documents(Protocol):
    """An org's documents, as ``KnowledgeBase`` reads and writes them."""

    async def get(self, org_id: UUID, document_id: UUID) -> Document | None:
        """The org's document, or None."""
        ...

    async def page(self, request: PageRequest) -> Sequence[Document]:
        """The documents ``request`` asks for, newest first by (created_at, id)."""
        ...

    async def summaries(self, request: PageRequest) -> Sequence[DocumentSummary]:
        """As ``page``, without the content."""
        ...

    async def search(
        self, org_id: UUID, query: str, *, category: str | None, limit: int
    ) -> Sequence[SearchHit]:
        """The org's active documents that match a web-search style query, best first."""
        ...

    async def history(self, org_id: UUID, document_id: UUID) -> Sequence[Change]:
        """The document's changelog, in the order its rows were written."""
        ...

    def export(
        self,
        org_id: UUID,
        *,
        include_inactive: bool,
        on_total: Callable[[int], None] | None = None,
    ) -> AsyncGenerator[Document, None]:
        """Every document of the org, oldest first by (created_at, id), from one snapshot.

        It reads as it goes, and holds what it reads from until it is exhausted or closed.
        ``on_total``, when given, hears how many documents the snapshot holds, before the
        first one comes.
        """
        ...

    async def create(
        self, draft: NewDocument, change: ChangeDraft, *, key: IdempotencyKey | None = None
    ) -> Document:
        """Store a new document at version 1 together with its ``created`` change.

        ``change`` is that change: version 1 from none, no previous content, the draft's
        content as its new content (a store may write those fixed fields itself).

        With a ``key`` the org used before, write nothing and return the document that
        key created, as it is now; raise ``ValidationError`` (``KEY_REUSED_MESSAGE``)
        when the key came with a different fingerprint. The key is stored with the
        document, atomically.
        """
        ...

    def writing(self) -> AbstractAsyncContextManager[DocumentWrites]:
        """A unit of work: commit on a normal exit, roll back on an exception."""
        ...


class DocumentWrites(Protocol):
    """One unit of work on documents; what it locks stays locked until it ends.

    Every write keeps the rule of one active document per org and filename: a write
    that would break it raises ``DuplicateFilename`` (and ``create`` does too).
    """

    async def lock(self, org_id: UUID, document_id: UUID) -> Document | None:
        """The org's document, locked against other units of work; or None."""
        ...

    async def lock_named(
        self, org_id: UUID, filenames: Sequence[str], *, include_inactive: bool = False
    ) -> Sequence[Document]:
        """The org's active (or all) documents with any of these filenames, locked, oldest first."""
        ...

    async def history(self, org_id: UUID, document_id: UUID) -> Sequence[Change]:
        """The document's changelog in the order of writes, as this unit of work sees it."""
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

    async def insert_many(self, org_id: UUID, creations: Sequence[Creation]) -> None:
        """Store new documents at version 1, each with its ``created`` change.

        A creation with a ``deletion`` is stored inactive, with that change after ``created``.
        """
        ...

    async def update_many(self, org_id: UUID, revisions: Sequence[Revision]) -> None:
        """Write each revision's state, metadata and changelog rows, in the order given."""
        ...


@runtime_checkable
class SyncStatsSource(Protocol):
    """Anything that can compute ``SyncStats`` from an audit log.

    ``since`` is an instant, or a duration back from the source's own "now".
    """

    async def sync_stats(self, *, since: datetime | timedelta, org_id: UUID | None) -> SyncStats:
        """The statistics of the rows created after ``since``, of one org or of all."""
        ...


class SyncState(SyncStatsSource, Protocol):
    """What a sync reads and records, each call atomic on its own."""

    async def claim(
        self, org_id: UUID, *, min_interval: timedelta, lease: timedelta, actor: str | None
    ) -> ClaimOutcome:
        """Start a run, atomically against every other process, or say why not.

        A run starts when no live lease is held and the last success is at least
        ``min_interval`` old, both judged by the store's clock. A claimed run gets an
        ``in_progress`` audit row; a lease older than ``lease`` is taken over and its
        run is marked failed.
        """
        ...

    async def resume_requests(self, org_id: UUID, tool_name: str) -> None:
        """Make the org's request due now, unparked, creating it if there is none."""
        ...

    async def request_status(self, org_id: UUID, tool_name: str) -> SyncStatus:
        """The org's request, its last success and its last failure."""
        ...

    async def reject(self, org_id: UUID, message: str, *, actor: str | None) -> UUID:
        """Record an attempt that never started, as a failed audit row."""
        ...

    async def renew(self, org_id: UUID, run_id: UUID, lease: timedelta) -> bool:
        """Extend a running claim; False when the run no longer owns the org."""
        ...

    async def finish(self, org_id: UUID, run_id: UUID, outcome: SyncOutcome) -> SyncRun:
        """Close the run's audit row and release the claim; success starts the window.

        The row's ``duration_ms`` is measured by the store's clock, from the claim to now.
        """
        ...

    async def vapi_key(self, org_id: UUID) -> Secret | None:
        """The org's Vapi private key from the host's ``vapi`` integration, if configured."""
        ...

    async def assistants(self, org_id: UUID, roles: Sequence[str]) -> Sequence[Assistant]:
        """The org's agents (a host table) whose role is one of ``roles``, Vapi id or not."""
        ...

    async def sync_documents(self, org_id: UUID) -> Sequence[SyncDocument]:
        """The org's active documents, with the SHA-256 of their UTF-8 content, no content."""
        ...

    async def contents(self, org_id: UUID, document_ids: Sequence[UUID]) -> Mapping[UUID, str]:
        """The content of the given documents of the org (those that still exist)."""
        ...

    async def ledger_files(self, org_id: UUID, tool_name: str) -> Sequence[LedgerFile]:
        """The files kbcore put on Vapi for the org's tool of that name."""
        ...

    async def add_file(self, org_id: UUID, tool_name: str, file: LedgerFile) -> None:
        """Record a file just uploaded."""
        ...

    async def forget_files(self, org_id: UUID, tool_name: str, file_ids: Sequence[str]) -> None:
        """Drop files that are gone from Vapi from the ledger."""
        ...

    async def ledger_tools(self, org_id: UUID) -> Sequence[LedgerTool]:
        """Every query tool kbcore ever created for the org, deleted ones included."""
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


class SetupState(Protocol):
    """An org's agents and Vapi key, in the host's tables; each call atomic on its own.

    The tables are the host's: a write fills only the columns kbcore knows, and a table
    that needs more refuses it with ``HostTableError``.
    """

    async def agents(self, org_id: UUID) -> Sequence[Assistant]:
        """Every agent of the org, whatever its role, by role and id."""
        ...

    async def insert_agent(
        self, org_id: UUID, role: str, vapi_assistant_id: str | None
    ) -> Assistant:
        """Add an agent to the org; its id is the table's to choose."""
        ...

    async def delete_agent(self, org_id: UUID, agent_id: UUID) -> Assistant | None:
        """Remove the org's agent and return it; None when the org has no such agent."""
        ...

    async def vapi_key(self, org_id: UUID) -> Secret | None:
        """The org's Vapi private key from the host's ``vapi`` integration, if configured."""
        ...

    async def store_vapi_key(self, org_id: UUID, key: Secret) -> None:
        """Make ``key`` the org's Vapi private key, keeping the integration's other settings."""
        ...


class Passages(Protocol):
    """An org's passages, as the live-knowledge server ranks them; each call on its own."""

    async def rank_passages(
        self, org_id: UUID, terms: Sequence[str], *, limit: int, min_similarity: float
    ) -> Sequence[RankedPassage]:
        """The org's ``limit`` passages most similar to the terms, best first.

        ``terms`` are ``SpokenQuery.terms``: each a word and its stand-ins, separated by
        spaces. Only passages at ``min_similarity`` or above.
        """
        ...

    async def count_terms(self, org_id: UUID, *, older_than: timedelta) -> bool:
        """Count the org's words again if the last count is older than ``older_than``.

        The ranking weighs words by these counts; a stale count costs speed or a little
        precision, never a wrong answer. True when this call counted.
        """
        ...

    async def assistant_orgs(self, vapi_assistant_id: str) -> Sequence[UUID]:
        """The orgs whose agents (a host table) have this Vapi assistant id."""
        ...

    async def ping(self) -> None:
        """Return when the store answers; raise ``StoreUnavailable`` when it does not."""
        ...


class RequestWatch(Protocol):
    """Wake-ups of a worker: a request appeared, came due sooner or was resumed."""

    async def wait(self, at_most: float) -> None:
        """Return on the next wake-up since the last call, or after ``at_most`` seconds."""
        ...


class SyncRequests(Protocol):
    """The pending syncs of orgs, as workers claim and settle them; each call atomic.

    A request is claimable when it is due, not parked, and not claimed by a live
    worker; a claim lapses after its lease, so that a dead worker's requests return.
    """

    async def claim_requests(
        self, worker: str, *, limit: int, lease: timedelta
    ) -> Sequence[SyncRequest]:
        """Claim up to ``limit`` due requests, earliest due first, skipping locked ones."""
        ...

    async def renew_requests(self, requests: Sequence[SyncRequest], lease: timedelta) -> None:
        """Extend the claims the worker still holds on these requests."""
        ...

    async def complete_request(self, request: SyncRequest, *, min_interval: timedelta) -> bool:
        """A sync of the request succeeded: remove it, unless edits arrived since the claim.

        True when it was removed; otherwise it stays, due no sooner than ``min_interval``
        from now, with the edits that arrived.
        """
        ...

    async def retry_request(
        self, request: SyncRequest, *, delay: timedelta, error: str | None
    ) -> None:
        """Release the claim, due ``delay`` from now (or later, if an edit says so).

        With an ``error`` the attempt counts as a failure (``attempts`` grows); without,
        it does not (a rate limit, a sync already running, a shutdown).
        """
        ...

    async def park_request(self, request: SyncRequest, reason: str) -> None:
        """Release the claim and park the request until an edit, a set-up change or a resume."""
        ...

    async def next_due(self) -> float | None:
        """Seconds until a request becomes claimable (0 if one is); None if none will."""
        ...

    def watch_requests(self) -> AbstractAsyncContextManager[RequestWatch]:
        """Wake-ups while the context lasts; polling stays the fallback."""
        ...


class Store(Documents, SyncState, SetupState, SyncRequests, Passages, Protocol):
    """Every port in one store, as ``PostgresStore`` and ``MemoryStore`` are."""
