"""Statements on the host's pool, transactions, and connection failures as StoreUnavailable.

``Db`` is where every statement kbcore sends goes through: ``OnPool`` runs each one
on a pooled connection of its own (a statement is atomic by itself, so a one-statement
operation needs no BEGIN and COMMIT), ``OnConnection`` runs them on the connection of a
``Transaction``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
import asyncpg
import attrs
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction as PgTransaction

from kbcore.errors import StoreUnavailable

T = TypeVar("T")

#: Failures that say the server or the connection to it is gone, not that a query was wrong.
_LOST = (
    asyncpg.PostgresConnectionError,  # includes ConnectionDoesNotExistError
    asyncpg.exceptions.OperatorInterventionError,  # query canceled, admin shutdown, crash
    asyncpg.exceptions.LockNotAvailableError,  # lock_timeout: the write gave up waiting
    asyncpg.exceptions.TooManyConnectionsError,
    OSError,  # refused, reset, unreachable, timed out
)

#: What became of the writes when a connection failed, as the error's message says it.
NOTHING_SAVED = "nothing was saved"
MAYBE_SAVED = "the change may or may not have been saved"


def unavailable(
    error: BaseException, conn: PoolConnectionProxy | None, doing: str, outcome: str
) -> StoreUnavailable | None:
    """The ``StoreUnavailable`` that a failure stands for, or None for a query's own error.

    ``outcome`` tells the reader what became of the writes made so far.
    """
    if isinstance(error, asyncpg.PostgresError) and isinstance(error, _LOST):
        # The server answered with an error, so the statement (and with it any
        # transaction) was rolled back: whatever ``outcome`` feared did not happen.
        return StoreUnavailable(
            f"The database stopped the statement while {doing}; {NOTHING_SAVED}"
        )
    # InterfaceError also reports misuse (an operation already in progress); only a
    # closed connection means the database went away.
    if isinstance(error, _LOST) or (conn is not None and is_gone(conn)):
        return StoreUnavailable(f"The database connection failed while {doing}; {outcome}")
    return None


@contextmanager
def unavailable_on_failure(
    conn: PoolConnectionProxy | None, doing: str, *, outcome: str = NOTHING_SAVED
) -> Iterator[None]:
    """Turn a lost connection into ``StoreUnavailable``; let query errors through."""
    try:
        yield
    except (*_LOST, asyncpg.InterfaceError) as error:
        mapped = unavailable(error, conn, doing, outcome)
        if mapped is None:
            raise
        raise mapped from error


def is_gone(conn: PoolConnectionProxy) -> bool:
    """Whether the connection has closed under us."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        # The pool detaches a proxy from its connection when the connection closes.
        return True


async def acquire(pool: asyncpg.Pool) -> PoolConnectionProxy:
    """A connection from the pool; ``StoreUnavailable`` when none can be had."""
    try:
        return await pool.acquire()
    except _LOST as error:
        raise StoreUnavailable(
            f"The database connection failed while connecting; {NOTHING_SAVED}"
        ) from error


_Call = Callable[[PoolConnectionProxy], Awaitable[T]]


class Db:
    """The statements a repository runs, each one mapped for connection failures."""

    __slots__ = ()

    async def execute(self, query: str, *args: Any) -> str:
        return await self._run(lambda conn: conn.execute(query, *args))

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run(lambda conn: conn.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self._run(lambda conn: conn.fetchrow(query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._run(lambda conn: conn.fetchval(query, *args))

    async def _run(self, call: _Call[T]) -> T:
        raise NotImplementedError


@attrs.frozen
class OnConnection(Db):
    """Statements on one connection, a transaction's."""

    conn: PoolConnectionProxy
    #: What a lost connection means for the writes made through this ``Db``.
    outcome: str = NOTHING_SAVED

    async def _run(self, call: _Call[T]) -> T:
        return await _statement(self.conn, self.outcome, call)


@attrs.frozen
class OnPool(Db):
    """Each statement on a pooled connection of its own, without BEGIN and COMMIT.

    For operations that are one statement, atomic by itself: two round trips fewer
    than a transaction.
    """

    pool: asyncpg.Pool
    #: What a lost connection means for the statement: a write's answer may be lost.
    outcome: str = NOTHING_SAVED

    async def _run(self, call: _Call[T]) -> T:
        conn = await acquire(self.pool)
        try:
            return await _statement(conn, self.outcome, call)
        finally:
            # No shield needed: asyncpg shields the release from cancellation itself.
            await self.pool.release(conn)


async def _statement(conn: PoolConnectionProxy, outcome: str, call: _Call[T]) -> T:
    try:
        return await call(conn)
    except (*_LOST, asyncpg.InterfaceError) as error:
        mapped = unavailable(error, conn, "running a query", outcome)
        if mapped is None:
            raise
        raise mapped from error


class Transaction(Generic[T]):
    """``async with Transaction(pool, Repository) as repository:``: one pooled connection.

    The transaction runs at READ COMMITTED and hands its statements (an ``OnConnection``)
    to ``opened``, whose result is what the ``async with`` gives. It commits on a normal
    exit and rolls back on an exception; a lost connection surfaces as ``StoreUnavailable``.
    """

    __slots__ = ("_conn", "_opened", "_pool", "_tx")

    def __init__(self, pool: asyncpg.Pool, opened: Callable[[OnConnection], T]) -> None:
        self._pool = pool
        self._opened = opened

    async def __aenter__(self) -> T:
        self._conn = conn = await acquire(self._pool)
        self._tx = conn.transaction(isolation="read_committed")
        try:
            with unavailable_on_failure(conn, "starting a transaction"):
                await self._tx.start()
        except BaseException:
            await self._pool.release(conn)
            raise
        return self._opened(OnConnection(conn))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        conn = self._conn
        if exc is not None:
            # Shielded: a cancelled caller must still roll back and hand the connection back.
            with anyio.CancelScope(shield=True):
                await _roll_back(conn, self._tx)
                await self._pool.release(conn)
            return
        try:
            # The server may have committed before the connection dropped.
            with unavailable_on_failure(conn, "committing", outcome=MAYBE_SAVED):
                await self._tx.commit()
        finally:
            await self._pool.release(conn)


def transaction(pool: asyncpg.Pool) -> Transaction[OnConnection]:
    """``async with transaction(pool) as db:``: statements in one transaction."""
    return Transaction(pool, _itself)


def _itself(db: OnConnection) -> OnConnection:
    return db


async def _roll_back(conn: PoolConnectionProxy, tx: PgTransaction) -> None:
    """Roll back, unless the connection is gone (the server has rolled back already).

    A failure here is not reported: the error that caused the rollback is the one
    the caller needs to see.
    """
    if is_gone(conn):
        return
    with suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        await tx.rollback()
