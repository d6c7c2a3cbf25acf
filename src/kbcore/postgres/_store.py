"""PostgresStore: documents, passages, sync state and set-up on the host's asyncpg pool."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
import attrs

from kbcore._auto_sync import AutoSync, is_auto_sync
from kbcore._domain import ChangeDraft, Document, IdempotencyKey, NewDocument
from kbcore.postgres._connection import Db, OnConnection, OnPool, Transaction
from kbcore.postgres._export import export_documents
from kbcore.postgres._ranking import PostgresPassages
from kbcore.postgres._reads import PostgresReads
from kbcore.postgres._requests import PostgresSyncRequests
from kbcore.postgres._setup import PostgresSetupState
from kbcore.postgres._stats import PostgresSyncStats
from kbcore.postgres._sync import PostgresSyncState
from kbcore.postgres._writes import PostgresWrites


@attrs.define
class PostgresStore(
    PostgresReads,
    PostgresSyncState,
    PostgresSetupState,
    PostgresSyncRequests,
    PostgresSyncStats,
    PostgresPassages,
):
    """kbcore's store on a pool the host created; run ``migrate(pool)`` once first.

    An operation that is one statement runs on a pooled connection without BEGIN
    and COMMIT; a unit of work holds one pooled connection at READ COMMITTED until it
    ends. A failure surfaces as ``NotSaved`` or ``OutcomeUnknown``; the pool replaces a
    lost connection, and a call that meets one the server ended while it sat idle is
    repeated on a fresh one when that cannot write twice.

    Every document write marks its org for auto-sync (``AutoSync``) in its own
    transaction; ``auto_sync=None`` turns that off for this store.
    """

    _pool: asyncpg.Pool
    _auto_sync: AutoSync | None = attrs.field(
        factory=AutoSync, kw_only=True, validator=is_auto_sync
    )
    _read: Db = attrs.field(init=False, repr=False, eq=False)
    _write: Db = attrs.field(init=False, repr=False, eq=False)
    #: Every document write goes through a ``PostgresWrites``; a create through this one.
    _creates: PostgresWrites = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        self._read = OnPool(self._pool)
        # The server may commit a statement whose answer the lost connection ate.
        self._write = OnPool(self._pool, writes=True)
        self._creates = PostgresWrites(self._write, self._auto_sync)

    async def create(
        self, draft: NewDocument, change: ChangeDraft, *, key: IdempotencyKey | None = None
    ) -> Document:
        # One statement, atomic on its own: no BEGIN and COMMIT, one round trip.
        return await self._creates.create(draft, change, key=key)

    def export(
        self,
        org_id: UUID,
        *,
        include_inactive: bool,
        on_total: Callable[[int], None] | None = None,
    ) -> AsyncGenerator[Document, None]:
        # Batches sized by bytes, from one snapshot (_export.py).
        return export_documents(
            self._pool, org_id, include_inactive=include_inactive, on_total=on_total
        )

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[PostgresWrites]:
        async with Transaction(self._pool, self._unit_of_work) as writes:
            yield writes
            await writes.mark_edited_orgs()

    def _unit_of_work(self, db: OnConnection) -> PostgresWrites:
        return PostgresWrites(db, self._auto_sync)
