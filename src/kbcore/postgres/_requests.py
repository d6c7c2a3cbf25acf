"""Sync requests in PostgreSQL (kb_sync_requests): marked by writes, claimed by workers.

A document write marks its org in its own transaction (``mark_query``); a worker claims
due requests with ``FOR UPDATE SKIP LOCKED``, so that workers never wait for each other,
and settles each claim when its sync ends. A trigger (migration 0008) notifies the
channel ``kbcore_sync_requests`` when a request comes due sooner; ``watch_requests``
listens on a connection of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID

import anyio
import asyncpg
from asyncpg.pool import PoolConnectionProxy

from kbcore._auto_sync import AutoSync
from kbcore._domain import SyncRequest, SyncStatus
from kbcore.errors import StoreUnavailable
from kbcore.logging import get_logger
from kbcore.postgres._connection import Db, acquire, release

log = get_logger()

CHANNEL = "kbcore_sync_requests"


def _on_edit(first: int) -> str:
    """What an edit does to an org's request; parameters ``$first`` to ``$first + 2`` are
    the debounce, the window and the maximum wait, in seconds.

    The due time moves to now + debounce, but no later than the first waiting edit plus
    the maximum wait, and never before the window ends; a request backing off keeps its
    later due time; an edit resumes a parked request. (``greatest`` skips NULLs: the
    request's own due time counts only while it backs off, and the window's lookup is
    planned once, not once per branch of a ``CASE``.)
    """
    return f"""
ON CONFLICT (org_id, tool_name) DO UPDATE SET
    edits = r.edits + 1,
    last_edit_at = now(),
    first_newer_edit_at = CASE WHEN r.edits = r.claimed_edits THEN now()
                               ELSE r.first_newer_edit_at END,
    due_at = greatest(
        CASE WHEN r.parked_reason IS NULL AND r.attempts > 0 THEN r.due_at END,
        least(now() + ${first}::float8 * interval '1 second',
              r.first_edit_at + ${first + 2}::float8 * interval '1 second'),
        {_window_end("r.org_id", first + 1)}),
    attempts = CASE WHEN r.parked_reason IS NULL THEN r.attempts ELSE 0 END,
    parked_reason = NULL
"""


def _window_end(org: str, window: int) -> str:
    """When the window after ``org``'s last success ends (NULL without one)."""
    return f"""(SELECT last_success_at FROM kb_sync_claims AS c WHERE c.org_id = {org})
            + ${window}::float8 * interval '1 second'"""  # noqa: S608


def _due(org: str, first: int) -> str:
    """The due time of a first edit of ``org``: parameters ``$first`` (the debounce) and
    ``$first + 1`` (the window), in seconds."""
    return f"""greatest(
        now() + ${first}::float8 * interval '1 second', {_window_end(org, first + 1)})"""


def mark_cte(first: int) -> str:
    """A CTE ``m`` marking the org of the document ``d`` wrote; parameters ``$first`` to
    ``$first + 3`` are the tool name, the debounce, the window and the maximum wait
    (``mark_arguments``)."""
    return f"""m AS (
    INSERT INTO kb_sync_requests AS r (org_id, tool_name, due_at)
    SELECT d.org_id, ${first}::text, {_due("d.org_id", first + 1)} FROM d
    {_on_edit(first + 1)}
)"""  # noqa: S608


# The orgs of a unit of work, in a stable order so that concurrent writers lock alike.
_MARK_ORGS = f"""
INSERT INTO kb_sync_requests AS r (org_id, tool_name, due_at)
SELECT o.org_id, $2::text, {_due("o.org_id", 3)}
FROM unnest($1::uuid[]) AS o(org_id)
ORDER BY o.org_id
{_on_edit(3)}
"""  # noqa: S608


def mark_arguments(auto_sync: AutoSync) -> tuple[str, float, float, float]:
    """The tool name, debounce, window and maximum wait of a mark, as its statement takes
    them."""
    return (
        auto_sync.tool_name,
        auto_sync.debounce.total_seconds(),
        auto_sync.min_interval.total_seconds(),
        auto_sync.max_wait.total_seconds(),
    )


async def mark_orgs(db: Db, org_ids: Sequence[UUID], auto_sync: AutoSync) -> None:
    """Mark each org as needing a sync; the last statement of a unit of work."""
    await db.execute(_MARK_ORGS, sorted(org_ids), *mark_arguments(auto_sync))


_CLAIMABLE = """
parked_reason IS NULL AND due_at <= now()
AND (claimed_until IS NULL OR claimed_until < now())
"""

_CLAIM = f"""
WITH due AS (
    SELECT org_id, tool_name FROM kb_sync_requests
    WHERE {_CLAIMABLE}
    ORDER BY due_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE kb_sync_requests AS r
SET claimed_by = $1, claimed_until = now() + $3::interval, claimed_edits = r.edits,
    first_newer_edit_at = NULL
FROM due
WHERE r.org_id = due.org_id AND r.tool_name = due.tool_name
RETURNING r.org_id, r.tool_name, r.edits, r.attempts, r.first_edit_at
"""  # noqa: S608

_RENEW = """
UPDATE kb_sync_requests SET claimed_until = now() + $4::interval
WHERE org_id = ANY($1::uuid[]) AND tool_name = ANY($2::text[]) AND claimed_by = $3
"""

_OWNED = "org_id = $1 AND tool_name = $2 AND claimed_by = $3"

_REMOVE_IF_CARRIED = f"DELETE FROM kb_sync_requests WHERE {_OWNED} AND edits = claimed_edits"  # noqa: S608

# Edits arrived while the sync ran: they wait for the window after this success, and the
# first of them is now the oldest waiting edit.
_KEEP_NEWER = f"""
UPDATE kb_sync_requests
SET edits = edits - claimed_edits, claimed_by = NULL, claimed_until = NULL,
    claimed_edits = NULL, attempts = 0,
    first_edit_at = coalesce(first_newer_edit_at, last_edit_at), first_newer_edit_at = NULL,
    due_at = greatest(due_at, now() + $4::interval)
WHERE {_OWNED}
"""  # noqa: S608

_RETRY = f"""
UPDATE kb_sync_requests
SET claimed_by = NULL, claimed_until = NULL, claimed_edits = NULL,
    due_at = CASE WHEN $5::text IS NULL OR edits = claimed_edits
                  THEN now() + $4::interval
                  ELSE greatest(due_at, now() + $4::interval) END,
    attempts = attempts + CASE WHEN $5::text IS NULL THEN 0 ELSE 1 END,
    last_error = coalesce($5, last_error),
    last_failure_at = CASE WHEN $5::text IS NULL THEN last_failure_at ELSE now() END
WHERE {_OWNED}
"""  # noqa: S608

# An edit that arrived during the failed sync already resumed nothing: park anyway only
# if no edit came since the claim (an edit is a reason to try again).
_PARK = f"""
UPDATE kb_sync_requests
SET claimed_by = NULL, claimed_until = NULL, claimed_edits = NULL,
    parked_reason = CASE WHEN edits = claimed_edits THEN $4 END,
    attempts = CASE WHEN edits = claimed_edits THEN attempts + 1 ELSE 0 END,
    last_error = $4, last_failure_at = now()
WHERE {_OWNED}
"""  # noqa: S608

_RESUME = """
INSERT INTO kb_sync_requests AS r (org_id, tool_name, due_at, edits)
VALUES ($1, $2, now(), 0)
ON CONFLICT (org_id, tool_name) DO UPDATE
SET due_at = least(r.due_at, now()), parked_reason = NULL, attempts = 0
"""

# A change of an org's set-up (agents, key) is what a parked request waits for.
RESUME_PARKED = """
UPDATE kb_sync_requests SET parked_reason = NULL, attempts = 0, due_at = now()
WHERE org_id = $1 AND parked_reason IS NOT NULL
"""

_STATUS = """
SELECT r.due_at, r.edits, r.attempts, r.parked_reason, r.last_failure_at, r.last_error,
       CASE WHEN r.claimed_until > now() THEN r.claimed_by END AS running_on,
       (SELECT last_success_at FROM kb_sync_claims WHERE org_id = $1) AS last_success_at,
       failed.created_at AS failed_at, failed.error_message AS failed_error
FROM (SELECT 1) AS one
LEFT JOIN kb_sync_requests AS r ON r.org_id = $1 AND r.tool_name = $2
LEFT JOIN LATERAL (
    SELECT created_at, error_message FROM kb_sync_log
    WHERE org_id = $1 AND status = 'failed'
    ORDER BY created_at DESC LIMIT 1
) AS failed ON true
"""

_NEXT_DUE = """
SELECT greatest(0, extract(epoch FROM min(greatest(due_at, coalesce(claimed_until, due_at)))
                                      - now()))::float8
FROM kb_sync_requests
WHERE parked_reason IS NULL
"""


class PostgresSyncRequests:
    """``SyncRequests`` for ``PostgresStore``: each call one statement."""

    __slots__ = ()
    _pool: asyncpg.Pool
    _read: Db
    _write: Db

    async def claim_requests(
        self, worker: str, *, limit: int, lease: timedelta
    ) -> Sequence[SyncRequest]:
        rows = await self._write.fetch(_CLAIM, worker, limit, lease)
        return [
            SyncRequest(
                org_id=row["org_id"],
                tool_name=row["tool_name"],
                edits=row["edits"],
                attempts=row["attempts"],
                first_edit_at=row["first_edit_at"],
                worker=worker,
            )
            for row in rows
        ]

    async def renew_requests(self, requests: Sequence[SyncRequest], lease: timedelta) -> None:
        for worker in {request.worker for request in requests}:
            mine = [request for request in requests if request.worker == worker]
            await self._write.execute(
                _RENEW,
                [request.org_id for request in mine],
                [request.tool_name for request in mine],
                worker,
                lease,
            )

    async def complete_request(self, request: SyncRequest, *, min_interval: timedelta) -> bool:
        removed = await self._write.execute(_REMOVE_IF_CARRIED, *_owned(request))
        if removed != "DELETE 0":
            return True
        await self._write.execute(_KEEP_NEWER, *_owned(request), min_interval)
        return False

    async def retry_request(
        self, request: SyncRequest, *, delay: timedelta, error: str | None
    ) -> None:
        await self._write.execute(_RETRY, *_owned(request), delay, error)

    async def park_request(self, request: SyncRequest, reason: str) -> None:
        await self._write.execute(_PARK, *_owned(request), reason)

    async def resume_requests(self, org_id: UUID, tool_name: str) -> None:
        await self._write.execute(_RESUME, org_id, tool_name)

    async def request_status(self, org_id: UUID, tool_name: str) -> SyncStatus:
        row = await self._read.fetchrow(_STATUS, org_id, tool_name)
        assert row is not None  # the query always returns its one row
        return status_from_row(org_id, tool_name, row)

    async def next_due(self) -> float | None:
        due: float | None = await self._read.fetchval(_NEXT_DUE)
        return due

    @asynccontextmanager
    async def watch_requests(self) -> AsyncIterator[_Listener]:
        listener = _Listener()
        try:
            conn: PoolConnectionProxy | None = await acquire(self._pool)
        except StoreUnavailable:
            log.warning("kbcore.worker.listen_failed")
            conn = None
        try:
            if conn is not None:
                await conn.add_listener(CHANNEL, listener.heard)
            yield listener
        finally:
            if conn is not None:
                with anyio.CancelScope(shield=True):
                    if not conn.is_closed():
                        await conn.remove_listener(CHANNEL, listener.heard)
                    await release(self._pool, conn)


class _Listener:
    """Wake-ups heard on the channel; a missed one costs a poll interval, never an edit."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def heard(self, *_: Any) -> None:
        self._event.set()

    async def wait(self, at_most: float) -> None:
        with anyio.move_on_after(at_most):
            await self._event.wait()
        self._event = anyio.Event()


def _owned(request: SyncRequest) -> tuple[UUID, str, str]:
    return request.org_id, request.tool_name, request.worker


def status_from_row(org_id: UUID, tool_name: str, row: asyncpg.Record) -> SyncStatus:
    pending = row["due_at"] is not None
    return SyncStatus(
        org_id=org_id,
        tool_name=tool_name,
        pending=pending,
        due_at=row["due_at"],
        edits_waiting=row["edits"] or 0,
        running_on=row["running_on"],
        attempts=row["attempts"] or 0,
        parked_reason=row["parked_reason"],
        last_success_at=row["last_success_at"],
        last_failure_at=row["last_failure_at"] or row["failed_at"],
        last_error=row["last_error"] or row["failed_error"],
    )
