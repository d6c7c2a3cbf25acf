"""Sync statistics from the audit log: the runbook's monitoring figures, as typed values.

``await sync_stats(store)`` answers what the deployment runbook's four queries
answer (success rate per day; average, min, max and p95 duration of successful
syncs; rate-limit hits; failures), plus the attempts refused because another
sync was running. Failures are grouped by kind (rate limited, Vapi rejected the
key, ...), each with a sample message. On PostgreSQL the database computes every
figure in one round trip; nothing is loaded row by row.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from uuid import UUID

import attrs

from kbcore import rules
from kbcore.domain import LEASE_EXPIRED_MESSAGE, SyncRun
from kbcore.errors import ValidationError
from kbcore.sync.claims import IN_PROGRESS_MESSAGE
from kbcore.sync.coordinator import CANCELLED_MESSAGE

if TYPE_CHECKING:
    from kbcore.ports import SyncStore

__all__ = [
    "DEFAULT_WINDOW",
    "ERROR_KINDS",
    "OTHER_ERRORS",
    "DayStats",
    "DurationStats",
    "ErrorCount",
    "SyncStats",
    "SyncStatsSource",
    "error_kind",
    "sync_stats",
]

#: The runbook's window: ``created_at > NOW() - INTERVAL '24 hours'``.
DEFAULT_WINDOW = timedelta(hours=24)

#: Rate-limited attempts are failed rows whose message starts with this (as the runbook asks).
RATE_LIMITED_PREFIX = "Rate limited"

#: The kinds of failure, as (kind, SQL ``LIKE`` pattern of the message): the first match
#: names a failure's kind. The messages are kbcore's own (``SyncFailed.reason`` and the
#: refusals), so one kind collects messages that differ only in their details.
ERROR_KINDS: tuple[tuple[str, str], ...] = (
    ("rate limited", f"{RATE_LIMITED_PREFIX}%"),
    ("in progress", IN_PROGRESS_MESSAGE),
    ("Vapi rejected the key", "Vapi rejected the API key%"),
    ("Vapi unreachable", "%Vapi at % refused the connection%"),
    ("Vapi unreachable", "%Vapi at % could not be found%"),
    ("Vapi unreachable", "%Vapi at % failed the TLS handshake%"),
    ("Vapi unreachable", "%Vapi at % did not accept a connection%"),
    ("Vapi unreachable", "%Vapi at % could not be reached%"),
    ("Vapi did not answer", "%Vapi at % did not answer within%"),
    ("Vapi did not answer", "%Vapi at % closed the connection without answering%"),
    ("no Vapi key", "No Vapi API key is configured%"),
    ("no documents", "No active documents to sync%"),
    ("no agents", "No agents %"),
    ("cancelled", CANCELLED_MESSAGE),
    ("interrupted", LEASE_EXPIRED_MESSAGE),
    ("claim lost", "The sync lost its claim%"),
    ("unexpected error", "The sync stopped on an unexpected error%"),
    ("Vapi call failed", "Could not %"),
)

#: The kind of a message no pattern matches; each such message is counted on its own.
OTHER_ERRORS = "other"


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
    """How often one kind of failure occurred, with its latest message as a sample.

    ``kind`` is a name from ``ERROR_KINDS``, or ``OTHER_ERRORS`` for a message no
    pattern matches (such as the existing system's); those count message by message,
    as the runbook's error summary does.
    """

    kind: str
    count: int
    message: str | None


@attrs.frozen(kw_only=True)
class SyncStats:
    """What the audit log says about the syncs created after ``since`` (up to ``until``).

    ``days`` are newest first; ``errors`` most frequent first (ties by kind, then message).
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


def error_kind(message: str | None) -> str:
    """The kind of failure ``message`` tells of: an ``ERROR_KINDS`` name or ``OTHER_ERRORS``."""
    if message is not None:
        for kind, pattern in _KIND_PATTERNS:
            if pattern.fullmatch(message):
                return kind
    return OTHER_ERRORS


def _like(pattern: str) -> re.Pattern[str]:
    """SQL ``LIKE`` as a regular expression: ``%`` any text, ``_`` one character."""
    parts = ("." if char == "_" else ".*" if char == "%" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.DOTALL)


_KIND_PATTERNS = tuple((kind, _like(pattern)) for kind, pattern in ERROR_KINDS)


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
