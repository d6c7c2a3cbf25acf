"""``kbcore serve`` and ``kbcore live``: Vapi's requests over loopback."""

from __future__ import annotations

import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import anyio
import asyncpg
import httpx
import pytest

from kbcore import KnowledgeBase
from kbcore.live import ServerSecret
from kbcore.postgres import PostgresStore
from kbcore.testing import FakeVapi, serve_fake_vapi
from kbcore.testing.host_tables import PostgresHostTables
from tests.cli.conftest import Cli, Run, assert_one_error_line, clean_environment

pytestmark = pytest.mark.anyio

SECRET = "a-server-secret-of-forty-characters-1234"
PRICING = "# Plans\n\nThe Pro plan costs $99 per user per month."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def vapi() -> AsyncIterator[tuple[FakeVapi, str]]:
    fake = FakeVapi()
    async with serve_fake_vapi(fake) as url:
        yield fake, url


@pytest.fixture
async def org(kbcore_pool: asyncpg.Pool, vapi: tuple[FakeVapi, str]) -> UUID:
    """An org with its Vapi key and two agents with assistants, and a pricing document."""
    fake, _ = vapi
    org_id = uuid.uuid4()
    host = PostgresHostTables(kbcore_pool)
    await host.set_vapi_key(org_id, fake.api_key)
    for role in ("inbound", "outbound"):
        await host.add_agent(org_id, role, fake.add_assistant(name=role))
    await KnowledgeBase(PostgresStore(kbcore_pool)).create(
        org_id, filename="pricing.md", content=PRICING
    )
    return org_id


async def live(cli: Cli, action: str, org: UUID, url: str, vapi_url: str, *more: str) -> Run:
    """``kbcore live ACTION ORG --url URL`` against the fake Vapi, with the server secret."""
    return await cli(
        "live",
        action,
        str(org),
        "--url",
        url,
        "--vapi-base-url",
        vapi_url,
        *more,
        KBCORE_LIVE_SECRET=SECRET,
    )


async def wait_until_up(url: str) -> None:
    """Poll the health endpoint until the server listens (bounded by the caller's scope)."""
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                await anyio.sleep(0.05)


async def test_attach_serve_and_ask_over_loopback(
    cli: Cli, org: UUID, vapi: tuple[FakeVapi, str], kbcore_pool: asyncpg.Pool
) -> None:
    """The operator attaches and serves; Vapi asks; an edit is in the very next answer."""
    fake, vapi_url = vapi
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    attached = await live(cli, "attach", org, url, vapi_url, "--json")
    assert attached.code == 0, attached.stderr
    assert len(attached.json()["changed"]) == 2
    again = await live(cli, "attach", org, url, vapi_url)
    assert "2 assistants already asked it." in again.stdout
    assert again.stdout.startswith("0 assistants now ask"), again.stdout

    env = clean_environment(DATABASE_URL=cli.dsn, KBCORE_LIVE_SECRET=SECRET, LOG_LEVEL="INFO")
    command = [sys.executable, "-m", "kbcore", "serve", "--port", str(port)]
    async with await anyio.open_process(command, env=env) as server:
        try:
            with anyio.fail_after(30):
                await wait_until_up(url)
            assistant = next(iter(fake.assistants))
            first = await fake.request_knowledge(assistant, "how much is the pro plan")
            kb = KnowledgeBase(PostgresStore(kbcore_pool))
            [doc] = (await kb.list(org)).items
            await kb.update(org, doc.id, content=PRICING.replace("$99", "$89"))
            second = await fake.request_knowledge(assistant, "how much is the pro plan")
            async with httpx.AsyncClient() as client:
                ready = await client.get(f"{url}/readyz")
        finally:
            server.send_signal(signal.SIGTERM)
            with anyio.fail_after(30):
                code = await server.wait()
        assert server.stderr is not None
        logged = b"".join([chunk async for chunk in server.stderr]).decode()
    # uvicorn shuts down gracefully, then lets the signal end the process as it would have.
    assert code == -signal.SIGTERM, logged
    assert "Traceback" not in logged
    assert '"event": "kbcore.live' not in logged or "kbcore.live.failed" not in logged
    assert "$99" in first.documents[0]["content"]
    assert "$89" in second.documents[0]["content"]
    assert ready.status_code == 200
    assert SECRET not in logged
    assert ServerSecret(SECRET).for_org(org) not in logged

    detached = await live(cli, "detach", org, url, vapi_url)
    assert detached.stdout.startswith("2 assistants no longer ask"), detached.stdout
    assert all("knowledgeBase" not in a["model"] for a in fake.assistants.values())


async def test_the_secret_command_prints_the_orgs_credential(cli: Cli) -> None:
    org = uuid.uuid4()
    run = await cli("live", "secret", str(org), KBCORE_LIVE_SECRET=SECRET)
    assert (run.code, run.stdout) == (0, ServerSecret(SECRET).for_org(org) + "\n")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("serve",), "No server secret: set KBCORE_LIVE_SECRET"),
        (("live", "secret", "00000000-0000-4000-8000-000000000001"), "No server secret"),
    ],
)
async def test_without_a_secret_the_commands_say_how_to_make_one(
    cli: Cli, args: tuple[str, ...], fragment: str
) -> None:
    assert_one_error_line(await cli(*args), 2, fragment)


async def test_a_short_secret_is_refused(cli: Cli) -> None:
    run = await cli("serve", KBCORE_LIVE_SECRET="short")
    assert_one_error_line(run, 2, "at least 32 printable characters")
    assert "short" not in run.stderr.removeprefix("kbcore: error: KBCORE_LIVE_SECRET")


async def test_attach_needs_a_url(cli: Cli, org: UUID) -> None:
    run = await cli("live", "attach", str(org), KBCORE_LIVE_SECRET=SECRET)
    assert_one_error_line(run, 2, "No server URL: pass --url or set KBCORE_LIVE_URL")
