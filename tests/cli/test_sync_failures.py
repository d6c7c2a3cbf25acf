"""``kbcore sync`` when things go wrong: an unreachable Vapi, bad settings, Ctrl-C.

Each runs the command as a process (``cli.subprocess``) against this test's database:
what reaches its output, and a hang, are a real process's. Times are real
but short: a refused connection costs three quick tries; a server that never
answers is given ``--vapi-timeout 0.5`` (the default's bound is shown in virtual
time, in tests/vapi/test_vapi_unreachable.py).
"""

from __future__ import annotations

import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import anyio
import asyncpg
import pytest

from kbcore import KnowledgeBase
from kbcore._domain import CANCELLED_MESSAGE
from kbcore.postgres import PostgresStore
from kbcore.testing import FakeVapi, serve_fake_vapi
from kbcore.testing.host_tables import PostgresHostTables
from tests.cli.conftest import (
    Cli,
    Run,
    assert_one_error_line,
    clean_environment,
    kbcore_on_a_terminal,
    silent_server,
    snapshot,
)

pytestmark = pytest.mark.anyio

#: Nothing listens on the discard port of loopback: connections are refused at once.
REFUSING = "http://127.0.0.1:9"


@pytest.fixture
def fake() -> FakeVapi:
    return FakeVapi()


@pytest.fixture
async def ready_org(kbcore_pool: asyncpg.Pool, fake: FakeVapi) -> UUID:
    """An org with its Vapi key, an inbound agent with an assistant, and a document."""
    org_id = uuid.uuid4()
    host = PostgresHostTables(kbcore_pool)
    await host.set_vapi_key(org_id, fake.api_key)
    await host.add_agent(org_id, "inbound", fake.add_assistant())
    await KnowledgeBase(PostgresStore(kbcore_pool)).create(org_id, filename="a.md", content="x")
    return org_id


@pytest.fixture
async def fake_url(fake: FakeVapi) -> AsyncIterator[str]:
    async with serve_fake_vapi(fake) as url:
        yield url


async def audit(pool: asyncpg.Pool, org_id: UUID) -> list[tuple[str, str | None]]:
    rows = await pool.fetch(
        "SELECT status, error_message FROM kb_sync_log WHERE org_id = $1 ORDER BY created_at",
        org_id,
    )
    return [(row["status"], row["error_message"]) for row in rows]


async def timed(cli: Cli, *args: str, **env: str) -> tuple[Run, float]:
    started = time.monotonic()
    run = await cli.subprocess(*args, **env)
    return run, time.monotonic() - started


# Item: an unreachable Vapi fails within seconds and says why.


async def test_a_refused_connection_fails_within_seconds_and_says_so(
    cli: Cli, ready_org: UUID, kbcore_pool: asyncpg.Pool
) -> None:
    """Three quick tries, then one line naming the cause and the URL; the audit row says it."""
    run, elapsed = await timed(cli, "sync", str(ready_org), "--vapi-base-url", REFUSING)
    reason = f"Could not list the org's files on Vapi: Vapi at {REFUSING} refused the connection"
    assert_one_error_line(run, 1, reason)
    assert elapsed < 10
    assert await audit(kbcore_pool, ready_org) == [("failed", reason)]
    report = (await cli.subprocess("report", "--org", str(ready_org), "--json")).json()
    assert report["errors"] == [{"kind": "Vapi unreachable", "count": 1, "message": reason}]


async def test_a_server_that_never_answers_fails_within_seconds(
    cli: Cli, ready_org: UUID, kbcore_pool: asyncpg.Pool
) -> None:
    """It accepts and says nothing: two timeouts and one line saying so, no credentials."""
    async with silent_server() as server:
        with_credentials = server.url.replace("http://", "http://ops:s3cret-pw@")
        run, elapsed = await timed(
            cli,
            "sync",
            str(ready_org),
            "--vapi-base-url",
            with_credentials,
            "--vapi-timeout",
            "0.5",
        )
    assert_one_error_line(run, 1, f"Vapi at {server.url} did not answer within 0.5 s")
    assert elapsed < 10
    assert "s3cret-pw" not in run.stderr + run.stdout + repr(await audit(kbcore_pool, ready_org))


async def test_a_retry_shows_on_the_progress_line(
    kbcore_database_dsn: str, ready_org: UUID, fake: FakeVapi, fake_url: str
) -> None:
    """On a terminal the progress line says why a call is retried, which retry, and when."""
    fake.fail_next(1, "GET /file", status=503, retry_after=1)
    env = clean_environment(DATABASE_URL=kbcore_database_dsn)
    run = await kbcore_on_a_terminal("sync", str(ready_org), "--vapi-base-url", fake_url, env=env)
    assert run.code == 0, run.stderr
    assert "(Vapi answered 503; retry 1 of 9 in 1 s)" in run.stderr
    assert run.stdout.startswith("Synced 1 document: 1 uploaded")
    # Then each phase's bar, from its first news.
    assert "Uploading files [------------------------] 0/1 0%" in run.stderr
    assert "Updating assistants [------------------------] 0/" in run.stderr


# Item: arguments and settings are checked before a sync is claimed.


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["--vapi-base-url", "not-a-url"], {}, "not an http or https URL: 'not-a-url'"),
        ([], {"VAPI_BASE_URL": "ftp://vapi"}, "not an http or https URL: 'ftp://vapi'"),
        (["--tool-name", "no spaces allowed"], {}, "tool_name: must be 1 to 64 letters"),
    ],
)
async def test_bad_arguments_are_refused_before_the_claim(
    cli: Cli,
    ready_org: UUID,
    kbcore_pool: asyncpg.Pool,
    args: list[str],
    env: dict[str, str],
    fragment: str,
) -> None:
    """Exit 2, one line, and no audit row: nothing was attempted."""
    before = await snapshot(kbcore_pool)
    run = await cli.subprocess("sync", str(ready_org), *args, **env)
    assert_one_error_line(run, 2, fragment)
    assert await snapshot(kbcore_pool) == before


async def test_an_unusable_stored_key_is_refused_before_the_claim(
    cli: Cli, ready_org: UUID, kbcore_pool: asyncpg.Pool, fake: FakeVapi
) -> None:
    """A key pasted with a line break in it: a typed error naming where it is, no audit row."""
    await PostgresHostTables(kbcore_pool).set_vapi_key(ready_org, f"{fake.api_key}\nsecond line")
    before = await snapshot(kbcore_pool)
    run = await cli.subprocess("sync", str(ready_org), "--vapi-base-url", REFUSING, "--json")
    assert_one_error_line(
        run, 2, "api_key: The Vapi key in the org's Vapi integration is not usable"
    )
    assert run.json()["error"]["type"] == "ValidationError"
    assert fake.api_key not in run.stderr + run.stdout
    assert await snapshot(kbcore_pool) == before


_WITH_CTRL_C = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'kbcore'; runpy.run_module('kbcore', run_name='__main__', alter_sys=True)"
)


async def test_ctrl_c_records_a_cancelled_sync_and_prints_one_line(
    kbcore_database_dsn: str, ready_org: UUID, kbcore_pool: asyncpg.Pool
) -> None:
    """Interrupted mid-call: exit 130, "interrupted", and the audit row says cancelled."""
    async with silent_server() as server:
        # A shell starts background jobs with SIGINT ignored, and a child keeps that: the
        # command is started with Ctrl-C's default meaning, as a terminal would give it.
        command = [sys.executable, "-c", _WITH_CTRL_C, "sync", str(ready_org)]
        command += ["--vapi-base-url", server.url, "--vapi-timeout", "60"]
        env = clean_environment(DATABASE_URL=kbcore_database_dsn)
        async with await anyio.open_process(command, env=env) as process:
            with anyio.fail_after(30):
                await server.connected.wait()  # claimed, and in its first Vapi call
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(30):
                code = await process.wait()
            assert process.stderr is not None
            errors = b"".join([chunk async for chunk in process.stderr]).decode()
    assert (code, errors) == (130, "kbcore: interrupted\n")
    assert await audit(kbcore_pool, ready_org) == [("failed", CANCELLED_MESSAGE)]


# Item: the key-rejected message names where the key came from.


async def test_a_rejected_environment_key_is_named_as_such(
    cli: Cli, kbcore_pool: asyncpg.Pool, fake: FakeVapi, fake_url: str
) -> None:
    """An org without a stored key uses VAPI_API_KEY: the message says to check that."""
    org_id = uuid.uuid4()
    await PostgresHostTables(kbcore_pool).add_agent(org_id, "inbound", fake.add_assistant())
    await KnowledgeBase(PostgresStore(kbcore_pool)).create(org_id, filename="a.md", content="x")
    run = await cli.subprocess("sync", str(org_id), VAPI_API_KEY="sk-wrong", VAPI_BASE_URL=fake_url)
    assert_one_error_line(run, 1, "Vapi rejected the API key; check VAPI_API_KEY")
    assert "integration" not in run.stderr
