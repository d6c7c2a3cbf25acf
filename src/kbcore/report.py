"""Sync statistics from the audit log: the runbook's monitoring figures, as typed values.

``await sync_stats(store)`` answers what the deployment runbook's four queries
answer (success rate per day; average, min, max and p95 duration of successful
syncs; rate-limit hits; failures), plus the attempts refused because another
sync was running. Failures are grouped by kind (rate limited, Vapi rejected the
key, ...), each with a sample message. On PostgreSQL the database computes every
figure in one round trip; nothing is loaded row by row.
"""

from __future__ import annotations

from datetime import UTC as _UTC
from datetime import datetime, timedelta
from uuid import UUID

from kbcore import _validators as check
from kbcore._domain import (
    ERROR_KINDS,
    OTHER_ERRORS,
    DayStats,
    DurationStats,
    ErrorCount,
    SyncStats,
    error_kind,
)
from kbcore._ports import SyncStatsSource
from kbcore.errors import ValidationError

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

# The earliest start of a window from a duration: Python's datetime ends at year 1.
_EARLIEST = datetime(1, 1, 2, tzinfo=_UTC)
_OUT_OF_RANGE = "must not reach back before the year 1"


async def sync_stats(
    store: SyncStatsSource,
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
    org = None if org_id is None else check.uuid("org_id", org_id)
    return await _source_for(store).sync_stats(since=window, org_id=org)


def _valid_since(value: object) -> datetime | timedelta:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError("since", "must be a timezone-aware datetime")
        try:
            value.astimezone(_UTC)
        except OverflowError:
            raise ValidationError("since", _OUT_OF_RANGE) from None
        return value
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValidationError("since", "must be a positive duration")
        # The database's clock is not this one; a day's margin keeps both in range.
        if value > datetime.now(_UTC) - _EARLIEST:
            raise ValidationError("since", _OUT_OF_RANGE)
        return value
    raise ValidationError("since", f"must be a datetime or a timedelta, not {type(value).__name__}")


def _source_for(store: object) -> SyncStatsSource:
    # PostgresStore and MemoryStore answer sync_stats themselves; so may a host's store.
    if isinstance(store, SyncStatsSource):
        return store
    raise TypeError(f"No sync statistics for {type(store).__name__}")
