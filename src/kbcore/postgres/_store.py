"""PostgresStore: the storage protocols on an asyncpg pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import anyio
import asyncpg
import attrs
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction as PgTransaction

from kbcore._ports import (
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
from kbcore.postgres._connection import Db, is_gone, unavailable_on_failure
from kbcore.postgres._host import PostgresAgents, PostgresIntegrations
from kbcore.postgres._reads import PostgresChanges, PostgresDocuments
from kbcore.postgres._search import PostgresSearch
from kbcore.postgres._sync import PostgresLedger, PostgresSyncDocuments, PostgresSyncRuns
from kbcore.postgres._writes import PostgresBatches

if TYPE_CHECKING:
    from kbcore.report import SyncStats


@attrs.frozen
class _PostgresTransaction:
    documents: Documents
    changes: Changes
    agents: Agents
    integrations: Integrations
    sync_documents: SyncDocuments
    sync_runs: SyncRuns
    ledger: Ledger
    batches: DocumentBatches
    search: DocumentSearch

    @classmethod
    def on(cls, db: Db) -> _PostgresTransaction:
        return cls(
            documents=PostgresDocuments(db),
            changes=PostgresChanges(db),
            agents=PostgresAgents(db),
            integrations=PostgresIntegrations(db),
            sync_documents=PostgresSyncDocuments(db),
            sync_runs=PostgresSyncRuns(db),
            ledger=PostgresLedger(db),
            batches=PostgresBatches(db),
            search=PostgresSearch(db),
        )


_MAYBE_SAVED = "the change may or may not have been saved"


@attrs.define
class PostgresStore:
    """A ``Store`` on a pool the host created; run ``migrate(pool)`` once first.

    Each transaction holds one pooled connection at READ COMMITTED until it ends.
    A lost connection surfaces as ``StoreUnavailable``; the pool replaces it.
    """

    _pool: asyncpg.Pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SyncTransaction]:
        async with self._connection() as conn:
            tx = conn.transaction(isolation="read_committed")
            with unavailable_on_failure(conn, "starting a transaction"):
                await tx.start()
            try:
                yield _PostgresTransaction.on(Db(conn))
            except BaseException:
                await _roll_back(conn, tx)
                raise
            # The server may have committed before the connection dropped.
            with unavailable_on_failure(conn, "committing", outcome=_MAYBE_SAVED):
                await tx.commit()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SyncTransaction]:
        """Statements on a pooled connection outside any transaction: two round trips fewer.

        Only for reads: a write would commit on its own, at once.
        """
        async with self._connection() as conn:
            yield _PostgresTransaction.on(Db(conn))

    async def sync_stats(self, *, since: datetime | timedelta, org_id: UUID | None) -> SyncStats:
        """The runbook's figures over ``kb_sync_log``, computed in one statement."""
        # Imported here: the report module sits above the store it reports on.
        from kbcore.postgres._stats import PostgresSyncStats

        return await PostgresSyncStats(self._pool).sync_stats(since=since, org_id=org_id)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[SyncTransaction]:
        """Statements that each commit on their own: one round trip for one atomic statement."""
        async with self._connection() as conn:
            # The server may have committed a statement whose answer the lost connection ate.
            yield _PostgresTransaction.on(Db(conn, _MAYBE_SAVED))

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnectionProxy]:
        with unavailable_on_failure(None, "connecting"):
            conn = await self._pool.acquire()
        try:
            yield conn
        finally:
            # Shielded: a cancelled caller must still hand the connection back.
            with anyio.CancelScope(shield=True):
                await self._pool.release(conn)


async def _roll_back(conn: PoolConnectionProxy, tx: PgTransaction) -> None:
    """Roll back, unless the connection is gone (the server has rolled back already).

    A failure here is not reported: the error that caused the rollback is the one
    the caller needs to see.
    """
    if is_gone(conn):
        return
    with (
        anyio.CancelScope(shield=True),
        suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError),
    ):
        await tx.rollback()
