"""Fixtures for sync tests: the plugin's, with patient retries, and a way to pass time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import attrs
import pytest
import stamina

from kbcore import SyncPolicy
from kbcore._ports import Store
from kbcore.memory import MemoryStore

PassTime = Callable[[timedelta], Awaitable[None]]


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Retries happen as configured, but nobody waits for them."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
def kbcore_sync_policy() -> SyncPolicy:
    """Sync tests run with a few parallel calls and patient retries."""
    return SyncPolicy(
        max_concurrency=4, retry_policy=attrs.evolve(SyncPolicy().retry_policy, attempts=8)
    )


@pytest.fixture
def pass_time(kbcore_store: Store, request: pytest.FixtureRequest) -> PassTime:
    """Make the store's clock run ahead, as if the time had passed, without waiting for it."""

    async def memory(delta: timedelta) -> None:
        assert isinstance(kbcore_store, MemoryStore)
        kbcore_store.advance_clock(delta)

    async def postgres(delta: timedelta) -> None:
        # Moving the stored instants back is the same as moving the database's clock forward.
        await request.getfixturevalue("kbcore_pool").execute(
            """
            UPDATE kb_sync_claims
            SET last_success_at = last_success_at - $1::interval,
                lease_expires_at = lease_expires_at - $1::interval
            """,
            delta,
        )

    return memory if isinstance(kbcore_store, MemoryStore) else postgres
