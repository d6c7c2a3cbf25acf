"""Bad input, a slow or absent database: a clear 4xx or ``{"documents": []}``, never a 500."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import anyio
import asyncpg
import httpx
import pytest

from kbcore import KnowledgeBase
from kbcore._ports import Store
from kbcore.live import LiveKnowledgeServer, ServerSecret
from kbcore.live._asgi import Receive, Scope, Send
from kbcore.postgres import PostgresStore
from tests.live.conftest import SERVER_URL

pytestmark = pytest.mark.anyio

PRICING = "# Plans\n\nThe Pro plan costs $99 per user per month."


def envelope(message: object) -> bytes:
    return json.dumps({"message": message}).encode()


def asking(turn: str) -> bytes:
    return envelope(
        {
            "type": "knowledge-base-request",
            "messagesOpenAIFormatted": [{"role": "user", "content": turn}],
        }
    )


@pytest.fixture
def org() -> UUID:
    return uuid.uuid4()


@pytest.fixture
def auth(org: UUID, server_secret: ServerSecret) -> dict[str, str]:
    return {"authorization": f"Bearer {server_secret.for_org(org)}"}


@pytest.mark.parametrize(
    ("content", "status", "says"),
    [
        pytest.param(b"{not json", 400, "not JSON", id="not-json"),
        pytest.param(b"[1, 2]", 400, "Vapi server message", id="not-an-object"),
        pytest.param(envelope({"type": "status-update"}), 400, "status-update", id="wrong-type"),
        pytest.param(envelope("hello"), 400, "Vapi server message", id="message-not-object"),
    ],
)
async def test_a_body_that_is_not_a_knowledge_request_is_a_400(
    live_http: httpx.AsyncClient,
    org: UUID,
    auth: dict[str, str],
    content: bytes,
    status: int,
    says: str,
) -> None:
    response = await live_http.post(f"/orgs/{org}", content=content, headers=auth)
    assert response.status_code == status
    assert says in response.json()["error"]


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({"type": "knowledge-base-request"}, id="no-messages"),
        pytest.param(
            {
                "type": "knowledge-base-request",
                "messagesOpenAIFormatted": [{"role": "assistant", "content": "Hi!"}],
            },
            id="assistant-only",
        ),
        pytest.param(
            {"type": "knowledge-base-request", "messagesOpenAIFormatted": "x", "messages": 3},
            id="lists-of-nothing",
        ),
    ],
)
async def test_no_user_turn_gets_no_documents(
    live_http: httpx.AsyncClient, org: UUID, auth: dict[str, str], message: object
) -> None:
    response = await live_http.post(f"/orgs/{org}", content=envelope(message), headers=auth)
    assert (response.status_code, response.json()) == (200, {"documents": []})


async def test_vapi_transcript_items_are_read_when_the_openai_list_is_missing(
    live_http: httpx.AsyncClient, org: UUID, auth: dict[str, str], kbcore_kb: KnowledgeBase
) -> None:
    await kbcore_kb.create(org, filename="pricing.md", content=PRICING)
    message = {
        "type": "knowledge-base-request",
        "messages": [
            {"role": "user", "message": "pro plan price", "time": 1, "secondsFromStart": 1}
        ],
    }
    response = await live_http.post(f"/orgs/{org}", content=envelope(message), headers=auth)
    assert response.json()["documents"]


async def test_a_body_over_the_cap_is_a_413(
    kbcore_store: Store, server_secret: ServerSecret, org: UUID, auth: dict[str, str]
) -> None:
    server = LiveKnowledgeServer(kbcore_store, server_secret, max_body_bytes=1000)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server), base_url=SERVER_URL
    ) as http:
        response = await http.post(f"/orgs/{org}", content=asking("x" * 2000), headers=auth)

        async def streamed() -> AsyncIterator[bytes]:
            for _ in range(3):
                yield b"x" * 600

        unsized = await http.post(f"/orgs/{org}", content=streamed(), headers=auth)
    assert (response.status_code, unsized.status_code) == (413, 413)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/orgs/{org}", 405),
        ("POST", "/orgs/not-a-uuid", 404),
        ("POST", "/knowledge", 404),
        ("POST", "/healthz", 405),
    ],
)
async def test_wrong_routes_and_methods(
    live_http: httpx.AsyncClient, org: UUID, method: str, path: str, status: int
) -> None:
    response = await live_http.request(method, path.format(org=org))
    assert response.status_code == status
    assert "error" in response.json()


@pytest.mark.parametrize("kbcore_store", ["postgres"], indirect=True)
async def test_a_slow_database_gets_an_empty_answer_in_time(
    kbcore_pool: asyncpg.Pool,
    kbcore_store: PostgresStore,
    server_secret: ServerSecret,
    kbcore_kb: KnowledgeBase,
    org: UUID,
    auth: dict[str, str],
    log_output: io.StringIO,
) -> None:
    """A table locked by another transaction: the answer is empty, on time, and logged."""
    await kbcore_kb.create(org, filename="pricing.md", content=PRICING)
    server = LiveKnowledgeServer(kbcore_store, server_secret, deadline=0.2)
    transport = httpx.ASGITransport(app=server)
    async with (
        httpx.AsyncClient(transport=transport, base_url=SERVER_URL) as http,
        kbcore_pool.acquire() as blocker,
    ):
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE knowledge_passages IN ACCESS EXCLUSIVE MODE")
            with anyio.fail_after(5):
                late = await http.post(f"/orgs/{org}", content=asking("pro plan"), headers=auth)
        on_time = await http.post(f"/orgs/{org}", content=asking("pro plan"), headers=auth)
    assert (late.status_code, late.json()) == (200, {"documents": []})
    assert on_time.json()["documents"]
    assert '"event": "kbcore.live.late"' in log_output.getvalue()


async def test_a_database_that_is_gone_gets_an_empty_answer_and_not_ready(
    kbcore_database_dsn: str,
    server_secret: ServerSecret,
    org: UUID,
    auth: dict[str, str],
    log_output: io.StringIO,
) -> None:
    pool = await asyncpg.create_pool(kbcore_database_dsn, min_size=1, max_size=1)
    await pool.close()
    server = LiveKnowledgeServer(PostgresStore(pool), server_secret)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server), base_url=SERVER_URL
    ) as http:
        answer = await http.post(f"/orgs/{org}", content=asking("pro plan"), headers=auth)
        ready = await http.get("/readyz")
    assert (answer.status_code, answer.json()) == (200, {"documents": []})
    assert ready.status_code == 503
    assert '"event": "kbcore.live.failed"' in log_output.getvalue()


async def test_mounted_below_a_prefix_the_routes_are_the_same(
    kbcore_store: Store, server_secret: ServerSecret, org: UUID, auth: dict[str, str]
) -> None:
    """An ASGI framework that mounts the app sets ``root_path``: the routes follow it."""
    server = LiveKnowledgeServer(kbcore_store, server_secret)

    async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
        await server({**scope, "root_path": "/live"}, receive, send)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=mounted), base_url=SERVER_URL
    ) as http:
        response = await http.post(f"/live/orgs/{org}", content=asking("pro plan"), headers=auth)
    assert (response.status_code, response.json()) == (200, {"documents": []})
