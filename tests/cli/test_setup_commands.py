"""``kbcore agents`` and ``kbcore vapi``: an org connected to Vapi from the command line,
with the key never echoed, never an argument, and never in any output."""

from __future__ import annotations

import os
import pty
import sys
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import anyio
import anyio.to_thread
import asyncpg
import pytest

from kbcore import KnowledgeBase
from kbcore.postgres import PostgresStore
from kbcore.testing import FakeVapi, serve_fake_vapi
from tests.cli.conftest import Cli, assert_one_error_line, clean_environment

pytestmark = pytest.mark.anyio

SECRET = "sk-live-3c1d-never-shown"


@pytest.fixture
async def vapi() -> AsyncIterator[tuple[FakeVapi, str]]:
    fake = FakeVapi(api_key=SECRET)
    async with serve_fake_vapi(fake) as url:
        yield fake, url


async def stored_key(pool: asyncpg.Pool, org: str) -> str | None:
    key = await PostgresStore(pool).vapi_key(UUID(org))
    return None if key is None else key.value


async def test_agents_add_list_remove(cli: Cli) -> None:
    org = str(uuid.uuid4())
    added = await cli("agents", "add", org, "--role", "inbound", "--assistant", "asst-1", "--json")
    assert added.code == 0, added.stderr
    agent = added.json()
    assert (agent["org_id"], agent["role"], agent["vapi_assistant_id"]) == (
        org,
        "inbound",
        "asst-1",
    )

    text = await cli("agents", "add", org, "--role", "outbound")
    assert text.code == 0, text.stderr
    assert text.stdout.startswith("Added the outbound agent ")
    assert text.stdout.endswith(" (no Vapi assistant yet)\n")

    listed = await cli("agents", "list", org)
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "ROLE", "VAPI", "ASSISTANT"]
    assert [line.split()[1:] for line in lines[1:3]] == [["inbound", "asst-1"], ["outbound", "-"]]
    assert lines[-1] == "2 agents"

    removed = await cli("agents", "remove", org, agent["agent_id"])
    assert removed.code == 0, removed.stderr
    assert (
        removed.stdout == f"Removed the inbound agent {agent['agent_id']} (Vapi assistant asst-1)\n"
    )
    again = await cli("agents", "remove", org, agent["agent_id"])
    assert_one_error_line(again, 2, f"Agent {agent['agent_id']} not found")
    bad = await cli("agents", "add", org, "--role", "in bound\t")
    assert bad.code == 2
    assert "role: must be a name of 1 to 64 printable characters" in bad.stderr


async def test_set_key_from_standard_input(
    cli: Cli, kbcore_pool: asyncpg.Pool, vapi: tuple[FakeVapi, str]
) -> None:
    """Piped in (a trailing newline is not part of it); saved; never printed; checked."""
    fake, url = vapi
    org = str(uuid.uuid4())
    saved = await cli.subprocess("vapi", "set-key", org, stdin=SECRET + "\n")
    assert saved.code == 0, saved.stderr
    assert saved.stdout == (
        f"Saved the Vapi key of org {org}; `kbcore vapi check {org}` tries it\n"
    )
    assert await stored_key(kbcore_pool, org) == SECRET

    assistant = fake.add_assistant(name="Inbound sales")
    await cli("agents", "add", org, "--role", "inbound", "--assistant", assistant)
    await cli("agents", "add", org, "--role", "outbound", "--assistant", "asst-gone")
    check = await cli.subprocess("vapi", "check", org, "--vapi-base-url", url)
    assert check.code == 0, check.stderr
    lines = check.stdout.splitlines()
    assert lines[0] == "The key from the org's Vapi integration works: Vapi shows 1 assistant."
    assert lines[2].split() == [assistant, "Inbound", "sales", "inbound"]
    assert lines[3] == (
        "Warning: an agent names assistant asst-gone, which Vapi does not show to this key"
    )
    as_json = await cli("vapi", "check", org, "--json", VAPI_BASE_URL=url)
    assert as_json.json() == {
        "works": True,
        "key_source": "the org's Vapi integration",
        "assistants": [{"id": assistant, "name": "Inbound sales", "agent_role": "inbound"}],
        "missing": ["asst-gone"],
    }
    for run in (saved, check, as_json):
        assert SECRET not in run.stdout + run.stderr
    # Each check was one GET of the assistant list.
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/assistant")] * 2


async def test_set_key_refuses_what_it_cannot_use_without_printing_it(
    cli: Cli, kbcore_pool: asyncpg.Pool
) -> None:
    # Real processes: what reaches their output, whatever logs it, must not hold the key.
    org = str(uuid.uuid4())
    as_argument = await cli.subprocess("vapi", "set-key", org, SECRET, stdin="")
    assert_one_error_line(as_argument, 2, "The key is never a command-line argument")
    empty = await cli.subprocess("vapi", "set-key", org, stdin="\n")
    assert_one_error_line(empty, 2, "No key given")
    spaced = await cli.subprocess("vapi", "set-key", org, stdin=f"{SECRET} x\n")
    assert_one_error_line(spaced, 2, "api_key: must be visible ASCII characters, with no spaces")
    # With --debug, the traceback does not show it either.
    debug = await cli.subprocess("vapi", "set-key", org, "--debug", stdin=f"{SECRET}\x07\n")
    assert debug.code == 2
    assert "Traceback" in debug.stderr
    for run in (as_argument, empty, spaced, debug):
        assert SECRET not in run.stdout + run.stderr
    assert await stored_key(kbcore_pool, org) is None


async def test_set_key_at_a_prompt_does_not_echo(
    kbcore_database_dsn: str, kbcore_pool: asyncpg.Pool
) -> None:
    """On a terminal the key is typed at a prompt, and the terminal does not show it."""
    org = str(uuid.uuid4())
    env = clean_environment(DATABASE_URL=kbcore_database_dsn)
    controller, terminal = pty.openpty()
    try:
        # A session of its own: the terminal is its standard streams, not its controlling one.
        async with await anyio.open_process(
            [sys.executable, "-m", "kbcore", "vapi", "set-key", org],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=env,
            start_new_session=True,
        ) as process:
            os.close(terminal)
            terminal = -1
            shown = await anyio.to_thread.run_sync(_answer_the_prompt, controller)
            code = await process.wait()
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    text = shown.decode()
    assert code == 0, text
    assert f"Vapi private key for org {org} (not shown): " in text
    assert f"Saved the Vapi key of org {org}" in text
    assert SECRET not in text
    assert await stored_key(kbcore_pool, org) == SECRET


def _answer_the_prompt(controller: int) -> bytes:
    """Read until the prompt, type the key, then read to the end."""
    seen = b""
    while b"(not shown): " not in seen:
        seen += os.read(controller, 4096)
    os.write(controller, SECRET.encode() + b"\n")
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the other end closed
            return seen
        if not chunk:
            return seen
        seen += chunk


async def test_check_says_plainly_when_the_key_fails(
    cli: Cli, kbcore_pool: asyncpg.Pool, vapi: tuple[FakeVapi, str]
) -> None:
    """A rejected key: exit 1 and where the key came from; none at all: exit 2; no agents:
    what to do next. A rejected key's sync leaves no trace of the key in the audit log."""
    fake, url = vapi
    org = str(uuid.uuid4())
    nothing = await cli.subprocess("vapi", "check", org, "--vapi-base-url", url)
    assert_one_error_line(nothing, 2, "No Vapi API key is configured for the org")
    wrong = "sk-wrong-but-also-secret"
    await cli.subprocess("vapi", "set-key", org, stdin=wrong)
    rejected = await cli.subprocess("vapi", "check", org, "--vapi-base-url", url)
    assert_one_error_line(
        rejected,
        1,
        f"Vapi rejected the key from the org's Vapi integration; set the right one with "
        f"`kbcore vapi set-key {org}`",
    )

    await cli.subprocess("vapi", "set-key", org, stdin=SECRET)
    works = await cli.subprocess("vapi", "check", org, "--vapi-base-url", url)
    assert works.stdout.splitlines()[-1] == (
        f"The org has no agents yet: `kbcore agents add {org} --role inbound "
        "--assistant ASSISTANT_ID`"
    )

    await cli.subprocess("vapi", "set-key", org, stdin=wrong)
    await cli.subprocess(
        "agents", "add", org, "--role", "inbound", "--assistant", fake.add_assistant()
    )
    await KnowledgeBase(PostgresStore(kbcore_pool)).create(org, filename="a.md", content="x")
    sync = await cli.subprocess("sync", org, "--vapi-base-url", url)
    assert_one_error_line(sync, 1, "Vapi rejected the API key; check the org's Vapi integration")
    rows = await kbcore_pool.fetch("SELECT * FROM kb_sync_log WHERE org_id = $1", UUID(org))
    assert [row["status"] for row in rows] == ["failed"]
    for run in (nothing, rejected, works, sync):
        assert wrong not in run.stdout + run.stderr
        assert SECRET not in run.stdout + run.stderr
    assert wrong not in repr([tuple(row) for row in rows])
