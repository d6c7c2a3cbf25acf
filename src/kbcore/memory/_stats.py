"""Sync statistics in memory: the runbook's figures over the audit rows, in Python.

What the one statement of postgres/_stats.py computes, computed the same way:
calendar days are UTC days.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from kbcore._domain import (
    IN_PROGRESS_MESSAGE,
    OTHER_ERRORS,
    RATE_LIMITED_PREFIX,
    DayStats,
    DurationStats,
    ErrorCount,
    SyncRun,
    SyncStats,
    error_kind,
)
from kbcore.memory._tables import Clock, Tables


class MemorySyncStats:
    """``SyncStatsSource`` for ``MemoryStore``."""

    __slots__ = ()
    #: The committed rows.
    _tables: Tables
    _clock: Clock

    async def sync_stats(self, *, since: datetime | timedelta, org_id: UUID | None) -> SyncStats:
        until = self._clock.now()
        start = until - since if isinstance(since, timedelta) else since
        runs = [
            run
            for run in self._tables.runs
            if run.created_at > start and (org_id is None or run.org_id == org_id)
        ]
        return stats_of_runs(runs, since=start, until=until, org_id=org_id)


def stats_of_runs(
    runs: Sequence[SyncRun], *, since: datetime, until: datetime, org_id: UUID | None
) -> SyncStats:
    """The statistics of audit rows already selected; calendar days are UTC days."""
    failed = [run for run in runs if run.status == "failed"]
    return SyncStats(
        since=since,
        until=until,
        org_id=org_id,
        days=_days(runs),
        durations=_durations([r.duration_ms for r in runs if r.status == "success"]),
        rate_limit_hits=sum(
            1 for r in failed if (r.error_message or "").startswith(RATE_LIMITED_PREFIX)
        ),
        in_progress_rejections=sum(1 for r in failed if r.error_message == IN_PROGRESS_MESSAGE),
        errors=_error_counts(failed),
    )


def _error_counts(failed: Sequence[SyncRun]) -> tuple[ErrorCount, ...]:
    # As the SQL does: a group per kind (per message for the others), whose sample is the
    # latest message, ties broken bytewise (UTF-8 bytes sort as code points do).
    groups: defaultdict[tuple[str, str | None], list[SyncRun]] = defaultdict(list)
    for run in failed:
        kind = error_kind(run.error_message)
        groups[kind, run.error_message if kind == OTHER_ERRORS else None].append(run)
    counts = [
        ErrorCount(
            kind=kind,
            count=len(group),
            message=min(
                group, key=lambda r: (-r.created_at.timestamp(), r.error_message or "")
            ).error_message,
        )
        for (kind, _), group in groups.items()
    ]
    return tuple(sorted(counts, key=_error_order))


def _error_order(error: ErrorCount) -> tuple[int, str, bool, str]:
    # As PostgreSQL's ORDER BY count DESC, kind, message COLLATE "C": a NULL message last.
    return (-error.count, error.kind, error.message is None, error.message or "")


def _days(runs: Sequence[SyncRun]) -> tuple[DayStats, ...]:
    totals: defaultdict[date, list[int]] = defaultdict(lambda: [0, 0])
    for run in runs:
        day = totals[run.created_at.astimezone(UTC).date()]
        day[0] += 1
        day[1] += run.status == "success"
    return tuple(
        DayStats(
            date=day,
            total=total,
            successful=successful,
            success_rate=success_rate(successful, total),
        )
        for day, (total, successful) in sorted(totals.items(), reverse=True)
    )


def success_rate(successful: int, total: int) -> float:
    """``ROUND(100.0 * successful / total, 2)``, rounding halves away from zero as SQL does."""
    exact = Decimal(100 * successful) / Decimal(total)
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _durations(values: Sequence[int | None]) -> DurationStats:
    known = sorted(value for value in values if value is not None)
    if not known:
        return DurationStats(count=0, average_ms=None, min_ms=None, max_ms=None, p95_ms=None)
    return DurationStats(
        count=len(known),
        average_ms=sum(known) / len(known),
        min_ms=known[0],
        max_ms=known[-1],
        p95_ms=percentile_cont(known, 0.95),
    )


def percentile_cont(ordered: Sequence[int], fraction: float) -> float:
    """PostgreSQL's ``percentile_cont``: linear interpolation between the two nearest ranks."""
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    return float(ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower))
