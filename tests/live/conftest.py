"""Fixtures of the live-knowledge tests: a server on each store, and an org attached to it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from uuid import UUID

import httpx
import pytest
import structlog

import kbcore.logging
from kbcore._ports import Store
from kbcore.live import LiveKnowledgeServer, ServerSecret, attach_live_knowledge

#: Where the tests' in-process server is reached (httpx's ASGI transport ignores the host).
SERVER_URL = "http://live.test"


@pytest.fixture
def server_secret() -> ServerSecret:
    return ServerSecret("a-server-secret-of-forty-characters-1234")


@pytest.fixture
def live_server(kbcore_store: Store, server_secret: ServerSecret) -> LiveKnowledgeServer:
    """A live-knowledge server on ``kbcore_store``."""
    return LiveKnowledgeServer(kbcore_store, server_secret)


@pytest.fixture
async def live_http(live_server: LiveKnowledgeServer) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` that sends every request to ``live_server``, in process."""
    transport = httpx.ASGITransport(app=live_server)
    async with httpx.AsyncClient(transport=transport, base_url=SERVER_URL) as client:
        yield client


@pytest.fixture
async def live_org(
    kbcore_org: UUID,
    kbcore_store: Store,
    server_secret: ServerSecret,
    fake_vapi_http: httpx.AsyncClient,
) -> UUID:
    """``kbcore_org`` with its two assistants pointed at the server."""
    await attach_live_knowledge(
        kbcore_store,
        kbcore_org,
        server_url=SERVER_URL,
        secret=server_secret,
        http_client=fake_vapi_http,
    )
    return kbcore_org


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything kbcore logs during the test, at DEBUG, as JSON lines."""
    stream = io.StringIO()
    kbcore.logging.configure("DEBUG", json=True, stream=stream)
    yield stream
    structlog.reset_defaults()
