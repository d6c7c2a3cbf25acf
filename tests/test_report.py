"""kbcore.report: sync statistics that agree with the runbook's monitoring SQL."""

from __future__ import annotations

import os
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import anyio
import asyncpg
import pytest
import stamina
from asyncpg.connection import LoggedQuery
from hypothesis import given
from hypothesis import strategies as st

from kbcore import (
    KnowledgeBase,
    RateLimited,
    SyncCoordinator,
    SyncFailed,
    SyncInProgress,
    ValidationError,
)
from kbcore._domain import CANCELLED_MESSAGE, LEASE_EXPIRED_MESSAGE, Claimed, SyncRun
from kbcore._ports import Store
from kbcore.memory import MemoryStore
from kbcore.memory._stats import stats_of_runs
from kbcore.postgres import PostgresStore
from kbcore.report import (
    OTHER_ERRORS,
    DayStats,
    DurationStats,
    ErrorCount,
    SyncStats,
    SyncStatsSource,
    error_kind,
    sync_stats,
)
from kbcore.testing import FakeVapi
from kbcore.testing.host_tables import HostTables, MemoryHostTables
from tests.stores import ON_POSTGRES
from tests.test_runbook_queries import (
    AVERAGE_SYNC_DURATION,
    ERROR_SUMMARY,
    NO_AGENTS,
    RATE_LIMIT_HITS,
    ROWS,
    SYNC_SUCCESS_RATE,
)

pytestmark = pytest.mark.anyio

NO_DOCUMENTS = "No active documents to sync; add a document first"
IN_PROGRESS = "Sync already in progress for this org"


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
async def coordinator(kbcore_store: Store) -> AsyncIterator[tuple[SyncCoordinator, FakeVapi]]:
    fake = FakeVapi()
    async with fake.http_client() as http:
        yield SyncCoordinator(kbcore_store, http_client=http), fake


async def org_with_assistants(fake: FakeVapi, host_tables: HostTables) -> UUID:
    org_id = uuid.uuid4()
    await host_tables.set_vapi_key(org_id, fake.api_key)
    for role in ("inbound", "outbound"):
        await host_tables.add_agent(org_id, role, fake.add_assistant(name=role))
    return org_id


async def attempt(coordinator: SyncCoordinator, org_id: UUID) -> str:
    """Run one sync and say how it ended."""
    try:
        await coordinator.sync(org_id)
    except (RateLimited, SyncInProgress, SyncFailed) as error:
        return type(error).__name__
    return "ok"


@pytest.fixture
async def history(
    kbcore_store: Store,
    kbcore_kb: KnowledgeBase,
    kbcore_host_tables: HostTables,
    coordinator: tuple[SyncCoordinator, FakeVapi],
) -> tuple[UUID, UUID]:
    """A scripted history through the public API: two orgs, every kind of outcome.

    Org A: success, then two rate-limited attempts, then one refused while another
    process holds the claim. Org B: two failures (no documents yet), then a success.
    """
    sync, fake = coordinator
    org_a, org_b = [await org_with_assistants(fake, kbcore_host_tables) for _ in range(2)]
    await kbcore_kb.create(
        org_a, filename="pricing.md", content="Pro: $99", category="products_services"
    )
    outcomes = [await attempt(sync, org_a) for _ in range(3)]
    outcomes += [await attempt(sync, org_b) for _ in range(2)]
    await kbcore_kb.create(org_b, filename="script.md", content="Hello!", category="operations")
    outcomes.append(await attempt(sync, org_b))
    # Another process's sync of org A, claimed and still running.
    claim = await kbcore_store.claim(
        org_a, min_interval=timedelta(0), lease=timedelta(minutes=2), actor=None
    )
    assert isinstance(claim, Claimed)
    outcomes.append(await attempt(sync, org_a))
    assert outcomes == [
        "ok",
        "RateLimited",
        "RateLimited",
        "SyncFailed",
        "SyncFailed",
        "ok",
        "SyncInProgress",
    ]
    return org_a, org_b


async def test_figures_of_a_scripted_history(
    kbcore_store: Store, history: tuple[UUID, UUID]
) -> None:
    """Totals, successes, refusals and failures by message, over every org."""
    stats = await sync_stats(kbcore_store)
    assert (stats.total, stats.successful) == (8, 2)  # the running claim counts, as in SQL
    [today] = stats.days
    assert (today.total, today.successful, today.success_rate) == (8, 2, 25.0)
    assert (stats.rate_limit_hits, stats.in_progress_rejections) == (2, 1)
    # One row per kind, however the messages differ ("Try again in 299s", "... 298s").
    assert [(error.kind, error.count) for error in stats.errors] == [
        ("no documents", 2),
        ("rate limited", 2),
        ("in progress", 1),
    ]
    no_documents, rate_limited, in_progress = (error.message or "" for error in stats.errors)
    assert (no_documents, in_progress) == (NO_DOCUMENTS, IN_PROGRESS)
    assert rate_limited.startswith("Rate limited. Try again in ")
    assert stats.durations.count == 2
    assert 0 <= (stats.durations.min_ms or 0) <= (stats.durations.max_ms or 0)
    assert stats.org_id is None
    assert stats.since < stats.until


async def test_one_org(kbcore_store: Store, history: tuple[UUID, UUID]) -> None:
    """``org_id`` keeps to that org's rows."""
    _, org_b = history
    stats = await sync_stats(kbcore_store, org_id=str(org_b))
    assert stats.org_id == org_b
    assert (stats.total, stats.successful, stats.days[0].success_rate) == (3, 1, 33.33)
    assert (stats.rate_limit_hits, stats.in_progress_rejections) == (0, 0)
    assert stats.errors == (ErrorCount(kind="no documents", count=2, message=NO_DOCUMENTS),)


async def test_an_empty_log(kbcore_store: Store) -> None:
    """No rows: no days, no durations, zero counts."""
    stats = await sync_stats(kbcore_store, since=timedelta(minutes=5))
    assert stats.days == ()
    assert stats.errors == ()
    assert stats.durations == DurationStats(
        count=0, average_ms=None, min_ms=None, max_ms=None, p95_ms=None
    )
    assert (stats.total, stats.rate_limit_hits, stats.in_progress_rejections) == (0, 0, 0)
    assert stats.until - stats.since == timedelta(minutes=5)


async def test_since_an_instant(kbcore_store: Store, history: tuple[UUID, UUID]) -> None:
    """An aware datetime after every row leaves the window empty."""
    stats = await sync_stats(kbcore_store, since=datetime.now(UTC) + timedelta(hours=1))
    assert stats.total == 0


async def test_rows_older_than_the_window_are_left_out() -> None:
    """A day after a sync, the default window no longer holds it; a wider one does."""
    store, fake = MemoryStore(), FakeVapi()
    org_id = await org_with_assistants(fake, MemoryHostTables(store))
    await KnowledgeBase(store).create(org_id, filename="a.md", content="x")
    async with fake.http_client() as http:
        assert await attempt(SyncCoordinator(store, http_client=http), org_id) == "ok"
    store.advance_clock(timedelta(days=1))
    assert (await sync_stats(store)).total == 0
    assert (await sync_stats(store, since=timedelta(days=2))).total == 1


async def test_since_the_first_instant_of_the_year_1_counts_every_row(
    kbcore_store: Store, history: tuple[UUID, UUID]
) -> None:
    """All of time: every row, and the window starts where it was asked to."""
    first = datetime(1, 1, 1, tzinfo=UTC)
    stats = await sync_stats(kbcore_store, since=first)
    assert stats.total == (await sync_stats(kbcore_store, since=timedelta(days=1))).total > 0
    assert stats.since == first


async def test_the_longest_duration_reaches_back_to_the_year_1(kbcore_store: Store) -> None:
    """A duration that ends a day after the year 1 began is a window like any other."""
    longest = datetime.now(UTC) - datetime(1, 1, 3, tzinfo=UTC)
    stats = await sync_stats(kbcore_store, since=longest)
    assert stats.since.year == 1


@pytest.mark.parametrize(
    "since",
    [
        datetime(2025, 1, 1),  # naive
        timedelta(0),
        "24h",
        timedelta(days=10**8),
        timedelta(days=365 * 2100),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # the year 0 in UTC
    ],
)
async def test_bad_windows_are_validation_errors(kbcore_store: Store, since: object) -> None:
    """A naive datetime, a non-positive duration, another type, or before the year 1."""
    with pytest.raises(ValidationError) as caught:
        await sync_stats(kbcore_store, since=since)  # type: ignore[arg-type]
    assert caught.value.field == "since"


async def test_a_malformed_org_id_is_a_validation_error() -> None:
    """A malformed org id is refused before any query."""
    with pytest.raises(ValidationError, match="org_id"):
        await sync_stats(MemoryStore(), org_id="not-a-uuid")


async def test_any_stats_source_is_accepted() -> None:
    """A host's own ``SyncStatsSource`` is called with the validated arguments."""
    calls: list[tuple[datetime | timedelta, UUID | None]] = []
    empty = SyncStats(
        since=datetime.now(UTC),
        until=datetime.now(UTC),
        org_id=None,
        days=(),
        durations=DurationStats(count=0, average_ms=None, min_ms=None, max_ms=None, p95_ms=None),
        rate_limit_hits=0,
        in_progress_rejections=0,
        errors=(),
    )

    class Source:
        async def sync_stats(
            self, *, since: datetime | timedelta, org_id: UUID | None
        ) -> SyncStats:
            calls.append((since, org_id))
            return empty

    org_id = uuid.uuid4()
    assert isinstance(Source(), SyncStatsSource)
    assert await sync_stats(Source(), org_id=str(org_id)) is empty
    assert calls == [(timedelta(hours=24), org_id)]
    with pytest.raises(TypeError, match="object"):
        await sync_stats(object())  # type: ignore[arg-type]


# PostgreSQL: the runbook's own queries, verbatim, give the same figures.


@pytest.fixture
async def scripted_log(kbcore_pool: asyncpg.Pool) -> PostgresStore:
    """The runbook test's scripted rows (two orgs, recent and two days old)."""
    orgs = [uuid.uuid4(), uuid.uuid4()]
    await kbcore_pool.executemany(
        "INSERT INTO kb_sync_log (org_id, created_at, status, duration_ms, error_message)"
        " VALUES ($1, now() - $2::interval, $3, $4, $5)",
        [(orgs[i % 2], *row) for i, row in enumerate(ROWS)],
    )
    return PostgresStore(kbcore_pool)


async def runbook_figures(pool: asyncpg.Pool) -> dict[str, object]:
    """What the four runbook queries say, in ``SyncStats``'s terms."""
    days = await pool.fetch(SYNC_SUCCESS_RATE)
    durations = await pool.fetchrow(AVERAGE_SYNC_DURATION)
    assert durations is not None
    errors = await pool.fetch(ERROR_SUMMARY)
    return {
        "days": tuple(
            DayStats(
                date=row["date"],
                total=row["total_syncs"],
                successful=row["successful"],
                success_rate=float(row["success_rate"]),
            )
            for row in days
        ),
        "durations": (
            None if durations["avg_duration_ms"] is None else float(durations["avg_duration_ms"]),
            durations["min_duration_ms"],
            durations["max_duration_ms"],
            durations["p95_duration_ms"],
        ),
        "rate_limit_hits": await pool.fetchval(RATE_LIMIT_HITS),
        "errors": _by_kind((row["error_message"], row["count"]) for row in errors),
    }


def _by_kind(counts: Iterable[tuple[str | None, int]]) -> list[tuple[str, str | None, int]]:
    """The runbook's per-message counts summed per kind (per message for unknown ones)."""
    totals: Counter[tuple[str, str | None]] = Counter()
    for message, count in counts:
        kind = error_kind(message)
        totals[kind, message if kind == OTHER_ERRORS else None] += count
    return sorted((kind, message, count) for (kind, message), count in totals.items())


def report_figures(stats: SyncStats) -> dict[str, object]:
    d = stats.durations
    return {
        "days": stats.days,
        "durations": (d.average_ms, d.min_ms, d.max_ms, d.p95_ms),
        "rate_limit_hits": stats.rate_limit_hits,
        "errors": sorted(
            (e.kind, e.message if e.kind == OTHER_ERRORS else None, e.count) for e in stats.errors
        ),
    }


async def test_the_runbook_queries_agree_on_a_scripted_log(
    scripted_log: PostgresStore, kbcore_pool: asyncpg.Pool
) -> None:
    """Rows inserted as the existing system wrote them: every figure matches the SQL."""
    stats = await sync_stats(scripted_log)
    assert report_figures(stats) == await runbook_figures(kbcore_pool)
    assert stats.durations.p95_ms == pytest.approx(8800.0)
    assert stats.errors == (
        ErrorCount(
            kind="no agents",
            count=4,
            message="No agents have a Vapi assistant id; save the agent configuration first",
        ),
        # Both messages are as old: the sample is the bytewise first.
        ErrorCount(kind="rate limited", count=3, message="Rate limited. Try again in 120s."),
    )


@ON_POSTGRES
async def test_the_runbook_queries_agree_on_a_history_of_real_syncs(
    kbcore_store: Store, history: tuple[UUID, UUID], kbcore_pool: asyncpg.Pool
) -> None:
    """Rows written by SyncCoordinator: every figure matches the SQL."""
    stats = await sync_stats(kbcore_store)
    assert report_figures(stats) == await runbook_figures(kbcore_pool)


async def test_the_report_is_one_statement(kbcore_database_dsn: str) -> None:
    """Every figure comes from the database in a single round trip."""
    records: list[LoggedQuery] = []

    async def log_queries(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(records.append)

    async with asyncpg.create_pool(
        kbcore_database_dsn, min_size=1, max_size=1, init=log_queries
    ) as pool:
        store = PostgresStore(pool)
        await sync_stats(store)  # asyncpg learns the result's types once per connection
        records.clear()
        await sync_stats(store, org_id=uuid.uuid4())
    statements = [r.query for r in records if "pg_advisory_unlock_all" not in r.query]
    assert len(statements) == 1


async def test_the_example_script_prints_the_report(
    scripted_log: PostgresStore, kbcore_database_dsn: str
) -> None:
    """examples/report.py runs against a database and prints the runbook's figures."""
    script = Path(__file__).parents[1] / "examples" / "report.py"
    env = {**os.environ, "DATABASE_URL": kbcore_database_dsn}
    done = await anyio.run_process([sys.executable, str(script)], env=env)
    lines = done.stdout.decode().splitlines()
    assert lines[0].endswith(": 12 attempts")
    assert "Duration: avg 4000 ms, max 10000 ms, p95 8800 ms" in lines
    assert "Rate-limit hits: 3" in lines
    assert "  4 x no agents (latest: " + NO_AGENTS + ")" in lines


# Kinds of failure


#: Every message kbcore records for a failed attempt, with the kind the report gives it.
KBCORE_MESSAGES = [
    (str(RateLimited(298.2)), "rate limited"),
    (IN_PROGRESS, "in progress"),
    ("Vapi rejected the API key; check the org's Vapi integration", "Vapi rejected the key"),
    ("Vapi rejected the API key; check VAPI_API_KEY", "Vapi rejected the key"),
    (
        "Could not list the org's files on Vapi: Vapi at http://127.0.0.1:9 refused the connection",
        "Vapi unreachable",
    ),
    (
        "Could not list the org's files on Vapi: Vapi at https://api.vapi.invalid could not be "
        "found: its host name does not resolve (DNS)",
        "Vapi unreachable",
    ),
    (
        "Could not upload 2 of 2 documents to Vapi; the next sync retries them: Vapi at "
        "https://127.0.0.1:9 failed the TLS handshake (wrong version number)",
        "Vapi unreachable",
    ),
    (
        "Could not list the org's files on Vapi: Vapi at https://10.255.255.1 did not accept a "
        "connection within 5 s",
        "Vapi unreachable",
    ),
    (
        "Could not list the org's files on Vapi: Vapi at http://127.0.0.1:8 did not answer "
        "within 4 s",
        "Vapi did not answer",
    ),
    (
        "Could not create the knowledge-base tool on Vapi: Vapi at http://127.0.0.1:8 closed "
        "the connection without answering",
        "Vapi did not answer",
    ),
    (
        "No Vapi API key is configured; add the org's Vapi integration or set VAPI_API_KEY",
        "no Vapi key",
    ),
    (NO_DOCUMENTS, "no documents"),
    ("No agents with role inbound or outbound; create the org's agents first", "no agents"),
    ("No agents have a Vapi assistant id; save the agent configuration first", "no agents"),
    (CANCELLED_MESSAGE, "cancelled"),
    (LEASE_EXPIRED_MESSAGE, "interrupted"),
    ("The sync lost its claim on the org and stopped", "claim lost"),
    ("The sync lost its claim on the org; run it again", "claim lost"),
    ("The sync stopped on an unexpected error; see the logs for details", "unexpected error"),
    ("Could not list the org's files on Vapi", "Vapi call failed"),
    ("Could not upload 3 of 200 documents to Vapi; the next sync retries them", "Vapi call failed"),
    (
        "Could not update 1 of 2 Vapi assistants (asst-1); check that they exist and have a model",
        "Vapi call failed",
    ),
    ("Failed to sync knowledge base", OTHER_ERRORS),  # the existing system's own words
    (None, OTHER_ERRORS),
]


@pytest.mark.parametrize(("message", "kind"), KBCORE_MESSAGES)
def test_every_failure_kbcore_records_has_its_kind(message: str | None, kind: str) -> None:
    """Messages that differ in their details (a wait, a URL, a count) share one kind."""
    assert error_kind(message) == kind


async def test_the_unreachable_reason_a_sync_records_is_of_its_kind(
    kbcore_store: Store, kbcore_host_tables: HostTables, kbcore_kb: KnowledgeBase
) -> None:
    """The reason a sync writes when Vapi refuses connections is classified as such."""
    org_id = await org_with_assistants(FakeVapi(), kbcore_host_tables)
    await kbcore_kb.create(org_id, filename="a.md", content="x")
    coordinator = SyncCoordinator(kbcore_store, vapi_base_url="http://127.0.0.1:9")
    with pytest.raises(SyncFailed) as caught:
        await coordinator.sync(org_id)
    assert error_kind(caught.value.reason) == "Vapi unreachable"
    [error] = (await sync_stats(kbcore_store, org_id=org_id)).errors
    assert (error.kind, error.count, error.message) == ("Vapi unreachable", 1, caught.value.reason)


#: Messages to draw from: every kind, two of some, unknown ones, NULL.
MESSAGES = [message for message, _ in KBCORE_MESSAGES] + ["Other failure", "Ünïcode ☃"]


@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 3),  # minutes ago: few values, so that ties happen
            st.sampled_from(["failed", "failed", "success"]),
            st.sampled_from(MESSAGES),
        ),
        max_size=12,
    )
)
async def test_postgres_and_python_group_failures_alike(
    kbcore_pool: asyncpg.Pool, rows: list[tuple[int, str, str | None]]
) -> None:
    """The one SQL statement and MemoryStore's Python give the same kinds, counts and samples."""
    org_id = uuid.uuid4()
    await kbcore_pool.executemany(
        "INSERT INTO kb_sync_log (org_id, created_at, status, error_message)"
        " VALUES ($1, date_trunc('second', now()) - make_interval(mins => $2), $3, $4)",
        [(org_id, *row) for row in rows],
    )
    stats = await sync_stats(PostgresStore(kbcore_pool), org_id=org_id)
    records = await kbcore_pool.fetch("SELECT * FROM kb_sync_log WHERE org_id = $1", org_id)
    runs = [
        SyncRun(
            id=r["id"],
            org_id=r["org_id"],
            status=r["status"],
            error_message=r["error_message"],
            tool_id=None,
            duration_ms=None,
            docs_synced=None,
            assistants_updated=None,
            created_at=r["created_at"],
        )
        for r in records
    ]
    in_python = stats_of_runs(runs, since=stats.since, until=stats.until, org_id=org_id)
    assert stats.errors == in_python.errors
    assert sum(error.count for error in stats.errors) == sum(r[1] == "failed" for r in rows)
