"""Counting round trips to PostgreSQL: a TCP proxy that sees who speaks when.

A round trip is the client speaking after the server answered: each time bytes from
the client follow bytes from the server on one connection, the count goes up by one.
Pipelined messages (asyncpg's Parse, Bind, Execute and Sync in one write) count once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import attrs


@attrs.define
class RoundTrips:
    """The proxy's count; ``counting`` is off while pools connect and warm up."""

    count: int = 0
    counting: bool = False


@attrs.define
class _Turns:
    server_spoke: bool = True


@asynccontextmanager
async def counting_proxy(dsn: str) -> AsyncIterator[tuple[str, RoundTrips]]:
    """A DSN that reaches ``dsn``'s server through the proxy, and the proxy's count."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    # A server on a Unix socket (as the embedded one is) says so in ?host=/directory.
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    trips = RoundTrips()

    async def upstream() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if host.startswith("/"):
            return await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        return await asyncio.open_connection(host, port)

    async def pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, turns: _Turns, *, client: bool
    ) -> None:
        with suppress(ConnectionError):
            while data := await reader.read(1 << 16):
                if client and turns.server_spoke and trips.counting:
                    trips.count += 1
                turns.server_spoke = not client
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await upstream()
        turns = _Turns()
        await asyncio.gather(
            pump(reader, upstream_writer, turns, client=True),
            pump(upstream_reader, writer, turns, client=False),
        )

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    proxy_port = server.sockets[0].getsockname()[1]
    user = parts.username or "postgres"
    netloc = f"{user}:{parts.password}@" if parts.password else f"{user}@"
    rest = urlencode({k: v for k, v in query.items() if k not in ("host", "port")}, doseq=True)
    proxied = parts._replace(netloc=f"{netloc}127.0.0.1:{proxy_port}", query=rest)
    try:
        yield urlunsplit(proxied), trips
    finally:
        server.close()
