"""What is worth retrying, how long to wait, and when to give up."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime

import attrs

from kbcore import _validators as check
from kbcore.vapi._errors import VapiTimeout, VapiTransientError, VapiUnreachable

__all__ = ["RetryPolicy", "parse_retry_after", "retry_wait"]

# RFC 9110 says digits; a fraction costs nothing to accept.
_DELAY_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


@attrs.frozen
class RetryPolicy:
    """How one Vapi call is retried.

    ``attempts`` counts the first try. Waits grow as
    ``min(wait_max, wait_initial * wait_exp_base ** (n - 1) + random(0, wait_jitter))``
    unless Vapi sent ``Retry-After``, which is honoured up to ``retry_after_cap``.
    ``timeout`` bounds the whole call, waits and attempts included.

    Two failures get smaller budgets of their own, since a retry within the same call
    rarely cures them. ``connect_attempts`` bounds the tries when no connection can be
    made (refused, a host name that does not resolve, a failed TLS handshake, or no
    connection within ``connect_timeout`` seconds), so an unreachable Vapi fails within
    seconds. ``timeout_attempts`` bounds the tries that get no answer within the
    client's per-attempt timeout, so a server that accepts and never answers costs
    that many timeouts, not the whole of ``timeout``.
    """

    attempts: int = attrs.field(default=5, validator=check.greater_than(0))
    timeout: float = attrs.field(default=90.0, validator=check.greater_than(0))
    wait_initial: float = attrs.field(default=0.5, validator=check.at_least(0))
    wait_max: float = attrs.field(default=10.0, validator=check.at_least(0))
    wait_jitter: float = attrs.field(default=1.0, validator=check.at_least(0))
    wait_exp_base: float = attrs.field(default=2.0, validator=check.greater_than(0))
    retry_after_cap: float = attrs.field(default=30.0, validator=check.at_least(0))
    connect_attempts: int = attrs.field(default=3, validator=check.greater_than(0))
    connect_timeout: float = attrs.field(default=5.0, validator=check.greater_than(0))
    timeout_attempts: int = attrs.field(default=2, validator=check.greater_than(0))

    def tries_for(self, error: BaseException) -> int:
        """How many tries in all a call gets when it fails as ``error`` did."""
        budget = {
            "connect": self.connect_attempts,
            "timeout": self.timeout_attempts,
        }.get(failure_kind(error), self.attempts)
        return min(budget, self.attempts)


def failure_kind(error: BaseException) -> str:
    """``"connect"`` (no connection), ``"timeout"`` (no answer in time), or ``"other"``.

    A 408 is an answer, so it is ``"other"``; so is anything Vapi said.
    """
    if isinstance(error, VapiUnreachable):
        return "connect"
    if isinstance(error, VapiTimeout) and error.status_code is None:
        return "timeout"
    return "other"


def retry_wait(exc: BaseException, *, retry_after_cap: float) -> bool | float:
    """Retry transient failures; wait what the server asked for when it said so.

    This is the ``on=`` hook for ``stamina``: ``False`` lets the error through,
    ``True`` asks for the exponential backoff, and a float is the wait in seconds.
    """
    if not isinstance(exc, VapiTransientError):
        return False
    if exc.retry_after is None:
        return True
    return min(max(exc.retry_after, 0.0), retry_after_cap)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP date.

    A date is measured from ``now`` (the answer's ``Date`` header is the best
    ``now``: it shares the server's clock). A past date means no wait; an
    unreadable value means the server said nothing usable, so ``None``.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
