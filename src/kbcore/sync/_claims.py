"""Claiming an org for one sync, keeping the claim alive, and closing the audit row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import anyio
import attrs

from kbcore._domain import IN_PROGRESS_MESSAGE, Busy, Claimed, SyncOutcome, SyncRun, TooSoon
from kbcore._ports import SyncState
from kbcore.errors import RateLimited, SyncFailed, SyncInProgress
from kbcore.logging import get_logger
from kbcore.sync._lease import Lease
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

    def lease(self, org_id: UUID, run_id: UUID) -> Lease:
        """The claimed run's lease, to renew while it runs and to confirm before each write."""
        return Lease(self._store, org_id, run_id, self._policy.lease)

    async def run_leased(self, lease: Lease, work: Callable[[], Awaitable[T]]) -> T:
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

        async def renewed() -> None:
            await lease.keep_alive()
            lost.set()
            tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(renewed)
            tg.start_soon(guarded)
        if errors:
            raise errors[0]
        if lost.is_set() or not results:
            raise SyncFailed("The sync lost its claim on the org and stopped")
        return results[0]

    async def finish(self, org_id: UUID, run_id: UUID, outcome: SyncOutcome) -> SyncRun:
        """Close the audit row and release the claim, even while being cancelled."""
        with anyio.CancelScope(shield=True):
            run = await self._store.finish(org_id, run_id, outcome)
        return run  # noqa: RET504 (for mypy, a cancel scope may swallow what it raises)
