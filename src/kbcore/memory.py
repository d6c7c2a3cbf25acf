"""MemoryStore: the storage protocols in memory, for fast tests and downstream tests.

It behaves like ``PostgresStore`` where a caller can tell: org scoping,
newest-first keyset pages, rollback on an exception. Transactions run one at a
time, which is stricter than PostgreSQL's row locks and never weaker.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import anyio
import attrs

from kbcore._memory_bulk import MemoryBatches
from kbcore._memory_search import MemorySearch
from kbcore._memory_sync import Claim, MemoryLedger, MemorySyncDocuments, MemorySyncRuns
from kbcore.domain import (
    Assistant,
    Change,
    ChangeDraft,
    Document,
    DocumentState,
    LedgerFile,
    LedgerTool,
    NewDocument,
    PageKey,
    Secret,
    SyncRun,
    ToolIntent,
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

if TYPE_CHECKING:
    from kbcore.report import SyncStats

__all__ = ["MemoryStore"]


@attrs.define
class _Tables:
    documents: dict[UUID, Document] = attrs.Factory(dict)
    changes: list[Change] = attrs.Factory(list)
    agents: list[Assistant] = attrs.Factory(list)
    vapi_keys: dict[UUID, str] = attrs.Factory(dict)
    claims: dict[UUID, Claim] = attrs.Factory(dict)
    runs: list[SyncRun] = attrs.Factory(list)
    files: dict[tuple[UUID, str], list[LedgerFile]] = attrs.Factory(dict)
    tools: dict[UUID, list[LedgerTool]] = attrs.Factory(dict)
    tool_intents: dict[UUID, list[ToolIntent]] = attrs.Factory(dict)


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

    async def sync_stats(self, *, since: datetime | timedelta, org_id: UUID | None) -> SyncStats:
        """The runbook's figures over the audit rows, computed in Python (UTC days)."""
        from kbcore.report import stats_of_runs

        until = self._clock.now()
        start = until - since if isinstance(since, timedelta) else since
        runs = [
            run
            for run in self._tables.runs
            if run.created_at > start and (org_id is None or run.org_id == org_id)
        ]
        return stats_of_runs(runs, since=start, until=until, org_id=org_id)

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
            sync_documents=MemorySyncDocuments(working),
            sync_runs=MemorySyncRuns(working, self._clock),
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
