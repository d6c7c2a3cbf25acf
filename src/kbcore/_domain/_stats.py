"""The audit log's figures: syncs per day, durations, and failures by kind."""

from __future__ import annotations

import re
from datetime import date, datetime
from uuid import UUID

import attrs

from kbcore._domain._sync import (
    CANCELLED_MESSAGE,
    IN_PROGRESS_MESSAGE,
    LEASE_EXPIRED_MESSAGE,
    RATE_LIMITED_PREFIX,
)


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
