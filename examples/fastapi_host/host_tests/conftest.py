"""The backend served by uvicorn on loopback, on a throwaway database and a fake Vapi."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import asyncpg
import httpx
import pytest
import uvicorn
from host import create_app

import kbcore
from kbcore.live import ServerSecret
from kbcore.postgres import PostgresStore

API_TOKEN = "host-api-token"
LIVE_SECRET = ServerSecret("the-live-knowledge-secret-of-the-tests")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """asyncio, as kbcore's plugin says: this file's fixtures take precedence over anyio's."""
    return "asyncio"


@pytest.fixture
def live_secret() -> ServerSecret:
    """The server secret the mounted live-knowledge server derives each org's from."""
    return LIVE_SECRET


@pytest.fixture
async def base_url(
    kbcore_pool: asyncpg.Pool, fake_vapi_http: httpx.AsyncClient
) -> AsyncIterator[str]:
    """The backend's URL on 127.0.0.1, served by uvicorn while the test runs."""
    store = PostgresStore(kbcore_pool)
    coordinator = kbcore.SyncCoordinator(
        store,
        http_client=fake_vapi_http,
        policy=kbcore.SyncPolicy(min_interval=timedelta(minutes=5)),
    )
    app = create_app(store, api_token=API_TOKEN, live_secret=LIVE_SECRET, coordinator=coordinator)
    # A socket bound before the server starts: requests queue until it accepts them.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: server.serve(sockets=[listener]))
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
    listener.close()


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=base_url, headers={"authorization": f"Bearer {API_TOKEN}"}
    ) as client:
        yield client
