"""A loopback TCP proxy in front of PostgreSQL that loses answers and cuts connections.

It passes the wire protocol through, reading just enough of it (the framing of each
message, and the SQL of each request) for a test to say which request to hurt:

- ``LOSE_ANSWER``: the request reaches the server, which does the work (and commits,
  for a COMMIT or a statement outside a transaction); its answer, up to ReadyForQuery
  (or the start of a COPY), is swallowed and both connections close. The client never
  hears of it.
- ``CUT``: the request never reaches the server; both connections close.
- ``TERMINATE``: the server answers the request, then ends the session as
  ``pg_terminate_backend`` does: a FATAL error (57P01), sent with the answer's last
  message, and a closed connection. The client hears of the close only when it sends
  its next message or closes itself: a server's close can reach a client that late,
  after the client has read the error while idle.

A request is what a client sends up to a Sync or a simple Query. Clients connect
without TLS (``sslmode=disable``), so that the proxy can read what passes.
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from urllib.parse import parse_qs, urlsplit, urlunsplit

import anyio
import attrs

#: Messages after which a client waits for the server (or streams COPY data): the proxy
#: forwards what it holds when one passes.
_FLUSHES = frozenset(b"SQHXdcf")
#: The messages that end a request, where a fault may strike.
_REQUEST_ENDS = frozenset(b"SQ")
#: The server's messages that end its answer: ReadyForQuery, or CopyInResponse (it then
#: waits for the client's data).
_ANSWER_ENDS = frozenset(b"ZG")
_GONE = (asyncio.IncompleteReadError, OSError)


def _error_response(*fields: tuple[bytes, str]) -> bytes:
    body = b"".join(code + text.encode() + b"\0" for code, text in fields) + b"\0"
    return b"E" + (len(body) + 4).to_bytes(4, "big") + body


#: What the server sends a session that ``pg_terminate_backend`` ends, before closing it.
_TERMINATED = _error_response(
    (b"S", "FATAL"),
    (b"V", "FATAL"),
    (b"C", "57P01"),
    (b"M", "terminating connection due to administrator command"),
)

Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class Action(enum.Enum):
    LOSE_ANSWER = "lose the answer"
    CUT = "cut before sending"
    TERMINATE = "terminate the session after answering"


@attrs.define
class Rule:
    """Hurt requests whose SQL contains ``text``: after sparing the first ``after``,
    ``times`` of them (None: all), each with probability ``chance`` drawn from ``rng``."""

    action: Action
    text: str
    times: int | None = 1
    after: int = 0
    chance: float = 1.0
    rng: random.Random = attrs.field(factory=lambda: random.Random(0))

    def strikes(self, sql: str) -> bool:
        if self.times == 0 or self.text not in sql:
            return False
        if self.after > 0:
            self.after -= 1
            return False
        if self.chance < 1.0 and self.rng.random() >= self.chance:
            return False
        if self.times is not None:
            self.times -= 1
        return True


@attrs.define
class PgProxy:
    """The proxy's rules, what it did, and the DSN that reaches the server through it."""

    dsn: str
    rules: list[Rule] = attrs.Factory(list)
    #: Each request hurt: the action and the request's SQL.
    hurt: list[tuple[Action, str]] = attrs.Factory(list)

    def lose_answer_to(self, text: str, *, times: int | None = 1, after: int = 0) -> None:
        self.rules.append(Rule(Action.LOSE_ANSWER, text, times, after))

    def cut_before(self, text: str, *, times: int | None = 1, after: int = 0) -> None:
        self.rules.append(Rule(Action.CUT, text, times, after))

    def terminate_after(self, text: str, *, times: int | None = 1, after: int = 0) -> None:
        self.rules.append(Rule(Action.TERMINATE, text, times, after))

    def fault_for(self, sql: str) -> Action | None:
        for rule in self.rules:
            if rule.strikes(sql):
                self.hurt.append((rule.action, sql))
                return rule.action
        return None


@asynccontextmanager
async def pg_proxy(server_dsn: str) -> AsyncIterator[PgProxy]:
    """A proxy on a free loopback port in front of the server of ``server_dsn``.

    asyncio's own streams carry the bytes: they close cleanly under a pending read.
    """
    connect = _upstream(server_dsn)
    async with anyio.create_task_group() as relays:

        def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            relays.start_soon(_relay, proxy, reader, writer, connect)

        listener = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        proxy = PgProxy(dsn=_through(server_dsn, port))
        try:
            async with listener:
                yield proxy
        finally:
            relays.cancel_scope.cancel()


async def _relay(
    proxy: PgProxy,
    client_in: asyncio.StreamReader,
    client_out: asyncio.StreamWriter,
    connect: Connect,
) -> None:
    server_in, server_out = await connect()
    swallowing = anyio.Event()
    terminating = anyio.Event()
    terminated = anyio.Event()

    async def to_server() -> None:
        server_out.write(await _startup(client_in))
        statements: dict[bytes, str] = {}
        held = bytearray()
        sql = ""
        while True:
            kind, message = await _message(client_in)
            if terminated.is_set():
                return
            sql = _sql_of(kind, message, statements) or sql
            held += message
            if kind not in _FLUSHES:
                continue
            fault = proxy.fault_for(sql) if kind in _REQUEST_ENDS else None
            if fault is Action.CUT:
                return
            if fault is Action.LOSE_ANSWER:
                swallowing.set()
            if fault is Action.TERMINATE:
                terminating.set()
            server_out.write(bytes(held))
            await server_out.drain()
            held.clear()

    async def to_client() -> None:
        while True:
            kind, message = await _message(server_in)
            if swallowing.is_set():
                if kind in _ANSWER_ENDS:
                    return
                continue
            if terminating.is_set() and kind in _ANSWER_ENDS:
                # One write, so that the client reads the error with the answer.
                client_out.write(message + _TERMINATED)
                await client_out.drain()
                server_out.close()
                terminated.set()
                await anyio.sleep_forever()
            client_out.write(message)
            await client_out.drain()

    try:
        async with anyio.create_task_group() as link:

            async def until_either_ends(side: Callable[[], Awaitable[None]]) -> None:
                with suppress(*_GONE):
                    await side()
                link.cancel_scope.cancel()

            link.start_soon(until_either_ends, to_server)
            link.start_soon(until_either_ends, to_client)
    finally:
        client_out.close()
        server_out.close()


async def _startup(reader: asyncio.StreamReader) -> bytes:
    """The client's first message, which has a length and no type."""
    header = await reader.readexactly(4)
    return header + await reader.readexactly(int.from_bytes(header, "big") - 4)


async def _message(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = await reader.readexactly(5)
    body = await reader.readexactly(int.from_bytes(header[1:], "big") - 4)
    return header[0], header + body


def _sql_of(kind: int, message: bytes, statements: dict[bytes, str]) -> str | None:
    """The SQL a Parse, Bind or Query message is about."""
    fields = message[5:].split(b"\0")
    if kind == ord("P"):
        statements[fields[0]] = fields[1].decode()
        return statements[fields[0]]
    if kind == ord("B"):
        return statements.get(fields[1])
    if kind == ord("Q"):
        return fields[0].decode()
    return None


def _upstream(dsn: str) -> Connect:
    """How to reach the server of ``dsn``: over TCP, or its Unix socket."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    if host.startswith("/"):
        path = f"{host}/.s.PGSQL.{port}"
        return lambda: asyncio.open_unix_connection(path)
    return lambda: asyncio.open_connection(host, port)


def _through(dsn: str, port: int) -> str:
    """``dsn`` with its host replaced by the proxy's, without TLS."""
    parts = urlsplit(dsn)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    return urlunsplit(("postgresql", netloc, parts.path, "sslmode=disable", ""))
