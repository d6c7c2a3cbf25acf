"""How a sync behaves: its rate limit, its lease, its parallelism and its patience."""

from __future__ import annotations

from datetime import timedelta

import attrs

from kbcore.sync.lease import LEASE_MARGIN
from kbcore.sync.prompt import DEFAULT_INSTRUCTION

_positive = attrs.validators.gt(0)
_positive_seconds = attrs.validators.gt(0.0)
_positive_duration = attrs.validators.gt(timedelta(0))


def _one_line(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip() or len(value.splitlines()) != 1:
        raise ValueError(f"{attribute.name} must be one non-empty line of text")


@attrs.frozen(kw_only=True)
class SyncPolicy:
    """The knobs of ``SyncCoordinator``. The defaults suit production.

    ``min_interval`` is the least time between two successful syncs of an org.
    ``lease`` is how long a claimed sync may go without renewing its claim
    before another process may take over (it renews every third of it, and
    before every Vapi write); it must exceed ``retry_timeout``, the longest a
    Vapi call may last, by a minute at least (``kbcore.sync.lease.LEASE_MARGIN``).
    Retries apply per Vapi call: up to ``retry_attempts`` tries within
    ``retry_timeout`` seconds, waiting from ``retry_wait_initial`` doubling up
    to ``retry_wait_max`` seconds (with jitter), or what ``Retry-After`` says,
    capped at ``retry_after_max``.
    ``instruct_assistants`` keeps one marked line, ``instruction``, at the end of
    every assistant's system prompt (off by default; see ``kbcore.sync.prompt``).
    """

    min_interval: timedelta = attrs.field(
        default=timedelta(minutes=5), validator=_positive_duration
    )
    lease: timedelta = attrs.field(default=timedelta(minutes=5), validator=_positive_duration)
    max_concurrency: int = attrs.field(default=8, validator=_positive)
    request_timeout: float = attrs.field(default=30.0, validator=_positive_seconds)
    retry_attempts: int = attrs.field(default=10, validator=_positive)
    retry_timeout: float = attrs.field(default=120.0, validator=_positive_seconds)
    retry_wait_initial: float = attrs.field(default=0.5, validator=_positive_seconds)
    retry_wait_max: float = attrs.field(default=20.0, validator=_positive_seconds)
    retry_after_max: float = attrs.field(default=60.0, validator=_positive_seconds)
    #: Ask Vapi for its file list on each sync, to repair files it lost or failed.
    reconcile_files: bool = True
    instruct_assistants: bool = False
    instruction: str = attrs.field(default=DEFAULT_INSTRUCTION, validator=_one_line)

    def __attrs_post_init__(self) -> None:
        longest_call = timedelta(seconds=self.retry_timeout)
        if self.lease < longest_call + LEASE_MARGIN:
            raise ValueError(
                f"lease ({self.lease}) must exceed retry_timeout ({longest_call}), the longest "
                f"a Vapi call may last, by {LEASE_MARGIN} at least: a write that starts under "
                "a renewed lease must end before the lease can lapse"
            )
