"""Sync requests in memory, as kb_sync_requests holds them in PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from uuid import UUID

import anyio
import attrs

from kbcore._auto_sync import AutoSync
from kbcore._domain import SyncRequest, SyncStatus
from kbcore.memory._tables import Clock, Request, Tables


def mark(tables: Tables, org_id: UUID, auto_sync: AutoSync, now: datetime) -> None:
    """Mark an edit of the org, as the statements of postgres/_requests.py do."""
    key = (org_id, auto_sync.tool_name)
    current = tables.requests.get(key)
    first_waiting = now if current is None else current.first_edit_at
    due = min(now + auto_sync.debounce, first_waiting + auto_sync.max_wait)
    claim = tables.claims.get(org_id)
    if claim is not None and claim.last_success_at is not None:
        due = max(due, claim.last_success_at + auto_sync.min_interval)
    if current is None:
        tables.requests[key] = Request(due_at=due, first_edit_at=now, last_edit_at=now)
    else:
        backing_off = current.parked_reason is None and current.attempts > 0
        first_since_claim = current.edits == current.claimed_edits
        tables.requests[key] = attrs.evolve(
            current,
            edits=current.edits + 1,
            last_edit_at=now,
            first_newer_edit_at=now if first_since_claim else current.first_newer_edit_at,
            due_at=max(current.due_at, due) if backing_off else due,
            attempts=current.attempts if current.parked_reason is None else 0,
            parked_reason=None,
        )
    if current is None or current.parked_reason is not None or due < current.due_at:
        tables.wake()


def resume_parked(tables: Tables, org_id: UUID, now: datetime) -> None:
    """A change of the org's set-up: its parked requests are due now."""
    for key, request in list(tables.requests.items()):
        if key[0] == org_id and request.parked_reason is not None:
            tables.requests[key] = attrs.evolve(request, parked_reason=None, attempts=0, due_at=now)
            tables.wake()


class MemorySyncRequests:
    """``SyncRequests`` for ``MemoryStore``."""

    __slots__ = ()
    _tables: Tables
    _clock: Clock
    _lock: anyio.Lock

    async def claim_requests(
        self, worker: str, *, limit: int, lease: timedelta
    ) -> Sequence[SyncRequest]:
        async with self._lock:
            now = self._clock.now()
            due = sorted(
                (request.due_at, key)
                for key, request in self._tables.requests.items()
                if _claimable(request, now)
            )
            claimed = []
            for _, key in due[:limit]:
                request = self._tables.requests[key]
                self._tables.requests[key] = attrs.evolve(
                    request,
                    claimed_by=worker,
                    claimed_until=now + lease,
                    claimed_edits=request.edits,
                    first_newer_edit_at=None,
                )
                claimed.append(
                    SyncRequest(
                        org_id=key[0],
                        tool_name=key[1],
                        edits=request.edits,
                        attempts=request.attempts,
                        first_edit_at=request.first_edit_at,
                        worker=worker,
                    )
                )
            return claimed

    async def renew_requests(self, requests: Sequence[SyncRequest], lease: timedelta) -> None:
        async with self._lock:
            until = self._clock.now() + lease
            for request in requests:
                self._settle(request, claimed_until=until)

    async def complete_request(self, request: SyncRequest, *, min_interval: timedelta) -> bool:
        async with self._lock:
            row = self._owned(request)
            if row is None:
                return False
            if row.edits == row.claimed_edits:
                del self._tables.requests[request.org_id, request.tool_name]
                return True
            self._settle(
                request,
                **_released(),
                edits=row.edits - (row.claimed_edits or 0),
                attempts=0,
                first_edit_at=row.first_newer_edit_at or row.last_edit_at,
                first_newer_edit_at=None,
                due_at=max(row.due_at, self._clock.now() + min_interval),
            )
            return False

    async def retry_request(
        self, request: SyncRequest, *, delay: timedelta, error: str | None
    ) -> None:
        async with self._lock:
            row = self._owned(request)
            if row is None:
                return
            later = self._clock.now() + delay
            edited = row.edits != row.claimed_edits
            self._settle(
                request,
                **_released(),
                due_at=max(row.due_at, later) if error is not None and edited else later,
                attempts=row.attempts + (0 if error is None else 1),
                last_error=row.last_error if error is None else error,
                last_failure_at=row.last_failure_at if error is None else self._clock.now(),
            )

    async def park_request(self, request: SyncRequest, reason: str) -> None:
        async with self._lock:
            row = self._owned(request)
            if row is None:
                return
            unedited = row.edits == row.claimed_edits
            self._settle(
                request,
                **_released(),
                parked_reason=reason if unedited else None,
                attempts=row.attempts + 1 if unedited else 0,
                last_error=reason,
                last_failure_at=self._clock.now(),
            )

    async def resume_requests(self, org_id: UUID, tool_name: str) -> None:
        async with self._lock:
            now = self._clock.now()
            row = self._tables.requests.get((org_id, tool_name))
            if row is None:
                row = Request(due_at=now, first_edit_at=now, last_edit_at=now, edits=0)
            self._tables.requests[org_id, tool_name] = attrs.evolve(
                row, due_at=min(row.due_at, now), parked_reason=None, attempts=0
            )
            self._tables.wake()

    async def request_status(self, org_id: UUID, tool_name: str) -> SyncStatus:
        now = self._clock.now()
        row = self._tables.requests.get((org_id, tool_name))
        claim = self._tables.claims.get(org_id)
        failed = [r for r in self._tables.runs if r.org_id == org_id and r.status == "failed"]
        last_failed = failed[-1] if failed else None
        running = row is not None and row.claimed_until is not None and row.claimed_until > now
        return SyncStatus(
            org_id=org_id,
            tool_name=tool_name,
            pending=row is not None,
            due_at=None if row is None else row.due_at,
            edits_waiting=0 if row is None else row.edits,
            running_on=row.claimed_by if row is not None and running else None,
            attempts=0 if row is None else row.attempts,
            parked_reason=None if row is None else row.parked_reason,
            last_success_at=None if claim is None else claim.last_success_at,
            last_failure_at=(row.last_failure_at if row is not None else None)
            or (None if last_failed is None else last_failed.created_at),
            last_error=(row.last_error if row is not None else None)
            or (None if last_failed is None else last_failed.error_message),
        )

    async def next_due(self) -> float | None:
        now = self._clock.now()
        times = [
            max(row.due_at, row.claimed_until or row.due_at)
            for row in self._tables.requests.values()
            if row.parked_reason is None
        ]
        return None if not times else max(0.0, (min(times) - now).total_seconds())

    @asynccontextmanager
    async def watch_requests(self) -> AsyncIterator[_Watch]:
        watch = _Watch()
        self._tables.watchers.append(watch.heard)
        try:
            yield watch
        finally:
            self._tables.watchers.remove(watch.heard)

    def _owned(self, request: SyncRequest) -> Request | None:
        row = self._tables.requests.get((request.org_id, request.tool_name))
        return row if row is not None and row.claimed_by == request.worker else None

    def _settle(self, request: SyncRequest, **changes: object) -> None:
        row = self._owned(request)
        if row is not None:
            key = (request.org_id, request.tool_name)
            self._tables.requests[key] = attrs.evolve(row, **changes)  # type: ignore[arg-type]


class _Watch:
    """Wake-ups of a store in this process."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def heard(self) -> None:
        self._event.set()

    async def wait(self, at_most: float) -> None:
        with anyio.move_on_after(at_most):
            await self._event.wait()
        self._event = anyio.Event()


def _claimable(request: Request, now: datetime) -> bool:
    return (
        request.parked_reason is None
        and request.due_at <= now
        and (request.claimed_until is None or request.claimed_until < now)
    )


def _released() -> dict[str, object]:
    return {"claimed_by": None, "claimed_until": None, "claimed_edits": None}
