"""Claiming an org for one sync, keeping the claim alive, and closing the audit row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import anyio
import attrs

from kbcore._domain import IN_PROGRESS_MESSAGE, Busy, Claimed, SyncOutcome, SyncRun, TooSoon
from kbcore._ports import SyncState
from kbcore.errors import KbError, RateLimited, SyncFailed, SyncInProgress
from kbcore.logging import get_logger
from kbcore.sync._policy import SyncPolicy

T = TypeVar("T")

log = get_logger()


@attrs.define
class Claims:
    """The rate limit and the mutual exclusion of syncs, both kept by the store."""

    _store: SyncState
    _policy: SyncPolicy

    async def claim(self, org_id: UUID, actor: str | None) -> UUID:
        """Start a run, or log the refused attempt and raise RateLimited or SyncInProgress."""
        outcome = await self._store.claim(
            org_id, min_interval=self._policy.min_interval, lease=self._policy.lease, actor=actor
        )
        match outcome:
            case Claimed(run_id=run_id):
                return run_id
            case TooSoon(retry_after=retry_after):
                error: RateLimited | SyncInProgress = RateLimited(retry_after)
                run_id = await self._store.reject(org_id, str(error), actor=actor)
            case Busy():
                run_id = await self._store.reject(org_id, IN_PROGRESS_MESSAGE, actor=actor)
                error = SyncInProgress(IN_PROGRESS_MESSAGE)
        log.info(
            "kbcore.sync.rejected",
            org_id=str(org_id),
            run_id=str(run_id),
            reason=str(error),
        )
        raise error

    async def run_leased(self, org_id: UUID, run_id: UUID, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` while renewing the claim's lease; stop it if the claim is lost.

        The work runs as a task of its own so that its exceptions reach the
        caller as they are, not wrapped in an exception group.
        """
        results: list[T] = []
        errors: list[Exception] = []
        lost = anyio.Event()

        async def guarded() -> None:
            try:
                results.append(await work())
            except Exception as error:  # handed to the caller unchanged below
                errors.append(error)
            finally:
                tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(self._renew, org_id, run_id, lost, tg.cancel_scope)
            tg.start_soon(guarded)
        if errors:
            raise errors[0]
        if lost.is_set() or not results:
            raise SyncFailed("The sync lost its claim on the org and stopped")
        return results[0]

    async def _renew(
        self, org_id: UUID, run_id: UUID, lost: anyio.Event, scope: anyio.CancelScope
    ) -> None:
        interval = self._policy.lease.total_seconds() / 3
        while True:
            await anyio.sleep(interval)
            try:
                still_ours = await self._store.renew(org_id, run_id, self._policy.lease)
            except KbError as error:
                # A missed renewal is not fatal: the lease outlives two more tries.
                log.warning("kbcore.sync.renew_failed", org_id=str(org_id), error=str(error))
                continue
            if not still_ours:
                log.warning("kbcore.sync.claim_lost", org_id=str(org_id), run_id=str(run_id))
                lost.set()
                scope.cancel()
                return

    async def finish(self, org_id: UUID, run_id: UUID, outcome: SyncOutcome) -> SyncRun:
        """Close the audit row and release the claim, even while being cancelled."""
        with anyio.CancelScope(shield=True):
            run = await self._store.finish(org_id, run_id, outcome)
        return run  # noqa: RET504 (for mypy, a cancel scope may swallow what it raises)
