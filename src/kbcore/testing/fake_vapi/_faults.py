"""Fault injection: planned failures, dropped connections, late writes, pauses, a rate limit."""

from __future__ import annotations

import email.utils
import fnmatch
import math
from collections import deque
from datetime import datetime, timedelta
from typing import Literal

import anyio
import attrs

from kbcore.testing.fake_vapi._http import FakeResponse, conflict_error, json_response, nest_error

__all__ = [
    "FaultPlan",
    "FaultRule",
    "Faults",
    "Pause",
    "RateLimit",
    "Route",
    "failure_body",
    "retry_after_value",
]

RetryAfterForm = Literal["seconds", "date"]
FaultKind = Literal["fail", "conflict", "drop", "drop_after", "late", "latency", "pause"]
_CONFLICT_MESSAGES = {
    "tool_pinned": "This tool is pinned and cannot be changed.",
    "tool_write_conflict": "Another write to this tool is in progress; read it and try again.",
}


@attrs.frozen
class Route:
    """Which requests a fault applies to: ``"*"``, ``"/file/*"`` or ``"POST /file"``.

    The path is a shell-style pattern (``fnmatch``), so ``*`` also spans ``/``.
    """

    method: str | None
    path: str

    @classmethod
    def parse(cls, route: str) -> Route:
        method, _, path = route.strip().rpartition(" ")
        method = method.strip().upper()
        return cls(method=None if method in ("", "*") else method, path=path or "*")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and fnmatch.fnmatchcase(
            path, self.path
        )


@attrs.define
class Pause:
    """A request held before Vapi handles it, until the test resumes it.

    ``await pause.reached()`` waits until the request is held; ``pause.resume()``
    lets Vapi handle it (and answer, unless the client gave up meanwhile).
    """

    _arrived: anyio.Event = attrs.field(factory=anyio.Event, init=False)
    _resumed: anyio.Event = attrs.field(factory=anyio.Event, init=False)

    async def reached(self) -> None:
        """Return once a matching request is waiting here."""
        await self._arrived.wait()

    def resume(self) -> None:
        """Let the held request through."""
        self._resumed.set()

    async def hold(self) -> None:
        self._arrived.set()
        await self._resumed.wait()


@attrs.define
class FaultRule:
    route: Route
    remaining: int | None  # None: every matching request, for as long as the rule stays
    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    retry_after_form: RetryAfterForm = "seconds"
    seconds: float = 0.0
    error: str = "tool_write_conflict"
    pause: Pause | None = None
    message: str | list[str] | None = None

    def take(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


@attrs.frozen
class FaultPlan:
    """What the faults do to one request: wait, then maybe drop it or answer for the app.

    ``drop`` is ``"before"`` (the request is lost) or ``"after"`` (the app handles
    it and the answer is lost), or ``None``. ``late`` means the answer is lost and
    the write is kept, to be applied when the test says so.
    """

    latency: float = 0.0
    pauses: tuple[Pause, ...] = ()
    outcome: FaultRule | None = None

    @property
    def drop(self) -> Literal["before", "after"] | None:
        kind = self.outcome.kind if self.outcome else None
        return "before" if kind == "drop" else "after" if kind == "drop_after" else None

    @property
    def late(self) -> bool:
        return self.outcome is not None and self.outcome.kind == "late"

    @property
    def failure(self) -> FaultRule | None:
        return self.outcome if self.outcome and self.outcome.kind in ("fail", "conflict") else None

    def failure_response(self, now: datetime) -> FakeResponse | None:
        if self.failure is None:
            return None
        if self.failure.kind == "conflict":
            error = self.failure.error
            return conflict_error(error, _CONFLICT_MESSAGES.get(error, "Conflict."))
        response = failure_body(self.failure.status, self.failure.message)
        if self.failure.retry_after is None:
            return response
        return response.with_headers(
            (
                "retry-after",
                retry_after_value(self.failure.retry_after, self.failure.retry_after_form, now),
            )
        )


def failure_body(status: int, message: str | list[str] | None = None) -> FakeResponse:
    """What NestJS answers for an injected status, with ``message`` when given."""
    if message is not None:
        return nest_error(status, message)
    if status == 500:
        return json_response(500, {"statusCode": 500, "message": "Internal server error"})
    if status == 429:
        return json_response(
            429, {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"}
        )
    return nest_error(status, f"Injected failure ({status})")


def retry_after_value(seconds: float, form: RetryAfterForm, now: datetime) -> str:
    """A ``Retry-After`` header value; a date is whole seconds after ``now`` (the ``Date`` sent)."""
    if form == "date":
        return email.utils.format_datetime(now + timedelta(seconds=math.ceil(seconds)), usegmt=True)
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


@attrs.define
class RateLimit:
    """At most ``per_second`` accepted requests in any one-second window."""

    per_second: int
    retry_after: bool
    _accepted: deque[float] = attrs.field(factory=deque, init=False)

    def admit(self, now: float) -> float | None:
        """``None`` when the request may pass (and counts), else the seconds until it could."""
        while self._accepted and self._accepted[0] <= now - 1.0:
            self._accepted.popleft()
        if len(self._accepted) < self.per_second:
            self._accepted.append(now)
            return None
        return self._accepted[0] + 1.0 - now


@attrs.define
class Faults:
    """The faults armed on one fake, applied in the order they were added."""

    rules: list[FaultRule] = attrs.field(factory=list)
    rate_limit: RateLimit | None = None

    def add(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def plan(self, method: str, path: str) -> FaultPlan:
        """Consume the rules that match this request and say what they do to it.

        Latencies add up and every pause holds the request; of the rules that
        decide the answer, the first that matches wins. A read cannot be late.
        """
        latency: float = 0.0
        pauses: list[Pause] = []
        outcome: FaultRule | None = None
        for rule in self.rules:
            if not rule.route.matches(method, path):
                continue
            if rule.kind == "latency":
                latency += rule.seconds
            elif rule.kind == "pause" and rule.pause is not None:
                pauses.append(rule.pause)
            elif outcome is not None or (rule.kind == "late" and method == "GET"):
                continue
            else:
                outcome = rule
            rule.take()
        self.rules = [rule for rule in self.rules if not rule.spent]
        return FaultPlan(latency=latency, pauses=tuple(pauses), outcome=outcome)
