"""The fake's view of HTTP: requests, responses, NestJS error bodies, multipart forms."""

from __future__ import annotations

import http
import json
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import attrs
import httpx

__all__ = [
    "ASGIApp",
    "ConnectionDropped",
    "FakeRequest",
    "FakeResponse",
    "FormPart",
    "RecordedRequest",
    "conflict_error",
    "json_response",
    "nest_error",
    "parse_multipart",
]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class ConnectionDropped(httpx.RemoteProtocolError):
    """The fake closed the connection without answering.

    In process it reaches the client as the same ``httpx`` error a real
    dropped connection raises; ``serve_fake_vapi`` closes the socket instead.
    """

    def __init__(self) -> None:
        super().__init__("Server disconnected without sending a response.")


@attrs.frozen
class FakeRequest:
    """One request as the fake received it.

    ``path`` is as sent (still escaped); header names are in lower case.
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)

    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query)


@attrs.frozen
class FakeResponse:
    status: int
    body: bytes = attrs.field(repr=False)
    headers: tuple[tuple[str, str], ...] = ()

    def json(self) -> Any:
        return json.loads(self.body)

    def with_headers(self, *headers: tuple[str, str]) -> FakeResponse:
        return attrs.evolve(self, headers=(*self.headers, *headers))


@attrs.frozen
class RecordedRequest:
    """An entry of ``FakeVapi.requests``: what came in and what went out.

    ``headers`` leave out ``authorization``; ``status`` is ``None`` for a dropped connection.
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    status: int | None
    response_headers: Mapping[str, str] = attrs.field(repr=False)
    response_body: bytes = attrs.field(repr=False)

    def json(self) -> Any:
        """The request body decoded as JSON."""
        return json.loads(self.body)

    def response_json(self) -> Any:
        """The response body decoded as JSON."""
        return json.loads(self.response_body)


def json_response(status: int, payload: Any, *headers: tuple[str, str]) -> FakeResponse:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return FakeResponse(
        status, body, (("content-type", "application/json; charset=utf-8"), *headers)
    )


def nest_error(status: int, message: str | list[str], *, error: str | None = None) -> FakeResponse:
    """An error in NestJS's shape: ``{"message", "error", "statusCode"}``."""
    return json_response(
        status,
        {
            "message": message,
            "error": error or http.HTTPStatus(status).phrase,
            "statusCode": status,
        },
    )


def conflict_error(error: str, message: str) -> FakeResponse:
    """A 409 on ``/tool/{id}``: ``{error, message}``, without the statusCode other errors have."""
    return json_response(409, {"error": error, "message": message})


@attrs.frozen
class FormPart:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes = attrs.field(repr=False)


_PARAM = re.compile(r';\s*([\w*-]+)="((?:[^"\\]|\\.)*)"|;\s*([\w*-]+)=([^;]*)')
# What browsers and httpx escape in a quoted form parameter (the HTML5 form encoding).
_UNESCAPE = {"%22": '"', "%0D": "\r", "%0A": "\n", "\\\\": "\\"}


def _params(header: str) -> dict[str, str]:
    params = {}
    for match in _PARAM.finditer(header):
        if match.group(1):
            value = match.group(2)
            for escaped, plain in _UNESCAPE.items():
                value = value.replace(escaped, plain)
            params[match.group(1).lower()] = value
        else:
            params[match.group(3).lower()] = match.group(4).strip()
    return params


def parse_multipart(content_type: str, body: bytes) -> list[FormPart] | None:
    """The parts of a ``multipart/form-data`` body; ``None`` when it is not one."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    boundary = _params(content_type).get("boundary")
    if not boundary:
        return None
    delimiter = b"--" + boundary.encode()
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        return None
    parts = []
    for chunk in chunks[1:-1]:
        head, separator, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            return None
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = _params(headers.get("content-disposition", ""))
        if "name" not in disposition:
            return None
        parts.append(
            FormPart(
                name=disposition["name"],
                filename=disposition.get("filename"),
                content_type=headers.get("content-type"),
                data=data.removesuffix(b"\r\n"),
            )
        )
    return parts
