"""Fault injection: planned failures, dropped connections, latency and a rate limit."""

from __future__ import annotations

import email.utils
import fnmatch
import math
from collections import deque
from datetime import datetime, timedelta
from typing import Literal

import attrs

from kbcore.testing.fake_vapi._http import FakeResponse, json_response, nest_error

__all__ = [
    "FaultPlan",
    "FaultRule",
    "Faults",
    "RateLimit",
    "Route",
    "failure_body",
    "retry_after_value",
]

RetryAfterForm = Literal["seconds", "date"]


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
class FaultRule:
    route: Route
    remaining: int | None  # None: every matching request, for as long as the rule stays
    kind: Literal["fail", "drop", "drop_after", "latency"]
    status: int = 500
    retry_after: float | None = None
    retry_after_form: RetryAfterForm = "seconds"
    seconds: float = 0.0

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
    it and the answer is lost), or ``None``.
    """

    latency: float = 0.0
    drop: Literal["before", "after"] | None = None
    failure: FaultRule | None = None

    def failure_response(self, now: datetime) -> FakeResponse | None:
        if self.failure is None:
            return None
        response = failure_body(self.failure.status)
        if self.failure.retry_after is None:
            return response
        return response.with_headers(
            (
                "retry-after",
                retry_after_value(self.failure.retry_after, self.failure.retry_after_form, now),
            )
        )


def failure_body(status: int) -> FakeResponse:
    """What NestJS answers for an injected status."""
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
        """Consume the rules that match this request and say what they do to it."""
        latency: float = 0.0
        drop: Literal["before", "after"] | None = None
        failure: FaultRule | None = None
        for rule in self.rules:
            if not rule.route.matches(method, path):
                continue
            if rule.kind == "latency":
                latency += rule.seconds
            elif drop is not None or failure is not None:
                continue
            elif rule.kind == "fail":
                failure = rule
            else:
                drop = "after" if rule.kind == "drop_after" else "before"
            rule.take()
        self.rules = [rule for rule in self.rules if not rule.spent]
        return FaultPlan(latency=latency, drop=drop, failure=failure)
