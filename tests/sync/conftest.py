"""Fixtures for sync tests: the plugin's FakeVapi, org and coordinator, and a way to pass time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from uuid import UUID

import attrs
import pytest
import stamina

from kbcore import SyncCoordinator, SyncPolicy
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
def policy(kbcore_sync_policy: SyncPolicy) -> SyncPolicy:
    return kbcore_sync_policy


@pytest.fixture
def coordinator(kbcore_coordinator: SyncCoordinator) -> SyncCoordinator:
    """The plugin's coordinator, on each store in turn, talking to ``fake_vapi``."""
    return kbcore_coordinator


@pytest.fixture
def org(kbcore_org: UUID) -> UUID:
    """An org with a Vapi key and an inbound and an outbound agent, each with an assistant."""
    return kbcore_org


@pytest.fixture
def pass_time(store: Store, request: pytest.FixtureRequest) -> PassTime:
    """Make the store's clock run ahead, as if the time had passed, without waiting for it."""

    async def memory(delta: timedelta) -> None:
        assert isinstance(store, MemoryStore)
        store.advance_clock(delta)

    async def postgres(delta: timedelta) -> None:
        # Moving the stored instants back is the same as moving the database's clock forward.
        await request.getfixturevalue("pg_pool").execute(
            """
            UPDATE kb_sync_claims
            SET last_success_at = last_success_at - $1::interval,
                lease_expires_at = lease_expires_at - $1::interval
            """,
            delta,
        )

    return memory if isinstance(store, MemoryStore) else postgres
