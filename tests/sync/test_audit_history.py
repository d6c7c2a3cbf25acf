"""A scripted sync history through the public API, read back with the runbook's SQL verbatim."""

from __future__ import annotations

import collections
import statistics
import uuid
from collections.abc import Awaitable
from decimal import Decimal
from uuid import UUID

import anyio
import asyncpg
import httpx
import pytest

from kbcore import (
    KnowledgeBase,
    RateLimited,
    SyncCoordinator,
    SyncFailed,
    SyncInProgress,
    SyncPolicy,
    SyncResult,
)
from kbcore._domain import IN_PROGRESS_MESSAGE
from kbcore._ports import Store
from kbcore.testing import FakeVapi
from kbcore.testing.host_tables import HostTables
from tests.stores import ON_POSTGRES
from tests.test_runbook_queries import (
    AVERAGE_SYNC_DURATION,
    ERROR_SUMMARY,
    RATE_LIMIT_HITS,
    SYNC_SUCCESS_RATE,
)

from .conftest import PassTime
from .test_sync import WINDOW, seed
from .worker import UploadGate

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.database,
    ON_POSTGRES,
]

NO_DOCUMENTS = "No active documents to sync; add a document first"
NO_ASSISTANT_IDS = "No agents have a Vapi assistant id; save the agent configuration first"
UPLOAD_FAILED = "Could not upload 1 of 1 documents to Vapi; the next sync retries them"
BAD_KEY = "Vapi rejected the API key; check the org's Vapi integration"


class History:
    """Sync attempts made through the public API, and what each told its caller."""

    def __init__(self) -> None:
        self.results: list[SyncResult] = []
        #: The message of every refused or failed attempt, as the caller saw it.
        self.errors: list[str] = []

    async def attempt(self, sync: Awaitable[SyncResult]) -> None:
        try:
            self.results.append(await sync)
        except SyncFailed as error:
            self.errors.append(error.reason)
        except (RateLimited, SyncInProgress) as error:
            self.errors.append(str(error))


async def fetch_at_noon(pool: asyncpg.Pool, query: str) -> list[asyncpg.Record]:
    """Run ``query`` in a time zone where it is about noon, so the history falls on one date."""
    async with pool.acquire() as conn, conn.transaction():
        utc_hour = await conn.fetchval("SELECT extract(hour FROM now() AT TIME ZONE 'UTC')::int")
        await conn.execute(f"SET LOCAL TIME ZONE {12 - utc_hour}")
        return await conn.fetch(query)


@pytest.fixture
async def history(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_sync_policy: SyncPolicy,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_host_tables: HostTables,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> History:
    """Three orgs' attempts: successes, early and Vapi failures, rate limits, one collision."""
    history = History()
    # The main org: 8 attempts, 2 successes.
    await history.attempt(kbcore_coordinator.sync(kbcore_org))  # no documents yet
    docs = await seed(kbcore_kb, kbcore_org)
    await history.attempt(kbcore_coordinator.sync(kbcore_org))
    await history.attempt(kbcore_coordinator.sync(kbcore_org))  # rate limited
    await history.attempt(kbcore_coordinator.sync(kbcore_org))  # rate limited
    await pass_time(WINDOW)
    await kbcore_kb.update(kbcore_org, docs[0].id, content="text 0, revised")
    fake_vapi.fail_next(1, "POST /file", status=400)
    await history.attempt(kbcore_coordinator.sync(kbcore_org))  # the upload is rejected
    gate = UploadGate(fake_vapi)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=gate)) as gated_http,
        anyio.create_task_group() as tg,
    ):
        gated = SyncCoordinator(kbcore_store, http_client=gated_http, policy=kbcore_sync_policy)
        tg.start_soon(history.attempt, gated.sync(kbcore_org))
        with anyio.fail_after(10):
            await gate.holding.wait()
        await history.attempt(kbcore_coordinator.sync(kbcore_org))  # in progress
        gate.opened.set()
    await history.attempt(kbcore_coordinator.sync(kbcore_org))  # rate limited
    # An org whose agents had no assistant at first: 4 attempts, 1 success.
    other = uuid.uuid4()
    await kbcore_host_tables.set_vapi_key(other, fake_vapi.api_key)
    await kbcore_host_tables.add_agent(other, "inbound", None)
    [doc] = await seed(kbcore_kb, other, 1)
    await history.attempt(kbcore_coordinator.sync(other))
    await history.attempt(kbcore_coordinator.sync(other))
    await kbcore_host_tables.add_agent(other, "outbound", fake_vapi.add_assistant())
    await history.attempt(kbcore_coordinator.sync(other))
    await pass_time(WINDOW)
    await kbcore_kb.update(other, doc.id, content="text 0, revised")
    fake_vapi.fail_next(100, "POST /file", status=503)
    await history.attempt(kbcore_coordinator.sync(other))  # a 503 storm outlasts the retries
    fake_vapi.clear_faults()
    # An org with a wrong key: 1 attempt.
    third = uuid.uuid4()
    await kbcore_host_tables.set_vapi_key(third, "not-the-key")
    await kbcore_host_tables.add_agent(third, "inbound", fake_vapi.add_assistant())
    await seed(kbcore_kb, third, 1)
    await history.attempt(kbcore_coordinator.sync(third))
    return history


async def test_the_history_is_what_the_callers_were_told(history: History) -> None:
    """Thirteen attempts: three successes and ten refusals or failures, each with its reason."""
    assert len(history.results) == 3
    assert [e for e in history.errors if not e.startswith("Rate limited. Try again in ")] == [
        NO_DOCUMENTS,
        UPLOAD_FAILED,
        IN_PROGRESS_MESSAGE,
        NO_ASSISTANT_IDS,
        NO_ASSISTANT_IDS,
        UPLOAD_FAILED,
        BAD_KEY,
    ]


async def test_success_rate(history: History, kbcore_pool: asyncpg.Pool) -> None:
    """One date, thirteen attempts, three successful: 23.08 %."""
    [row] = await fetch_at_noon(kbcore_pool, SYNC_SUCCESS_RATE)
    assert (row["total_syncs"], row["successful"], row["success_rate"]) == (13, 3, Decimal("23.08"))


async def test_duration_statistics(history: History, kbcore_pool: asyncpg.Pool) -> None:
    """The durations the successful syncs reported, and no attempt without one."""
    durations = sorted(result.duration_ms for result in history.results)
    row = await kbcore_pool.fetchrow(AVERAGE_SYNC_DURATION)
    assert row is not None
    assert float(row["avg_duration_ms"]) == pytest.approx(statistics.mean(durations))
    assert (row["max_duration_ms"], row["min_duration_ms"]) == (durations[-1], durations[0])
    # 0.95 * (3 - 1) = 1.9: 90 % of the way from the second duration to the third.
    p95 = durations[1] + 0.9 * (durations[2] - durations[1])
    assert row["p95_duration_ms"] == pytest.approx(p95)
    assert (
        await kbcore_pool.fetchval("SELECT count(*) FROM kb_sync_log WHERE duration_ms IS NULL")
        == 0
    )


async def test_rate_limit_hits(history: History, kbcore_pool: asyncpg.Pool) -> None:
    """The three attempts refused by the rate limit, and only those."""
    assert await kbcore_pool.fetchval(RATE_LIMIT_HITS) == 3


async def test_error_summary(history: History, kbcore_pool: asyncpg.Pool) -> None:
    """Each failure message with its count, most frequent first: what callers were told."""
    rows = await kbcore_pool.fetch(ERROR_SUMMARY)
    assert {row["error_message"]: row["count"] for row in rows} == collections.Counter(
        history.errors
    )
    counts = [row["count"] for row in rows]
    assert counts == sorted(counts, reverse=True)
