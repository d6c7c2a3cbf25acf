"""Sync statistics from the audit log: the runbook's monitoring figures, as typed values.

``await sync_stats(store)`` answers what the deployment runbook's four queries
answer (success rate per day; average, min, max and p95 duration of successful
syncs; rate-limit hits; failures by message), plus the attempts refused because
another sync was running. On PostgreSQL the database computes every figure in one
round trip; nothing is loaded row by row.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from uuid import UUID

import attrs

from kbcore._domain import SyncRun
from kbcore.documents import _rules as rules
from kbcore.errors import ValidationError
from kbcore.sync._claims import IN_PROGRESS_MESSAGE

if TYPE_CHECKING:
    from kbcore._ports import SyncStore

__all__ = [
    "DEFAULT_WINDOW",
    "DayStats",
    "DurationStats",
    "ErrorCount",
    "SyncStats",
    "SyncStatsSource",
    "sync_stats",
]

#: The runbook's window: ``created_at > NOW() - INTERVAL '24 hours'``.
DEFAULT_WINDOW = timedelta(hours=24)

#: Rate-limited attempts are failed rows whose message starts with this (as the runbook asks).
RATE_LIMITED_PREFIX = "Rate limited"


@attrs.frozen(kw_only=True)
class DayStats:
    """Attempts of one calendar day (the database session's time zone).

    ``total`` counts every row, refused and still running ones included, as the
    runbook's query does; ``success_rate`` is a percentage rounded to 2 places.
    """

    date: date
    total: int
    successful: int
    success_rate: float


@attrs.frozen(kw_only=True)
class DurationStats:
    """Durations of the successful syncs, in milliseconds; ``None`` when there were none."""

    count: int
    average_ms: float | None
    min_ms: int | None
    max_ms: int | None
    p95_ms: float | None


@attrs.frozen(kw_only=True)
class ErrorCount:
    """How often one failure message occurred."""

    message: str | None
    count: int


@attrs.frozen(kw_only=True)
class SyncStats:
    """What the audit log says about the syncs created after ``since`` (up to ``until``).

    ``days`` are newest first; ``errors`` most frequent first (ties by message).
    Both instants are the database's clock. ``org_id`` is ``None`` for all orgs.
    """

    since: datetime
    until: datetime
    org_id: UUID | None
    days: tuple[DayStats, ...]
    durations: DurationStats
    rate_limit_hits: int
    in_progress_rejections: int
    errors: tuple[ErrorCount, ...]

    @property
    def total(self) -> int:
        """Attempts in the window."""
        return sum(day.total for day in self.days)

    @property
    def successful(self) -> int:
        """Successful syncs in the window."""
        return sum(day.successful for day in self.days)


@runtime_checkable
class SyncStatsSource(Protocol):
    """Anything that can compute ``SyncStats`` from an audit log.

    ``since`` is an instant, or a duration back from the source's own "now".
    """

    async def sync_stats(self, *, since: datetime | timedelta, org_id: UUID | None) -> SyncStats:
        """The statistics of the rows created after ``since``, of one org or of all."""
        ...


async def sync_stats(
    store: SyncStore | SyncStatsSource,
    *,
    since: datetime | timedelta = DEFAULT_WINDOW,
    org_id: UUID | str | None = None,
) -> SyncStats:
    """Sync statistics of ``store``'s audit log, of one org or (by default) of all.

    ``since`` is an aware ``datetime``, or a ``timedelta`` back from now by the
    database's clock (default: the last 24 hours). ``store`` is a
    ``PostgresStore``, a ``MemoryStore``, or any other ``SyncStatsSource``.
    """
    window = _valid_since(since)
    org = None if org_id is None else rules.uuid(org_id, "org_id")
    return await _source_for(store).sync_stats(since=window, org_id=org)


def _valid_since(value: object) -> datetime | timedelta:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError("since", "must be a timezone-aware datetime")
        return value
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValidationError("since", "must be a positive duration")
        return value
    raise ValidationError("since", f"must be a datetime or a timedelta, not {type(value).__name__}")


def _source_for(store: object) -> SyncStatsSource:
    # PostgresStore and MemoryStore answer sync_stats themselves; so may a host's store.
    if isinstance(store, SyncStatsSource):
        return store
    raise TypeError(f"No sync statistics for {type(store).__name__}")


def stats_of_runs(
    runs: Sequence[SyncRun], *, since: datetime, until: datetime, org_id: UUID | None
) -> SyncStats:
    """The statistics of audit rows already selected; calendar days are UTC days."""
    failed = [run for run in runs if run.status == "failed"]
    messages = Counter(run.error_message for run in failed)
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
        errors=tuple(
            ErrorCount(message=message, count=count)
            for message, count in sorted(messages.items(), key=_error_order)
        ),
    )


def _error_order(item: tuple[str | None, int]) -> tuple[int, bool, str]:
    # As PostgreSQL's ORDER BY count DESC, error_message COLLATE "C": NULL sorts last.
    message, count = item
    return (-count, message is None, message or "")


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
