"""Statements on the host's pool and transactions, with their failures as kbcore errors.

``Db`` is where every statement kbcore sends goes through: ``OnPool`` runs each one
on a pooled connection of its own (a statement is atomic by itself, so a one-statement
operation needs no BEGIN and COMMIT), ``OnConnection`` runs them on the connection of a
``Transaction``. Every failure of asyncpg leaves here as ``NotSaved`` or
``OutcomeUnknown`` (see ``_failures``).

A pooled connection that the server ended while it sat idle is only found out when it
is next used. That use is repeated on another connection where repeating cannot write
twice: a read, a BEGIN, and a write that never left.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
import asyncpg
import attrs
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction as PgTransaction

from kbcore.logging import get_logger
from kbcore.postgres._failures import FAILURES, Failure, failure_of, store_error, unreachable

T = TypeVar("T")

log = get_logger()


class mapped_failures:  # lower case: it reads as the function it replaced
    """Turn whatever asyncpg raises into ``NotSaved`` or ``OutcomeUnknown``.

    A plain class rather than a generator: it wraps every statement of a transaction.
    """

    __slots__ = ("_doing", "_may_commit")

    def __init__(self, doing: str, *, may_commit: bool = False) -> None:
        self._doing = doing
        self._may_commit = may_commit

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, FAILURES):
            raise store_error(exc, doing=self._doing, may_commit=self._may_commit) from exc


def is_gone(conn: PoolConnectionProxy) -> bool:
    """Whether the connection has closed under us."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        # The pool detaches a proxy from its connection when the connection closes.
        return True


async def acquire(pool: asyncpg.Pool) -> PoolConnectionProxy:
    """A connection from the pool; ``NotSaved`` when none can be had."""
    try:
        return await pool.acquire()
    except FAILURES as error:
        raise unreachable(error) from error


async def release(pool: asyncpg.Pool, conn: PoolConnectionProxy) -> None:
    """Hand the connection back to the pool, whatever became of it.

    When the pool's reset of the connection fails, asyncpg closes it and the pool opens
    another one later; what was done on it is settled either way (committed, or rolled
    back with the session), so the caller is not told.

    Shielded from cancellation, so that the caller waits for the release and hears how
    it ended. asyncpg shields the release itself (``asyncio.shield``), but a cancelled
    caller stops waiting for it: the release runs on, and when its reset then fails (the
    connection died meanwhile), the error has nobody to go to but the event loop's
    exception handler, untyped.
    """
    with anyio.CancelScope(shield=True):
        try:
            await pool.release(conn)
        except FAILURES as error:
            log.debug("kbcore.postgres.release_failed", error_type=type(error).__name__)


_Call = Callable[[PoolConnectionProxy], Awaitable[T]]


class Db:
    """The statements a repository runs, each one mapped for failures.

    Each method hands back ``_run``'s coroutine rather than awaiting it in one of its
    own: a statement's answer then passes through one frame fewer on its way up.
    """

    __slots__ = ()

    def execute(self, query: str, *args: Any) -> Awaitable[str]:
        return self._run(lambda conn: conn.execute(query, *args))

    def fetch(self, query: str, *args: Any) -> Awaitable[list[asyncpg.Record]]:
        return self._run(lambda conn: conn.fetch(query, *args))

    def fetchrow(self, query: str, *args: Any) -> Awaitable[asyncpg.Record | None]:
        return self._run(lambda conn: conn.fetchrow(query, *args))

    def fetchval(self, query: str, *args: Any) -> Awaitable[Any]:
        return self._run(lambda conn: conn.fetchval(query, *args))

    def _run(self, call: _Call[T]) -> Awaitable[T]:
        raise NotImplementedError


@attrs.frozen
class OnConnection(Db):
    """Statements on one connection, a transaction's: none of them commits by itself."""

    conn: PoolConnectionProxy

    async def _run(self, call: _Call[T]) -> T:
        with mapped_failures("running a query"):
            return await call(self.conn)


@attrs.frozen
class OnPool(Db):
    """Each statement on a pooled connection of its own, without BEGIN and COMMIT.

    For operations that are one statement, atomic by itself: two round trips fewer
    than a transaction.
    """

    pool: asyncpg.Pool
    #: Whether the statements write: then each commits by itself, and a lost answer
    #: leaves the outcome unknown.
    writes: bool = False

    def _run(self, call: _Call[T]) -> Awaitable[T]:
        return on_fresh_connection(self.pool, call, doing="running a query", writes=self.writes)


async def on_fresh_connection(
    pool: asyncpg.Pool, call: _Call[T], *, doing: str, writes: bool, keep: bool = False
) -> T:
    """``call`` on a pooled connection; on another one for each that turns out dead.

    A connection is tried again when it turns out closed and the request either never
    left or changes nothing (``writes`` is false). The server may have ended every pooled
    connection at once (a restart), so up to one more than the pool holds are tried; each
    dead one leaves the pool. With ``keep`` the connection stays out of the pool after a
    success, for the caller to release.
    """
    attempts = pool.get_max_size() + 1
    for attempt in range(1, attempts + 1):
        conn = await acquire(pool)
        try:
            result = await call(conn)
        except FAILURES as error:
            # Asked before the release, which detaches ``conn`` (it then looks closed).
            repeatable = _dead_and_repeatable(error, conn, writes=writes)
            await release(pool, conn)
            if attempt < attempts and repeatable:
                log.debug("kbcore.postgres.retried", doing=doing, error_type=type(error).__name__)
                continue
            raise store_error(error, doing=doing, may_commit=writes) from error
        except BaseException:
            await release(pool, conn)
            raise
        if not keep:
            await release(pool, conn)
        return result
    raise AssertionError("unreachable: the last attempt returns or raises")


def _dead_and_repeatable(error: BaseException, conn: PoolConnectionProxy, *, writes: bool) -> bool:
    return is_gone(conn) and (not writes or failure_of(error) is Failure.NOT_SENT)


class Transaction(Generic[T]):
    """``async with Transaction(pool, Repository) as repository:``: one pooled connection.

    The transaction runs at READ COMMITTED (or, with ``snapshot``, read-only at
    REPEATABLE READ: every statement reads the first one's snapshot) and hands its
    statements (an ``OnConnection``) to ``opened``, whose result is what the ``async with``
    gives. It commits on a normal
    exit and rolls back on an exception. A failed COMMIT is ``NotSaved``, or
    ``OutcomeUnknown`` when its answer was lost.
    """

    __slots__ = ("_begin", "_conn", "_opened", "_pool", "_tx")

    def __init__(
        self, pool: asyncpg.Pool, opened: Callable[[OnConnection], T], *, snapshot: bool = False
    ) -> None:
        self._pool = pool
        self._opened = opened
        self._begin = _begin_snapshot if snapshot else _begin

    async def __aenter__(self) -> T:
        self._conn, self._tx = await on_fresh_connection(
            self._pool, self._begin, doing="starting a transaction", writes=False, keep=True
        )
        return self._opened(OnConnection(self._conn))

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
            await release(self._pool, conn)
            return
        try:
            # The server may have committed before the connection dropped.
            with mapped_failures("committing", may_commit=True):
                await self._tx.commit()
        finally:
            await release(self._pool, conn)


async def _begin(conn: PoolConnectionProxy) -> tuple[PoolConnectionProxy, PgTransaction]:
    """BEGIN on ``conn``, which stays out of the pool until the transaction ends."""
    tx = conn.transaction(isolation="read_committed")
    await tx.start()
    return conn, tx


async def _begin_snapshot(conn: PoolConnectionProxy) -> tuple[PoolConnectionProxy, PgTransaction]:
    """As ``_begin``, read-only at REPEATABLE READ."""
    tx = conn.transaction(isolation="repeatable_read", readonly=True)
    await tx.start()
    return conn, tx


def transaction(pool: asyncpg.Pool, *, snapshot: bool = False) -> Transaction[OnConnection]:
    """``async with transaction(pool) as db:``: statements in one transaction.

    With ``snapshot``, a read-only one whose statements all read one snapshot.
    """
    return Transaction(pool, _itself, snapshot=snapshot)


def _itself(db: OnConnection) -> OnConnection:
    return db


async def _roll_back(conn: PoolConnectionProxy, tx: PgTransaction) -> None:
    """Roll back, unless the connection is gone (the server has rolled back already).

    A failure here is not reported: the error that caused the rollback is the one
    the caller needs to see.
    """
    if is_gone(conn):
        return
    with suppress(*FAILURES):
        await tx.rollback()
