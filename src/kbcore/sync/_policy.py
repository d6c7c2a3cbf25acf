"""How a sync behaves: its rate limit, its lease, its parallelism and its patience."""

from __future__ import annotations

from datetime import timedelta

import attrs

from kbcore import _validators as check
from kbcore.errors import ValidationError
from kbcore.sync._lease import LEASE_MARGIN
from kbcore.sync._prompt import DEFAULT_INSTRUCTION
from kbcore.vapi import RetryPolicy

_positive = check.greater_than(0)
_positive_seconds = check.greater_than(0.0)
_positive_duration = check.greater_than(timedelta(0))

#: How a sync retries each Vapi call: more patiently than ``RetryPolicy()``, because a sync
#: of hundreds of documents meets rate limits that send no ``Retry-After``.
SYNC_RETRY_POLICY = RetryPolicy(attempts=10, timeout=120.0, wait_max=20.0, retry_after_cap=60.0)


def _one_line(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip() or len(value.splitlines()) != 1:
        raise ValidationError(attribute.name, "must be one non-empty line of text")


@attrs.frozen(kw_only=True)
class SyncPolicy:
    """The knobs of ``SyncCoordinator``. The defaults suit production.

    ``min_interval`` is the least time between two successful syncs of an org.
    ``lease`` is how long a claimed sync may go without renewing its claim
    before another process may take over (it renews every third of it, and
    before every Vapi write); it must exceed ``retry_policy.timeout``, the longest
    a Vapi call may last, by a minute at least.
    ``request_timeout`` bounds each request to Vapi, and ``retry_policy`` says how
    each Vapi call is retried (``kbcore.vapi.RetryPolicy``; by default up to 10
    tries within 120 seconds, waits up to 20 seconds, ``Retry-After`` honoured up
    to 60).
    ``instruct_assistants`` keeps one marked line, ``instruction``, at the end of
    every assistant's system prompt (off by default): see ``INSTRUCTION_MARKER``.
    """

    min_interval: timedelta = attrs.field(
        default=timedelta(minutes=5), validator=_positive_duration
    )
    lease: timedelta = attrs.field(default=timedelta(minutes=5), validator=_positive_duration)
    max_concurrency: int = attrs.field(default=8, validator=_positive)
    request_timeout: float = attrs.field(default=30.0, validator=_positive_seconds)
    retry_policy: RetryPolicy = attrs.field(
        default=SYNC_RETRY_POLICY, validator=check.instance_of(RetryPolicy)
    )
    #: Ask Vapi for its file list on each sync, to repair files it lost or failed.
    reconcile_files: bool = True
    instruct_assistants: bool = False
    instruction: str = attrs.field(default=DEFAULT_INSTRUCTION, validator=_one_line)

    def __attrs_post_init__(self) -> None:
        longest_call = timedelta(seconds=self.retry_policy.timeout)
        if self.lease < longest_call + LEASE_MARGIN:
            raise ValidationError(
                "lease",
                f"{self.lease} must exceed retry_policy.timeout ({longest_call}), the "
                f"longest a Vapi call may last, by {LEASE_MARGIN} at least: a write that starts "
                "under a renewed lease must end before the lease can lapse",
            )
