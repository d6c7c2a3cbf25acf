"""The little of ASGI the server needs: reading a capped body, answering JSON, lifespan."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import attrs

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Scope = MutableMapping[str, Any]


class Disconnected(Exception):
    """The client went away before its request's body arrived."""


@attrs.frozen
class Response:
    status: int
    payload: Any
    headers: tuple[tuple[str, str], ...] = ()

    async def send(self, send: Send) -> None:
        body = json.dumps(self.payload, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((name.encode(), value.encode()) for name, value in self.headers),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def error(status: int, message: str, *headers: tuple[str, str]) -> Response:
    return Response(status, {"error": message}, headers)


def headers_of(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the last of repeated ones)."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }


def route_path(scope: Scope) -> str:
    """The path below where the app is mounted (``root_path``), as a router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def called_url(scope: Scope, headers: Mapping[str, str]) -> str:
    """The URL as the client called it: what an HMAC over ``{url}`` signed."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    host = headers.get("host", "")
    return f"{scope.get('scheme', 'http')}://{host}{path}" + (f"?{query}" if query else "")


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is longer than ``limit`` bytes."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start or stop: say so when the server asks."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
