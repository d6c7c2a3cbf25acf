"""The coordinator's HTTP client: one for every sync, closed by whoever opened it."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from kbcore import KnowledgeBase, SyncCoordinator, SyncPolicy
from kbcore._ports import Store
from kbcore.testing import FakeVapi, serve_fake_vapi
from kbcore.testing.fake_vapi._http import Receive, Send

pytestmark = pytest.mark.anyio

#: Short enough that no second sync of a test is refused.
NO_WINDOW = SyncPolicy(min_interval=timedelta(microseconds=1))


class Connections:
    """FakeVapi as an ASGI app that notes which connection (client port) each request used."""

    def __init__(self, fake: FakeVapi) -> None:
        self.fake = fake
        self.ports: list[int] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        self.ports.append(scope["client"][1])
        await self.fake(scope, receive, send)


@pytest.fixture
def connections(fake_vapi: FakeVapi) -> Connections:
    return Connections(fake_vapi)


@pytest.fixture
async def base_url(connections: Connections) -> AsyncIterator[str]:
    async with serve_fake_vapi(connections) as url:
        yield url


async def two_syncs(coordinator: SyncCoordinator, kb: KnowledgeBase, org_id: UUID) -> None:
    await kb.create(org_id, filename="a.md", content="First.")
    assert (await coordinator.sync(org_id)).files_uploaded == 1
    await kb.create(org_id, filename="b.md", content="Second.")
    assert (await coordinator.sync(org_id)).files_uploaded == 1


async def test_every_sync_reuses_the_connections_of_the_one_before(
    kbcore_store: Store,
    kbcore_kb: KnowledgeBase,
    kbcore_org: UUID,
    base_url: str,
    connections: Connections,
) -> None:
    """Syncs one at a time through one coordinator: one connection for all of them."""
    policy = SyncPolicy(min_interval=timedelta(microseconds=1), max_concurrency=1)
    async with SyncCoordinator(kbcore_store, vapi_base_url=base_url, policy=policy) as coordinator:
        await two_syncs(coordinator, kbcore_kb, kbcore_org)
    assert len(connections.ports) > 4
    assert len(set(connections.ports)) == 1


async def test_a_coordinator_closes_only_the_client_it_opened(
    kbcore_store: Store,
    kbcore_kb: KnowledgeBase,
    kbcore_org: UUID,
    base_url: str,
    connections: Connections,
) -> None:
    """Without ``async with``, ``aclose()`` ends its connections; a later sync opens anew."""
    coordinator = SyncCoordinator(kbcore_store, vapi_base_url=base_url, policy=NO_WINDOW)
    await kbcore_kb.create(kbcore_org, filename="a.md", content="First.")
    await coordinator.sync(kbcore_org)
    first = set(connections.ports)
    await coordinator.aclose()
    await coordinator.aclose()  # closing twice is harmless
    connections.ports.clear()
    await kbcore_kb.create(kbcore_org, filename="b.md", content="Second.")
    await coordinator.sync(kbcore_org)
    await coordinator.aclose()
    assert connections.ports
    assert first.isdisjoint(connections.ports)


async def test_a_host_client_is_used_and_left_open(
    kbcore_store: Store,
    kbcore_kb: KnowledgeBase,
    kbcore_org: UUID,
    base_url: str,
    connections: Connections,
) -> None:
    """The host's client carries every sync and is still the host's to use afterwards."""
    seen: list[str] = []

    async def note(request: httpx.Request) -> None:
        seen.append(request.method)

    async with httpx.AsyncClient(event_hooks={"request": [note]}) as http:
        async with SyncCoordinator(
            kbcore_store, vapi_base_url=base_url, http_client=http, policy=NO_WINDOW
        ) as coordinator:
            await two_syncs(coordinator, kbcore_kb, kbcore_org)
        assert not http.is_closed
        assert (await http.get(f"{base_url}/file")).status_code == 401
    assert len(seen) == len(connections.ports)
