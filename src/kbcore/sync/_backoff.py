"""How long a worker waits before it tries a failing org again."""

from __future__ import annotations

import random
from datetime import timedelta

import attrs

from kbcore.errors import ValidationError


def _positive(instance: object, attribute: attrs.Attribute[timedelta], value: object) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValidationError(attribute.name, "must be a positive datetime.timedelta")


@attrs.frozen
class Backoff:
    """Exponential back-off with full jitter, capped: after ``attempts`` failures in a
    row, a wait drawn evenly from zero to ``min(cap, base * 2 ** attempts)``.

    Full jitter spreads the retries of many orgs that failed together (Vapi down for a
    minute) over the whole window instead of sending them back at once.
    """

    base: timedelta = attrs.field(default=timedelta(seconds=1), validator=_positive)
    cap: timedelta = attrs.field(default=timedelta(seconds=60), validator=_positive)

    def delay(self, attempts: int, draw: random.Random) -> timedelta:
        """The wait after ``attempts`` failures in a row (counting the one just now)."""
        ceiling = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** min(attempts, 30))
        return timedelta(seconds=draw.uniform(0, ceiling))
