"""Fixtures of auto-sync tests: a worker on the suite's store and coordinator, and time."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from uuid import UUID

import attrs
import pytest
import stamina

from kbcore import Backoff, SyncCoordinator, SyncPolicy, SyncStatus, SyncWorker
from kbcore._ports import Store
from kbcore.memory import MemoryStore

Elapse = Callable[[timedelta], Awaitable[None]]

WORKER = "worker-1"


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Vapi calls are retried as configured, but nobody waits for them."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
def kbcore_sync_policy() -> SyncPolicy:
    return SyncPolicy(
        max_concurrency=4, retry_policy=attrs.evolve(SyncPolicy().retry_policy, attempts=8)
    )


@pytest.fixture
def worker(kbcore_store: Store, kbcore_coordinator: SyncCoordinator) -> SyncWorker:
    """A worker on the suite's store, syncing through its one coordinator."""
    return SyncWorker(kbcore_store, kbcore_coordinator, name=WORKER, draw=random.Random(7))


@pytest.fixture
def elapse(kbcore_store: Store, request: pytest.FixtureRequest) -> Elapse:
    """Make the store's clock run ahead, as if the time had passed, without waiting for it."""

    async def memory(delta: timedelta) -> None:
        assert isinstance(kbcore_store, MemoryStore)
        kbcore_store.advance_clock(delta)

    async def postgres(delta: timedelta) -> None:
        # Moving the stored instants back is the same as moving the database's clock forward.
        pool = request.getfixturevalue("kbcore_pool")
        await pool.execute(
            """
            UPDATE kb_sync_claims
            SET last_success_at = last_success_at - $1::interval,
                lease_expires_at = lease_expires_at - $1::interval
            """,
            delta,
        )
        await pool.execute(
            """
            UPDATE kb_sync_requests
            SET due_at = due_at - $1::interval, claimed_until = claimed_until - $1::interval,
                first_edit_at = first_edit_at - $1::interval,
                last_edit_at = last_edit_at - $1::interval,
                last_failure_at = last_failure_at - $1::interval
            """,
            delta,
        )

    return memory if isinstance(kbcore_store, MemoryStore) else postgres


async def status(coordinator: SyncCoordinator, org_id: UUID) -> SyncStatus:
    return await coordinator.sync_status(org_id)


def quick_backoff() -> Backoff:
    return Backoff(base=timedelta(seconds=1), cap=timedelta(seconds=4))
