"""SyncWorker: runs the syncs that document writes asked for, on any number of hosts.

Every document write marks its org in ``kb_sync_requests`` (see ``AutoSync``); a worker
claims due requests (``FOR UPDATE SKIP LOCKED``: workers never wait for each other),
runs each through its one ``SyncCoordinator`` (whose lease keeps two syncs of an org
apart), and settles the request by how the sync ended. It sleeps until the next request
is due, a notification says one came due sooner, or the poll interval passes.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import TypeVar

import anyio
import anyio.abc
import attrs

from kbcore._domain import SyncRequest
from kbcore._ports import RequestWatch, SyncRequests
from kbcore.errors import (
    RateLimited,
    StoreUnavailable,
    SyncFailed,
    SyncInProgress,
    ValidationError,
)
from kbcore.logging import Logger, get_logger
from kbcore.sync._backoff import Backoff
from kbcore.sync._coordinator import SyncCoordinator

T = TypeVar("T")

log = get_logger()

#: The shortest nap between two claims that found a request due but locked by a write.
_LEAST_NAP = 0.05


def _worker_name() -> str:
    """Host, process and a few random characters: unique, and readable in the audit log."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(attribute.name, "must be a whole number, 1 or more")


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(attribute.name, "must be a number of seconds above 0")


@attrs.define
class SyncWorker:
    """Claims due sync requests and runs them, ``concurrency`` at a time.

    ``run()`` serves until ``stop`` is set; ``run_until_signalled()`` until SIGTERM or
    SIGINT. Either way it stops claiming, lets running syncs finish within ``grace``
    seconds, cancels what is left (each cancelled sync is recorded and its request
    handed back, due now) and returns. A worker killed outright leaves its claims to
    lapse after the coordinator's lease; another worker then takes them over.
    """

    _store: SyncRequests
    _coordinator: SyncCoordinator
    name: str = attrs.field(factory=_worker_name, kw_only=True)
    concurrency: int = attrs.field(default=4, kw_only=True, validator=_at_least_one)
    poll_interval: float = attrs.field(default=5.0, kw_only=True, validator=_positive_seconds)
    grace: float = attrs.field(default=30.0, kw_only=True, validator=_positive_seconds)
    roles: Sequence[str] = attrs.field(default=("inbound", "outbound"), kw_only=True)
    backoff: Backoff = attrs.field(factory=Backoff, kw_only=True)
    _draw: random.Random = attrs.field(factory=random.Random, kw_only=True, repr=False)
    _running: dict[tuple[str, str], SyncRequest] = attrs.field(factory=dict, init=False)
    _slot_freed: anyio.Event | None = attrs.field(default=None, init=False, repr=False)

    @property
    def _lease(self) -> timedelta:
        return self._coordinator.policy.lease

    async def run(
        self,
        stop: anyio.Event | None = None,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until ``stop`` is set (forever without one).

        Started with ``await task_group.start(worker.run, stop)``, it reports ready once
        it listens for notifications and has claimed what was due.
        """
        stopping = stop if stop is not None else anyio.Event()
        bound = log.bind(worker=self.name)
        bound.info("kbcore.worker.started", concurrency=self.concurrency)
        async with self._store.watch_requests() as watch, anyio.create_task_group() as syncs:
            renewals = anyio.CancelScope()
            syncs.start_soon(self._keep_claims, renewals)
            ready = task_status
            while not stopping.is_set():
                nap = await self._claim_and_start(syncs)
                ready.started()
                ready = anyio.TASK_STATUS_IGNORED
                await self._nap(watch, stopping, nap)
            bound.info("kbcore.worker.stopping", running=len(self._running))
            await self._finish_or_cancel(syncs, renewals)
        bound.info("kbcore.worker.stopped")

    async def run_until_signalled(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop gracefully."""
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for signum in signals:
                        log.info("kbcore.worker.signalled", worker=self.name, signal=signum)
                        stop.set()
                        return

            tg.start_soon(on_signal)
            await self.run(stop)
            tg.cancel_scope.cancel()

    async def run_due(self) -> int:
        """Run every request due now, ``concurrency`` at a time; return how many ran."""
        ran = 0
        while claimed := await self._claim(self.concurrency):
            async with anyio.create_task_group() as syncs:
                for request in claimed:
                    syncs.start_soon(self._sync, request)
            ran += len(claimed)
        return ran

    async def _claim_and_start(self, syncs: anyio.abc.TaskGroup) -> float | None:
        """Start what is due in the free slots; how long to nap (None: until a slot frees)."""
        free = self.concurrency - len(self._running)
        if free == 0:
            return None
        claimed = await self._claim(free)
        for request in claimed:
            syncs.start_soon(self._sync, request)
        if len(claimed) == free:
            return None
        try:
            due = await self._store.next_due()
        except StoreUnavailable as error:
            log.warning("kbcore.worker.store_unavailable", worker=self.name, error=str(error))
            return self.poll_interval
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(due, 0.0 if claimed else _LEAST_NAP))

    async def _claim(self, limit: int) -> Sequence[SyncRequest]:
        try:
            claimed = await self._store.claim_requests(self.name, limit=limit, lease=self._lease)
        except StoreUnavailable as error:
            log.warning("kbcore.worker.store_unavailable", worker=self.name, error=str(error))
            return ()
        for request in claimed:
            self._running[_key(request)] = request
        return claimed

    async def _nap(self, watch: RequestWatch, stopping: anyio.Event, nap: float | None) -> None:
        """Sleep ``nap`` seconds at most (None: until a slot frees); wake on a
        notification, a freed slot or the stop."""
        if nap == 0.0:
            return
        self._slot_freed = anyio.Event()
        freed = self._slot_freed
        if nap is None and len(self._running) < self.concurrency:
            return  # a slot freed before the event existed
        async with anyio.create_task_group() as naps:

            async def woken_by(wait: anyio.Event) -> None:
                await wait.wait()
                naps.cancel_scope.cancel()

            async def notified() -> None:
                await watch.wait(self.poll_interval if nap is None else nap)
                if nap is not None:
                    naps.cancel_scope.cancel()

            naps.start_soon(woken_by, stopping)
            naps.start_soon(woken_by, freed)
            naps.start_soon(notified)

    async def _finish_or_cancel(
        self, syncs: anyio.abc.TaskGroup, renewals: anyio.CancelScope
    ) -> None:
        """Give the running syncs ``grace`` seconds, then cancel them."""
        with anyio.move_on_after(self.grace):
            while self._running:
                self._slot_freed = anyio.Event()
                await self._slot_freed.wait()
        if self._running:
            log.warning("kbcore.worker.grace_expired", worker=self.name, left=len(self._running))
        renewals.cancel()
        syncs.cancel_scope.cancel()

    async def _keep_claims(self, scope: anyio.CancelScope) -> None:
        """Renew the claims of running syncs every third of the lease."""
        with scope:
            while True:
                await anyio.sleep(self._lease.total_seconds() / 3)
                if self._running:
                    try:
                        await self._store.renew_requests(list(self._running.values()), self._lease)
                    except StoreUnavailable as error:
                        log.warning(
                            "kbcore.worker.renew_failed", worker=self.name, error=str(error)
                        )

    async def _sync(self, request: SyncRequest) -> None:
        bound = log.bind(worker=self.name, org_id=str(request.org_id), tool_name=request.tool_name)
        bound.info("kbcore.worker.claimed", edits=request.edits, attempts=request.attempts)
        try:
            await self._sync_and_settle(request, bound)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._settle(
                    bound, self._store.retry_request(request, delay=timedelta(0), error=None)
                )
            bound.warning("kbcore.worker.cancelled")
            raise
        finally:
            del self._running[_key(request)]
            if self._slot_freed is not None:
                self._slot_freed.set()

    async def _sync_and_settle(self, request: SyncRequest, bound: Logger) -> None:
        store = self._store
        try:
            result = await self._coordinator.sync(
                request.org_id,
                tool_name=request.tool_name,
                roles=self.roles,
                actor=f"kbcore worker {self.name}",
            )
        except RateLimited as error:
            bound.info("kbcore.worker.rate_limited", retry_after=error.retry_after)
            delay = timedelta(seconds=error.retry_after)
            await self._settle(bound, store.retry_request(request, delay=delay, error=None))
        except (SyncFailed, ValidationError, SyncInProgress, StoreUnavailable) as error:
            await self._failed(request, bound, error)
        except Exception as error:  # a bug, the store, a host's hook: try again later
            bound.error("kbcore.worker.crashed", error_type=type(error).__name__)
            await self._failed(request, bound, error)
        else:
            removed = await self._settle(
                bound,
                store.complete_request(request, min_interval=self._coordinator.policy.min_interval),
            )
            bound.info(
                "kbcore.worker.synced",
                run_id=str(result.run_id),
                duration_ms=result.duration_ms,
                edits=request.edits,
                newer_edits_wait=removed is False,
            )

    async def _failed(self, request: SyncRequest, bound: Logger, error: Exception) -> None:
        """Park what needs a person; back off from what may pass."""
        reason = error.reason if isinstance(error, SyncFailed) else str(error)
        permanent = isinstance(error, ValidationError) or (
            isinstance(error, SyncFailed) and error.kind == "permanent"
        )
        if permanent:
            bound.warning("kbcore.worker.parked", reason=reason)
            await self._settle(bound, self._store.park_request(request, reason))
            return
        delay = self.backoff.delay(request.attempts + 1, self._draw)
        bound.info("kbcore.worker.backing_off", reason=reason, delay=delay.total_seconds())
        await self._settle(bound, self._store.retry_request(request, delay=delay, error=reason))

    async def _settle(self, bound: Logger, settling: Awaitable[T]) -> T | None:
        """Settle a request; if the store fails, the claim lapses and the request returns."""
        try:
            return await settling
        except StoreUnavailable as error:
            bound.warning("kbcore.worker.settle_failed", error=str(error))
            return None


def _key(request: SyncRequest) -> tuple[str, str]:
    return str(request.org_id), request.tool_name
