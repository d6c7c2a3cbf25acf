"""The runbook's monitoring SQL runs verbatim on kbcore's schema and gives true figures."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import asyncpg
import pytest

pytestmark = [pytest.mark.anyio, pytest.mark.database]

# Copied verbatim from the deployment runbook, "Key Metrics to Track".
SYNC_SUCCESS_RATE = """
SELECT 
  DATE(created_at) as date,
  COUNT(*) as total_syncs,
  SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) as successful,
  ROUND(100.0 * SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) / COUNT(*), 2) as success_rate
FROM kb_sync_log
WHERE created_at > NOW() - INTERVAL '24 hours'
GROUP BY DATE(created_at)
ORDER BY date DESC;
"""  # noqa: W291

AVERAGE_SYNC_DURATION = """
SELECT 
  AVG(duration_ms) as avg_duration_ms,
  MAX(duration_ms) as max_duration_ms,
  MIN(duration_ms) as min_duration_ms,
  PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY duration_ms) as p95_duration_ms
FROM kb_sync_log
WHERE status = 'success' AND created_at > NOW() - INTERVAL '24 hours';
"""  # noqa: W291

RATE_LIMIT_HITS = """
SELECT 
  COUNT(*) as rate_limit_hits
FROM kb_sync_log
WHERE status = 'failed' 
  AND error_message LIKE 'Rate limited%'
  AND created_at > NOW() - INTERVAL '24 hours';
"""  # noqa: W291

ERROR_SUMMARY = """
SELECT 
  error_message,
  COUNT(*) as count
FROM kb_sync_log
WHERE status = 'failed' AND created_at > NOW() - INTERVAL '24 hours'
GROUP BY error_message
ORDER BY count DESC;
"""  # noqa: W291

NO_AGENTS = "No agents have a Vapi assistant id; save the agent configuration first"

# (age, status, duration_ms, error_message). All recent rows share one age, so that
# they fall on one calendar date whatever the time of day the test runs.
RECENT = timedelta(minutes=1)
OLD = timedelta(days=2)
ROWS = [
    (RECENT, "success", 1000, None),
    (RECENT, "success", 2000, None),
    (RECENT, "success", 3000, None),
    (RECENT, "success", 4000, None),
    (RECENT, "success", 10000, None),
    *[(RECENT, "failed", 150, NO_AGENTS)] * 4,
    *[(RECENT, "failed", 5, "Rate limited. Try again in 120s.")] * 2,
    (RECENT, "failed", 4, "Rate limited. Try again in 45s."),
    (OLD, "success", 99999, None),
    (OLD, "failed", 5, "Rate limited. Try again in 1s."),
]


@pytest.fixture
async def sync_log(kbcore_pool: asyncpg.Pool) -> asyncpg.Pool:
    """The scripted audit log: two orgs, last 24 hours and older."""
    orgs = [uuid.uuid4(), uuid.uuid4()]
    await kbcore_pool.executemany(
        "INSERT INTO kb_sync_log (org_id, created_at, status, duration_ms, error_message)"
        " VALUES ($1, now() - $2::interval, $3, $4, $5)",
        [(orgs[i % 2], *row) for i, row in enumerate(ROWS)],
    )
    return kbcore_pool


async def test_success_rate_per_day(sync_log: asyncpg.Pool) -> None:
    """Twelve attempts in the last day, five successful: 41.67 %."""
    [row] = await sync_log.fetch(SYNC_SUCCESS_RATE)
    assert row["date"] == await sync_log.fetchval("SELECT DATE(now() - $1::interval)", RECENT)
    assert (row["total_syncs"], row["successful"]) == (12, 5)
    assert row["success_rate"] == Decimal("41.67")


async def test_duration_statistics_of_successful_syncs(sync_log: asyncpg.Pool) -> None:
    """Average, max, min and interpolated p95 over the five recent successes only."""
    row = await sync_log.fetchrow(AVERAGE_SYNC_DURATION)
    assert row is not None
    assert row["avg_duration_ms"] == Decimal(4000)
    assert (row["max_duration_ms"], row["min_duration_ms"]) == (10000, 1000)
    # 0.95 * (5 - 1) = 3.8: 80 % of the way from 4000 to 10000.
    assert row["p95_duration_ms"] == pytest.approx(8800.0)


async def test_rate_limit_hits(sync_log: asyncpg.Pool) -> None:
    """Rejected attempts are failed rows whose message starts with 'Rate limited'."""
    assert await sync_log.fetchval(RATE_LIMIT_HITS) == 3


async def test_error_summary(sync_log: asyncpg.Pool) -> None:
    """Each distinct recent failure message with its count, most frequent first."""
    rows = await sync_log.fetch(ERROR_SUMMARY)
    assert [tuple(row) for row in rows] == [
        (NO_AGENTS, 4),
        ("Rate limited. Try again in 120s.", 2),
        ("Rate limited. Try again in 45s.", 1),
    ]
