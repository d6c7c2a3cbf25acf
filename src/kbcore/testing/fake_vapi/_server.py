"""A minimal HTTP/1.1 server on loopback, so end-to-end tests use real sockets.

Keep-alive, ``Content-Length`` bodies, one request at a time per connection:
what ``httpx`` needs and no more. A ``ConnectionDropped`` from the app closes
the socket without an answer, as a crashed or overloaded server would.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote

import anyio
import anyio.abc
import h11

from kbcore.testing.fake_vapi._http import ASGIApp, ConnectionDropped, Message

__all__ = ["serve_fake_vapi"]

_MAX_RECEIVE = 65536


@asynccontextmanager
async def serve_fake_vapi(app: ASGIApp, *, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``app`` on a free port of ``host`` while the block runs; yields the base URL."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, functools.partial(_serve_connection, app))
        try:
            yield f"http://{host}:{port}"
        finally:
            tasks.cancel_scope.cancel()


async def _serve_connection(app: ASGIApp, stream: anyio.abc.SocketStream) -> None:
    connection = h11.Connection(h11.SERVER)
    # ASGI's ``client``: which connection a request came on.
    client = stream.extra(anyio.abc.SocketAttribute.remote_address)  # noqa: S610 (anyio)
    async with stream:
        while True:
            event = await _next_event(connection, stream)
            if not isinstance(event, h11.Request):
                return
            body = await _read_body(connection, stream)
            if body is None:
                return
            try:
                status, headers, payload = await _call_app(app, event, body, client)
            except ConnectionDropped:
                return
            try:
                await _respond(connection, stream, status, headers, payload)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return  # the client gave up waiting (a timeout) and closed its end
            if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                return
            connection.start_next_cycle()


async def _respond(
    connection: h11.Connection,
    stream: anyio.abc.SocketStream,
    status: int,
    headers: list[tuple[bytes, bytes]],
    payload: bytes,
) -> None:
    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(payload)).encode()))
    await stream.send(connection.send(h11.Response(status_code=status, headers=headers)))
    await stream.send(connection.send(h11.Data(data=payload)))
    await stream.send(connection.send(h11.EndOfMessage()))


async def _next_event(connection: h11.Connection, stream: anyio.abc.SocketStream) -> Any:
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError:
            return None
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await stream.receive(_MAX_RECEIVE)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = b""
        connection.receive_data(data)


async def _read_body(connection: h11.Connection, stream: anyio.abc.SocketStream) -> bytes | None:
    chunks = []
    while True:
        event = await _next_event(connection, stream)
        if isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            return None


async def _call_app(
    app: ASGIApp, request: h11.Request, body: bytes, client: object
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    raw_path, _, query = bytes(request.target).partition(b"?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method.decode("ascii"),
        "scheme": "http",
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query,
        "headers": [(bytes(k).lower(), bytes(v)) for k, v in request.headers],
        "client": list(client) if isinstance(client, tuple) else None,
    }
    received = False
    status, headers, chunks = 500, [], []

    async def receive() -> Message:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, headers, b"".join(chunks)
