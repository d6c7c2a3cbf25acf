"""Sync statistics computed by PostgreSQL: the runbook's aggregates in one statement."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from kbcore._domain import (
    ERROR_KINDS,
    IN_PROGRESS_MESSAGE,
    OTHER_ERRORS,
    RATE_LIMITED_PREFIX,
    DayStats,
    DurationStats,
    ErrorCount,
    SyncStats,
)
from kbcore.postgres._connection import Db

# One statement, one round trip. Each figure is the runbook query's own expression over
# the same rows: DATE(created_at) in the session's time zone, AVG and PERCENTILE_CONT
# over successful rows, LIKE 'Rate limited%'. A failure's kind is the first of the
# patterns ($5 kinds, $6 LIKE patterns, in ERROR_KINDS' order) its message matches; a
# message none matches is its own group. Days and errors come back as parallel arrays
# (ARRAY(...) is empty, never NULL, when there are no rows). Kinds and messages compare
# bytewise (COLLATE "C"), so ties read the same on any server.
_STATS = """
WITH bounds AS (
    SELECT now() AS until, coalesce($1::timestamptz, now() - $2::interval) AS since
), runs AS (
    SELECT l.created_at, l.status, l.error_message, l.duration_ms
    FROM kb_sync_log l, bounds b
    WHERE l.created_at > b.since {org_filter}
), days AS (
    SELECT DATE(created_at) AS day, count(*) AS total,
           count(*) FILTER (WHERE status = 'success') AS successful
    FROM runs
    GROUP BY DATE(created_at)
), failures AS (
    SELECT r.created_at, r.error_message, coalesce(k.kind, $7::text) AS kind,
           CASE WHEN k.kind IS NULL THEN r.error_message END AS unknown_message
    FROM runs r
    LEFT JOIN LATERAL (
        SELECT p.kind
        FROM unnest($5::text[], $6::text[]) WITH ORDINALITY AS p(kind, pattern, n)
        WHERE r.error_message LIKE p.pattern
        ORDER BY p.n
        LIMIT 1
    ) k ON true
    WHERE r.status = 'failed'
), errors AS (
    SELECT kind, count(*) AS count,
           (array_agg(error_message ORDER BY created_at DESC, error_message COLLATE "C"))[1]
               AS sample
    FROM failures
    GROUP BY kind, unknown_message
), durations AS (
    SELECT count(duration_ms) AS count,
           avg(duration_ms)::float8 AS average_ms,
           min(duration_ms) AS min_ms,
           max(duration_ms) AS max_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms
    FROM runs
    WHERE status = 'success'
), refusals AS (
    SELECT count(*) FILTER (WHERE error_message LIKE ($3::text || '%')) AS rate_limit_hits,
           count(*) FILTER (WHERE error_message = $4::text) AS in_progress_rejections
    FROM runs
    WHERE status = 'failed'
)
SELECT b.since, b.until, d.count, d.average_ms, d.min_ms, d.max_ms, d.p95_ms,
       r.rate_limit_hits, r.in_progress_rejections,
       ARRAY(SELECT day FROM days ORDER BY day DESC) AS day_dates,
       ARRAY(SELECT total FROM days ORDER BY day DESC) AS day_totals,
       ARRAY(SELECT successful FROM days ORDER BY day DESC) AS day_successes,
       ARRAY(
           SELECT round(100.0 * successful / total, 2)::float8 FROM days ORDER BY day DESC
       ) AS day_rates,
       ARRAY(SELECT kind FROM errors ORDER BY {error_order}) AS error_kinds,
       ARRAY(SELECT count FROM errors ORDER BY {error_order}) AS error_counts,
       ARRAY(SELECT sample FROM errors ORDER BY {error_order}) AS error_samples
FROM bounds b, durations d, refusals r
"""

_ERROR_ORDER = 'count DESC, kind COLLATE "C", sample COLLATE "C" NULLS LAST'
# Separate statement texts, not "$8 IS NULL OR org_id = $8", so that one org's report
# is served by kb_sync_log_org_id_created_at_idx.
_ALL_ORGS = _STATS.format(org_filter="", error_order=_ERROR_ORDER)
_ONE_ORG = _STATS.format(org_filter="AND l.org_id = $8", error_order=_ERROR_ORDER)
_KINDS = [kind for kind, _ in ERROR_KINDS]
_PATTERNS = [pattern for _, pattern in ERROR_KINDS]


class PostgresSyncStats:
    """``SyncStatsSource`` for ``PostgresStore``: one statement over ``kb_sync_log``."""

    __slots__ = ()
    #: Runs each statement on a pooled connection of its own.
    _read: Db

    async def sync_stats(self, *, since: datetime | timedelta, org_id: UUID | None) -> SyncStats:
        instant = since if isinstance(since, datetime) else None
        ago = since if isinstance(since, timedelta) else None
        args: list[object] = [
            instant,
            ago,
            RATE_LIMITED_PREFIX,
            IN_PROGRESS_MESSAGE,
            _KINDS,
            _PATTERNS,
            OTHER_ERRORS,
        ]
        if org_id is not None:
            args.append(org_id)
        row = await self._read.fetchrow(_ALL_ORGS if org_id is None else _ONE_ORG, *args)
        assert row is not None  # an aggregate over bounds always returns one row
        # An instant as given: asyncpg sends the year 1's first one as -infinity.
        return _stats_from_row(row, org_id, since=row["since"] if instant is None else instant)


def _stats_from_row(row: asyncpg.Record, org_id: UUID | None, since: datetime) -> SyncStats:
    days = zip(
        row["day_dates"], row["day_totals"], row["day_successes"], row["day_rates"], strict=True
    )
    errors = zip(row["error_kinds"], row["error_counts"], row["error_samples"], strict=True)
    return SyncStats(
        since=since,
        until=row["until"],
        org_id=org_id,
        days=tuple(
            DayStats(date=day, total=total, successful=successful, success_rate=rate)
            for day, total, successful, rate in days
        ),
        durations=DurationStats(
            count=row["count"],
            average_ms=row["average_ms"],
            min_ms=row["min_ms"],
            max_ms=row["max_ms"],
            p95_ms=row["p95_ms"],
        ),
        rate_limit_hits=row["rate_limit_hits"],
        in_progress_rejections=row["in_progress_rejections"],
        errors=tuple(
            ErrorCount(kind=kind, count=count, message=sample) for kind, count, sample in errors
        ),
    )
