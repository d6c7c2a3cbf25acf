"""MemoryStore: documents and sync state in memory, for fast tests and downstream tests.

It behaves like ``PostgresStore`` where a caller can tell: org scoping, newest-first
keyset pages, rollback on an exception, reads that see only what was committed.
Writes run one at a time, which is stricter than PostgreSQL's row locks and never
weaker.
"""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType
from uuid import UUID

import anyio
import attrs

from kbcore._auto_sync import AutoSync, is_auto_sync
from kbcore._domain import Assistant, ChangeDraft, Document, IdempotencyKey, NewDocument
from kbcore.memory._passages import MemoryPassages
from kbcore.memory._reads import MemoryReads
from kbcore.memory._requests import MemorySyncRequests
from kbcore.memory._setup import MemorySetupState, add_agent
from kbcore.memory._stats import MemorySyncStats
from kbcore.memory._sync import MemorySyncState
from kbcore.memory._tables import Clock, Tables
from kbcore.memory._writes import MemoryWrites


@attrs.define
class MemoryStore(
    MemoryReads,
    MemorySyncState,
    MemorySetupState,
    MemorySyncRequests,
    MemorySyncStats,
    MemoryPassages,
):
    """kbcore's store in memory. ``add_agent`` and ``set_vapi_key`` stand in for host tables.

    Every document write marks its org for auto-sync (``AutoSync``), as PostgresStore's
    do; ``auto_sync=None`` turns that off.
    """

    _auto_sync: AutoSync | None = attrs.field(
        factory=AutoSync, kw_only=True, validator=is_auto_sync
    )

    _tables: Tables = attrs.field(factory=Tables, init=False, repr=False)
    _clock: Clock = attrs.field(factory=Clock, init=False, repr=False)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False, repr=False)

    async def create(
        self, draft: NewDocument, change: ChangeDraft, *, key: IdempotencyKey | None = None
    ) -> Document:
        async with self._lock:
            writes = MemoryWrites(self._tables, self._clock, self._auto_sync)
            return await writes.create(draft, change, key=key)

    def writing(self) -> _UnitOfWork:
        return _UnitOfWork(self)

    def add_agent(
        self,
        org_id: UUID | str,
        *,
        role: str,
        vapi_assistant_id: str | None,
        agent_id: UUID | str | None = None,
    ) -> Assistant:
        """Register an agent, as a row of the host's ``agents`` table would.

        The same as ``await store.insert_agent(...)``, without an event loop, for test set-ups.
        """
        wanted = None if agent_id is None else UUID(str(agent_id))
        return add_agent(self._tables, UUID(str(org_id)), role, vapi_assistant_id, wanted)

    def advance_clock(self, delta: timedelta) -> None:
        """Move the store's clock forward, as time passing would (for tests of windows)."""
        self._clock.offset += delta

    def set_vapi_key(self, org_id: UUID | str, api_key: str) -> None:
        """Configure the org's Vapi key, as its ``vapi`` integration row would."""
        self._tables.vapi_keys[UUID(str(org_id))] = api_key


class _UnitOfWork:
    """``async with store.writing() as writes:``: the store's lock and a copy of its tables.

    The copy replaces the store's tables on a normal exit and is dropped on an exception.
    """

    __slots__ = ("_store", "_working")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def __aenter__(self) -> MemoryWrites:
        await self._store._lock.acquire()
        self._working = self._store._tables.with_own_documents()
        return MemoryWrites(self._working, self._store._clock, self._store._auto_sync)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self._store._tables = self._working
        self._store._lock.release()
