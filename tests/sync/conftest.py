"""Fixtures for sync tests: a FakeVapi with two assistants, an org wired to it, a coordinator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from uuid import UUID

import httpx
import pytest
import stamina

from kbcore import SyncCoordinator, SyncPolicy
from kbcore.memory import MemoryStore
from kbcore.ports import Store, SyncStore
from kbcore.testing import FakeVapi
from kbcore.testing.host_tables import HostTables

PassTime = Callable[[timedelta], Awaitable[None]]


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Retries happen as configured, but nobody waits for them."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
def fake_vapi() -> FakeVapi:
    return FakeVapi()


@pytest.fixture
async def vapi_http(fake_vapi: FakeVapi) -> AsyncIterator[httpx.AsyncClient]:
    async with fake_vapi.http_client() as client:
        yield client


@pytest.fixture
def policy() -> SyncPolicy:
    return SyncPolicy(max_concurrency=4, retry_attempts=8)


@pytest.fixture
def coordinator(
    store: SyncStore, vapi_http: httpx.AsyncClient, policy: SyncPolicy
) -> SyncCoordinator:
    return SyncCoordinator(store, http_client=vapi_http, policy=policy)


@pytest.fixture
async def org(fake_vapi: FakeVapi, host_tables: HostTables) -> UUID:
    """An org with a Vapi key and an inbound and an outbound agent, each with an assistant."""
    org_id = uuid.uuid4()
    await host_tables.set_vapi_key(org_id, fake_vapi.api_key)
    for role in ("inbound", "outbound"):
        assistant_id = fake_vapi.add_assistant(name=f"{role} agent")
        await host_tables.add_agent(org_id, role, assistant_id)
    return org_id


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
