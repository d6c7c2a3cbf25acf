"""MemoryStore: the storage protocols in memory, for fast tests and downstream tests.

It behaves like ``PostgresStore`` where a caller can tell: org scoping,
newest-first keyset pages, rollback on an exception. Transactions run one at a
time, which is stricter than PostgreSQL's row locks and never weaker.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import anyio
import attrs

from kbcore._memory_bulk import MemoryBatches
from kbcore._memory_search import MemorySearch
from kbcore._memory_sync import MemoryLedger
from kbcore.domain import (
    LEASE_EXPIRED_MESSAGE,
    Assistant,
    Busy,
    Change,
    ChangeDraft,
    Claimed,
    ClaimOutcome,
    Document,
    DocumentState,
    LedgerFile,
    LedgerTool,
    NewDocument,
    PageKey,
    Secret,
    SyncDocument,
    SyncOutcome,
    SyncRun,
    TooSoon,
)
from kbcore.ports import (
    Agents,
    Changes,
    DocumentBatches,
    Documents,
    DocumentSearch,
    Integrations,
    Ledger,
    SyncDocuments,
    SyncRuns,
    SyncTransaction,
)

__all__ = ["MemoryStore"]


@attrs.define
class _Claim:
    running: UUID | None = None
    lease_expires_at: datetime | None = None
    last_success_at: datetime | None = None


@attrs.define
class _Tables:
    documents: dict[UUID, Document] = attrs.Factory(dict)
    changes: list[Change] = attrs.Factory(list)
    agents: list[Assistant] = attrs.Factory(list)
    vapi_keys: dict[UUID, str] = attrs.Factory(dict)
    claims: dict[UUID, _Claim] = attrs.Factory(dict)
    runs: list[SyncRun] = attrs.Factory(list)
    files: dict[tuple[UUID, str], list[LedgerFile]] = attrs.Factory(dict)
    tools: dict[UUID, list[LedgerTool]] = attrs.Factory(dict)


@attrs.define
class _Clock:
    """The store's "database time": strictly increasing, and movable by tests."""

    offset: timedelta = timedelta()
    last: datetime = attrs.field(factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        self.last = max(datetime.now(UTC) + self.offset, self.last + timedelta(microseconds=1))
        return self.last


@attrs.define
class _MemoryDocuments:
    _tables: _Tables
    _clock: _Clock

    async def insert(self, draft: NewDocument, change: ChangeDraft) -> Document:
        return self.add(uuid.uuid4(), draft, change, self._clock.now())

    def add(
        self, document_id: UUID, draft: NewDocument, change: ChangeDraft, now: datetime
    ) -> Document:
        """Store a new document at version 1, created at ``now``, with its change."""
        document = Document(
            id=document_id,
            org_id=draft.org_id,
            filename=draft.filename,
            content=draft.content,
            category=draft.category,
            version=1,
            active=True,
            metadata=draft.metadata,
            created_at=now,
            updated_at=now,
        )
        self._tables.documents[document.id] = document
        self.record(document, [change], now)
        return document

    async def get(
        self, org_id: UUID, document_id: UUID, *, for_update: bool = False
    ) -> Document | None:
        document = self._tables.documents.get(document_id)
        return document if document is not None and document.org_id == org_id else None

    async def update(
        self,
        org_id: UUID,
        document_id: UUID,
        state: DocumentState,
        changes: Sequence[ChangeDraft],
    ) -> Document:
        current = await self.get(org_id, document_id)
        if current is None:
            raise LookupError(f"document {document_id} vanished inside its transaction")
        now = self._clock.now()
        document = attrs.evolve(
            current,
            filename=state.filename,
            content=state.content,
            category=state.category,
            version=state.version,
            active=state.active,
            updated_at=now,
        )
        self._tables.documents[document_id] = document
        self.record(document, changes, now)
        return document

    async def page(
        self,
        org_id: UUID,
        *,
        category: str | None,
        include_inactive: bool,
        limit: int,
        after: PageKey | None,
    ) -> Sequence[Document]:
        def wanted(document: Document) -> bool:
            return (
                document.org_id == org_id
                and (include_inactive or document.active)
                and (category is None or document.category == category)
                and (after is None or _key(document) < (after.created_at, after.id))
            )

        matching = sorted(filter(wanted, self._tables.documents.values()), key=_key, reverse=True)
        return matching[:limit]

    def record(self, document: Document, changes: Sequence[ChangeDraft], now: datetime) -> None:
        self._tables.changes.extend(
            Change(
                id=uuid.uuid4(),
                document_id=document.id,
                org_id=document.org_id,
                change_type=str(draft.change_type),
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


def _key(document: Document) -> tuple[datetime, UUID]:
    return (document.created_at, document.id)


@attrs.define
class _MemoryChanges:
    _tables: _Tables

    async def for_document(self, org_id: UUID, document_id: UUID) -> Sequence[Change]:
        return [
            change
            for change in self._tables.changes
            if change.org_id == org_id and change.document_id == document_id
        ]


@attrs.define
class _MemoryAgents:
    _tables: _Tables

    async def assistants(self, org_id: UUID, roles: Sequence[str]) -> Sequence[Assistant]:
        return [a for a in self._tables.agents if a.org_id == org_id and a.role in roles]


@attrs.define
class _MemoryIntegrations:
    _tables: _Tables

    async def vapi_key(self, org_id: UUID) -> Secret | None:
        value = self._tables.vapi_keys.get(org_id)
        return None if value is None else Secret(value)


@attrs.define
class _MemorySyncDocuments:
    _tables: _Tables

    async def active(self, org_id: UUID) -> Sequence[SyncDocument]:
        return [
            SyncDocument(
                id=document.id,
                filename=document.filename,
                category=document.category,
                content_sha256=hashlib.sha256(document.content.encode()).hexdigest(),
            )
            for document in self._tables.documents.values()
            if document.org_id == org_id and document.active
        ]

    async def contents(self, org_id: UUID, document_ids: Sequence[UUID]) -> Mapping[UUID, str]:
        found = (self._tables.documents.get(document_id) for document_id in document_ids)
        return {doc.id: doc.content for doc in found if doc is not None and doc.org_id == org_id}


@attrs.define
class _MemorySyncRuns:
    _tables: _Tables
    _clock: _Clock

    async def claim(
        self, org_id: UUID, *, min_interval: timedelta, lease: timedelta, actor: str | None
    ) -> ClaimOutcome:
        now = self._clock.now()
        claim = self._tables.claims.setdefault(org_id, _Claim())
        if claim.running is not None and claim.lease_expires_at is not None:
            if claim.lease_expires_at > now:
                return Busy()
            self._close(claim.running, "failed", LEASE_EXPIRED_MESSAGE, {})
        if claim.last_success_at is not None and claim.last_success_at + min_interval > now:
            wait = claim.last_success_at + min_interval - now
            return TooSoon(retry_after=wait.total_seconds())
        run_id = uuid.uuid4()
        self._tables.runs.append(_run(run_id, org_id, "in_progress", None, now, actor=actor))
        claim.running, claim.lease_expires_at = run_id, now + lease
        return Claimed(run_id=run_id)

    async def reject(self, org_id: UUID, message: str, *, actor: str | None) -> UUID:
        run = _run(uuid.uuid4(), org_id, "failed", message, self._clock.now(), actor=actor)
        self._tables.runs.append(attrs.evolve(run, duration_ms=0))
        return run.id

    async def renew(self, org_id: UUID, run_id: UUID, lease: timedelta) -> bool:
        claim = self._tables.claims.get(org_id)
        if claim is None or claim.running != run_id:
            return False
        claim.lease_expires_at = self._clock.now() + lease
        return True

    async def finish(self, org_id: UUID, run_id: UUID, outcome: SyncOutcome) -> SyncRun:
        fields = {
            "tool_id": outcome.tool_id,
            "docs_synced": outcome.docs_synced,
            "assistants_updated": outcome.assistants_updated,
            "files_uploaded": outcome.files_uploaded,
            "files_reused": outcome.files_reused,
            "files_deleted": outcome.files_deleted,
        }
        status = "success" if outcome.succeeded else "failed"
        run = self._close(run_id, status, outcome.error_message, fields)
        claim = self._tables.claims.get(org_id)
        if claim is not None and claim.running == run_id:
            claim.running = claim.lease_expires_at = None
            if outcome.succeeded:
                claim.last_success_at = self._clock.now()
        return run

    async def recent(self, org_id: UUID, limit: int) -> Sequence[SyncRun]:
        runs = [run for run in self._tables.runs if run.org_id == org_id]
        return runs[::-1][:limit]

    def _close(
        self, run_id: UUID, status: str, message: str | None, fields: Mapping[str, Any]
    ) -> SyncRun:
        """Close an in-progress run; a run closed already (taken over) stays as it was."""
        [(index, run)] = [(i, run) for i, run in enumerate(self._tables.runs) if run.id == run_id]
        if run.status == "in_progress":
            elapsed = self._clock.now() - run.created_at
            run = attrs.evolve(
                run,
                status=status,
                error_message=message,
                duration_ms=int(elapsed.total_seconds() * 1000),
                **fields,
            )
            self._tables.runs[index] = run
        return run


def _run(
    run_id: UUID,
    org_id: UUID,
    status: str,
    message: str | None,
    now: datetime,
    *,
    actor: str | None,
) -> SyncRun:
    return SyncRun(
        triggered_by=actor,
        id=run_id,
        org_id=org_id,
        status=status,
        error_message=message,
        tool_id=None,
        duration_ms=None,
        docs_synced=None,
        assistants_updated=None,
        created_at=now,
    )


@attrs.frozen
class _MemoryTransaction:
    documents: Documents
    changes: Changes
    agents: Agents
    integrations: Integrations
    sync_documents: SyncDocuments
    sync_runs: SyncRuns
    ledger: Ledger
    batches: DocumentBatches
    search: DocumentSearch


@attrs.define
class MemoryStore:
    """An in-memory ``Store``. ``add_agent`` and ``set_vapi_key`` stand in for host tables."""

    _tables: _Tables = attrs.field(factory=_Tables, init=False)
    _clock: _Clock = attrs.field(factory=_Clock, init=False)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SyncTransaction]:
        async with self._lock:
            working = copy.deepcopy(self._tables)
            yield self._on(working)
            self._tables = working

    def autocommit(self) -> AbstractAsyncContextManager[SyncTransaction]:
        """As ``transaction``: in memory every write is atomic anyway."""
        return self.transaction()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SyncTransaction]:
        """As ``transaction``, but whatever is written is thrown away."""
        async with self._lock:
            yield self._on(copy.deepcopy(self._tables))

    def _on(self, working: _Tables) -> _MemoryTransaction:
        documents = _MemoryDocuments(working, self._clock)
        return _MemoryTransaction(
            documents=documents,
            changes=_MemoryChanges(working),
            agents=_MemoryAgents(working),
            integrations=_MemoryIntegrations(working),
            sync_documents=_MemorySyncDocuments(working),
            sync_runs=_MemorySyncRuns(working, self._clock),
            ledger=MemoryLedger(working),
            batches=MemoryBatches(working, self._clock, documents),
            search=MemorySearch(working, documents),
        )

    def add_agent(
        self,
        org_id: UUID | str,
        *,
        role: str,
        vapi_assistant_id: str | None,
        agent_id: UUID | str | None = None,
    ) -> Assistant:
        """Register an agent, as a row of the host's ``agents`` table would."""
        assistant = Assistant(
            agent_id=uuid.uuid4() if agent_id is None else UUID(str(agent_id)),
            org_id=UUID(str(org_id)),
            role=role,
            vapi_assistant_id=vapi_assistant_id,
        )
        self._tables.agents.append(assistant)
        return assistant

    def advance_clock(self, delta: timedelta) -> None:
        """Move the store's clock forward, as time passing would (for tests of windows)."""
        self._clock.offset += delta

    def set_vapi_key(self, org_id: UUID | str, api_key: str) -> None:
        """Configure the org's Vapi key, as its ``vapi`` integration row would."""
        self._tables.vapi_keys[UUID(str(org_id))] = api_key
