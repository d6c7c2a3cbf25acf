"""Fixtures of auto-sync tests: a worker on the suite's store and coordinator, and time."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID

import pytest

from kbcore import Backoff, SyncCoordinator, SyncStatus, SyncWorker
from kbcore._ports import Store
from kbcore.memory import MemoryStore
from tests.sync.conftest import PassTime, kbcore_sync_policy, no_backoff, pass_time

Elapse = Callable[[timedelta], Awaitable[None]]

# The sync tests' fixtures: patient retries that never wait, and a way to pass time.
__all__ = ["kbcore_sync_policy", "no_backoff", "pass_time"]

WORKER = "worker-1"


@pytest.fixture
def worker(kbcore_store: Store, kbcore_coordinator: SyncCoordinator) -> SyncWorker:
    """A worker on the suite's store, syncing through its one coordinator."""
    return SyncWorker(kbcore_store, kbcore_coordinator, name=WORKER, draw=random.Random(7))


@pytest.fixture
def elapse(kbcore_store: Store, pass_time: PassTime, request: pytest.FixtureRequest) -> Elapse:
    """``pass_time``, for the sync requests too."""

    async def postgres(delta: timedelta) -> None:
        await pass_time(delta)
        # Moving the stored instants back is the same as moving the database's clock forward.
        await request.getfixturevalue("kbcore_pool").execute(
            """
            UPDATE kb_sync_requests
            SET due_at = due_at - $1::interval, claimed_until = claimed_until - $1::interval,
                first_edit_at = first_edit_at - $1::interval,
                last_edit_at = last_edit_at - $1::interval,
                first_newer_edit_at = first_newer_edit_at - $1::interval,
                last_failure_at = last_failure_at - $1::interval
            """,
            delta,
        )

    return pass_time if isinstance(kbcore_store, MemoryStore) else postgres


async def status(coordinator: SyncCoordinator, org_id: UUID) -> SyncStatus:
    return await coordinator.sync_status(org_id)


def quick_backoff() -> Backoff:
    return Backoff(base=timedelta(seconds=1), cap=timedelta(seconds=4))
