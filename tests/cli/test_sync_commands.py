"""``kbcore sync`` and ``kbcore report``, with FakeVapi served on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import pytest

from kbcore import KnowledgeBase
from kbcore.postgres import PostgresStore
from kbcore.report import sync_stats
from kbcore.testing import FakeVapi, serve_fake_vapi
from kbcore.testing.host_tables import PostgresHostTables
from tests.cli.conftest import Cli, assert_one_error_line, snapshot

pytestmark = pytest.mark.anyio


@pytest.fixture
async def vapi_url() -> AsyncIterator[tuple[FakeVapi, str]]:
    fake = FakeVapi()
    async with serve_fake_vapi(fake) as url:
        yield fake, url


@pytest.fixture
async def ready_org(kbcore_pool: asyncpg.Pool, vapi_url: tuple[FakeVapi, str]) -> UUID:
    """An org with its Vapi key, two agents with assistants, and two documents."""
    fake, _ = vapi_url
    org_id = uuid.uuid4()
    host = PostgresHostTables(kbcore_pool)
    await host.set_vapi_key(org_id, fake.api_key)
    for role in ("inbound", "outbound"):
        await host.add_agent(org_id, role, fake.add_assistant(name=role))
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    await kb.create(org_id, filename="pricing.md", content="Pro: $99", category="operations")
    await kb.create(org_id, filename="script.md", content="Hello!")
    return org_id


async def test_sync_then_rate_limited_then_report(
    cli: Cli, ready_org: UUID, vapi_url: tuple[FakeVapi, str], kbcore_pool: asyncpg.Pool
) -> None:
    """A sync succeeds (JSON result); the next is refused with exit 3; report counts both."""
    fake, url = vapi_url
    first = await cli("sync", str(ready_org), "--vapi-base-url", url, "--actor", "ops", "--json")
    assert first.code == 0, first.stderr
    result = first.json()
    assert (result["docs_synced"], result["files_uploaded"], result["assistants_updated"]) == (
        2,
        2,
        2,
    )
    assert list(fake.tools) == [result["tool_id"]]

    again = await cli("sync", str(ready_org), "--vapi-base-url", url, "--json")
    # 300s, or a second less if the first sync finished more than a second ago.
    assert_one_error_line(again, 3, "Rate limited. Try again in ")
    error = again.json()["error"]
    assert (error["type"], error["exit_code"]) == ("RateLimited", 3)
    assert 0 < error["retry_after"] <= 300

    report = await cli("report", "--org", str(ready_org), "--json")
    assert report.code == 0, report.stderr
    figures = report.json()
    stats = await sync_stats(PostgresStore(kbcore_pool), org_id=ready_org)
    assert figures["days"] == [
        {"date": d.date.isoformat(), "total": 2, "successful": 1, "success_rate": 50.0}
        for d in stats.days
    ]
    assert (figures["rate_limit_hits"], figures["in_progress_rejections"]) == (1, 0)
    assert figures["durations"]["count"] == 1
    assert figures["errors"] == [{"kind": "rate limited", "count": 1, "message": error["message"]}]


async def test_sync_for_people(cli: Cli, ready_org: UUID, vapi_url: tuple[FakeVapi, str]) -> None:
    """Without --json: what was uploaded, reused and deleted, the tool, and the warnings."""
    run = await cli("sync", str(ready_org), "--vapi-base-url", vapi_url[1])
    assert run.code == 0, run.stderr
    first, second, *warnings = run.stdout.splitlines()
    assert first.startswith("Synced 2 documents: 2 uploaded, 0 reused, 0 deleted, in ")
    assert second.startswith("2 assistants now use the query tool ")
    assert len(warnings) == 2  # FakeVapi's assistants' prompts never mention the knowledge base
    assert all(w.startswith("Warning: Assistant ") for w in warnings)


async def test_a_failed_sync_exits_1_with_its_reason(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    """An org with no key: exit 1, the reason in one line, the attempt in the audit log."""
    org_id = uuid.uuid4()
    await KnowledgeBase(PostgresStore(kbcore_pool)).create(org_id, filename="a.md", content="x")
    run = await cli("sync", str(org_id), "--vapi-base-url", "http://127.0.0.1:9")
    assert_one_error_line(run, 1, "No Vapi API key is configured")
    assert await kbcore_pool.fetchval(
        "SELECT status FROM kb_sync_log WHERE org_id = $1", org_id
    ) == ("failed")


async def test_the_key_may_come_from_the_environment(
    cli: Cli, kbcore_pool: asyncpg.Pool, vapi_url: tuple[FakeVapi, str]
) -> None:
    """VAPI_API_KEY stands in for an org without a vapi integration."""
    fake, url = vapi_url
    org_id = uuid.uuid4()
    await PostgresHostTables(kbcore_pool).add_agent(org_id, "inbound", fake.add_assistant())
    await KnowledgeBase(PostgresStore(kbcore_pool)).create(org_id, filename="a.md", content="x")
    run = await cli(
        "sync", str(org_id), "--role", "inbound", VAPI_API_KEY=fake.api_key, VAPI_BASE_URL=url
    )
    assert run.code == 0, run.stderr


async def test_a_report_since_the_year_1(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    """The earliest instant there is means all of time, not a crash."""
    await kbcore_pool.execute(
        "INSERT INTO kb_sync_log (org_id, status, duration_ms) VALUES ($1, 'success', 5)",
        uuid.uuid4(),
    )
    run = await cli("report", "--since", "0001-01-01T00:00:00Z")
    assert run.code == 0, run.stderr
    assert "since 0001-01-01 00:00 UTC" in run.stdout
    assert run.stdout.splitlines()[0].endswith("(all orgs): 1 attempt, 1 successful")


async def test_report_for_people(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    """The report reads like the runbook: days, durations, refusals, failures by kind."""
    org_id = uuid.uuid4()
    await kbcore_pool.executemany(
        "INSERT INTO kb_sync_log (org_id, created_at, status, duration_ms, error_message)"
        " VALUES ($1, now() - make_interval(secs => $2), $3, $4, $5)",
        [
            (org_id, 3, "success", 1200, None),
            (org_id, 2, "failed", 0, "Rate limited. Try again in 299s."),
            (org_id, 1, "failed", 0, "Rate limited. Try again in 120s."),
            (org_id, 1, "failed", 0, "Sync already in progress for this org"),
        ],
    )
    run = await cli("report", "--since", "2h")
    lines = run.stdout.splitlines()
    assert lines[0].endswith("(all orgs): 4 attempts, 1 successful")
    assert lines[2].split() == ["DATE", "TOTAL", "SUCCESSFUL", "SUCCESS", "RATE"]
    assert lines[3].split()[1:] == ["4", "1", "25.00%"]
    assert (
        "Durations of successful syncs: avg 1200 ms, min 1200 ms, max 1200 ms, p95 1200 ms" in lines
    )
    assert "Rate-limit hits: 2" in lines
    assert "Refused while another sync ran: 1" in lines
    # One row per kind of failure, however its messages differ, with the latest message.
    assert lines[-3:] == [
        "FAILURE       COUNT  LATEST MESSAGE",
        "rate limited      2  Rate limited. Try again in 120s.",
        "in progress       1  Sync already in progress for this org",
    ]


async def test_report_since_a_date(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    """``--since`` takes a plain date (its midnight, UTC), as people write one."""
    org_id = uuid.uuid4()
    await kbcore_pool.execute(
        "INSERT INTO kb_sync_log (org_id, status, duration_ms) VALUES ($1, 'success', 5)", org_id
    )
    today = datetime.now(UTC).date()
    run = await cli("report", "--org", str(org_id), "--since", today.isoformat(), "--json")
    assert run.code == 0, run.stderr
    assert run.json()["since"] == f"{today.isoformat()}T00:00:00+00:00"
    assert run.json()["durations"]["count"] == 1


async def test_a_dry_run_as_json_writes_nothing_then_a_sync_leaves_nothing_to_do(
    cli: Cli, ready_org: UUID, vapi_url: tuple[FakeVapi, str], kbcore_pool: asyncpg.Pool
) -> None:
    """--dry-run --json: the uploads, the tool and the assistants; only GETs, no row written."""
    fake, url = vapi_url
    before = await snapshot(kbcore_pool)
    run = await cli("sync", str(ready_org), "--dry-run", "--json", "--vapi-base-url", url)
    assert run.code == 0, run.stderr
    preview = run.json()
    assert [(u["filename"], u["version"], u["reason"]) for u in preview["uploads"]] == [
        ("pricing.md", 1, "new"),
        ("script.md", 1, "new"),
    ]
    assert (preview["reused"], preview["delete"]) == ([], [])
    assert preview["tool"] == {"action": "create", "tool_id": None, "retire": []}
    assert sorted(a["assistant_id"] for a in preview["assistants"]) == sorted(fake.assistants)
    assert {a["status"] for a in preview["assistants"]} == {"attach"}
    assert preview["nothing_to_do"] is False
    assert fake.requests
    assert {r.method for r in fake.requests} == {"GET"}
    assert await snapshot(kbcore_pool) == before

    synced = await cli("sync", str(ready_org), "--vapi-base-url", url, "--json")
    assert synced.code == 0, synced.stderr
    again = await cli("sync", str(ready_org), "--dry-run", "--json", "--vapi-base-url", url)
    assert again.code == 0, again.stderr
    after = again.json()
    assert after["nothing_to_do"] is True
    assert after["tool"]["tool_id"] == synced.json()["tool_id"]
    assert {a["status"] for a in after["assistants"]} == {"attached"}


async def test_a_dry_run_for_people(
    cli: Cli, ready_org: UUID, vapi_url: tuple[FakeVapi, str]
) -> None:
    """Without --json: the files it would upload, the tool, a table of assistants, warnings."""
    fake, url = vapi_url
    run = await cli("sync", str(ready_org), "--dry-run", "--vapi-base-url", url)
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:6] == [
        f"Dry run: nothing was sent to Vapi or written for org {ready_org}.",
        "Would upload 2 documents:",
        "  pricing.md (version 1, new)",
        "  script.md (version 1, new)",
        "Would reuse 0 files.",
        "Would create the query tool.",
    ]
    assert lines[6].split() == ["ASSISTANT", "TOOL", "DETACH", "PROMPT", "LINE", "PATCH"]
    rows = sorted(line.split() for line in lines[7:9])
    assert rows == sorted(
        [assistant_id, "attach", "-", "-", "yes"] for assistant_id in fake.assistants
    )
    assert len(lines) == 11
    assert all(line.startswith("Warning: Assistant ") for line in lines[9:])


async def test_a_dry_run_fails_as_the_sync_would_and_records_nothing(
    cli: Cli, kbcore_pool: asyncpg.Pool
) -> None:
    """An org with no key: exit 1 and the sync's reason, but no attempt in the audit log."""
    org_id = uuid.uuid4()
    await KnowledgeBase(PostgresStore(kbcore_pool)).create(org_id, filename="a.md", content="x")
    run = await cli("sync", str(org_id), "--dry-run", "--vapi-base-url", "http://127.0.0.1:9")
    assert_one_error_line(run, 1, "No Vapi API key is configured")
    assert await kbcore_pool.fetchval("SELECT count(*) FROM kb_sync_log") == 0
