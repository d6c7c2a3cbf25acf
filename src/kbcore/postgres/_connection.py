"""One transaction's connection, and the mapping of connection failures to StoreUnavailable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import attrs
from asyncpg.pool import PoolConnectionProxy

from kbcore.errors import StoreUnavailable

#: Failures that say the server or the connection to it is gone, not that a query was wrong.
_LOST = (
    asyncpg.PostgresConnectionError,  # includes ConnectionDoesNotExistError
    asyncpg.exceptions.OperatorInterventionError,  # query canceled, admin shutdown, crash
    asyncpg.exceptions.LockNotAvailableError,  # lock_timeout: the write gave up waiting
    asyncpg.exceptions.TooManyConnectionsError,
    OSError,  # refused, reset, unreachable, timed out
)


@contextmanager
def unavailable_on_failure(
    conn: PoolConnectionProxy | None, doing: str, *, outcome: str = "nothing was saved"
) -> Iterator[None]:
    """Turn a lost connection into ``StoreUnavailable``; let query errors through.

    ``outcome`` tells the reader what became of the transaction's writes.
    """
    message = f"The database connection failed while {doing}; {outcome}"
    try:
        yield
    except _LOST as exc:
        if isinstance(exc, asyncpg.PostgresError):
            # The server answered with an error, so the statement (and with it any
            # transaction) was rolled back: whatever ``outcome`` feared did not happen.
            raise StoreUnavailable(
                f"The database stopped the statement while {doing}; nothing was saved"
            ) from exc
        raise StoreUnavailable(message) from exc
    except asyncpg.InterfaceError as exc:
        # The same class also reports misuse (an operation already in progress); only
        # a closed connection means the database went away.
        if conn is not None and is_gone(conn):
            raise StoreUnavailable(message) from exc
        raise


def is_gone(conn: PoolConnectionProxy) -> bool:
    """Whether the connection has closed under us."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        # The pool detaches a proxy from its connection when the connection closes.
        return True


@attrs.frozen
class Db:
    """The queries a repository runs, each one mapped for connection failures."""

    conn: PoolConnectionProxy
    #: What a lost connection means for the writes made through this ``Db``.
    outcome: str = "nothing was saved"

    async def execute(self, query: str, *args: Any) -> str:
        with unavailable_on_failure(self.conn, "running a query", outcome=self.outcome):
            return await self.conn.execute(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        with unavailable_on_failure(self.conn, "running a query", outcome=self.outcome):
            return await self.conn.fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        with unavailable_on_failure(self.conn, "running a query", outcome=self.outcome):
            return await self.conn.fetch(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        with unavailable_on_failure(self.conn, "running a query", outcome=self.outcome):
            return await self.conn.fetchval(query, *args)
