"""The coordinator's HTTP client: one for every sync, closed by whoever opened it."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from datetime import timedelta
from typing import Any
from uuid import UUID

import attrs
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


@attrs.frozen
class Bed:
    """An org with assistants on a FakeVapi served on loopback, and a knowledge base."""

    store: Store
    kb: KnowledgeBase
    org_id: UUID
    url: str
    connections: Connections

    def coordinator(self, **options: Any) -> SyncCoordinator:
        return SyncCoordinator(
            self.store, vapi_base_url=self.url, **{"policy": NO_WINDOW, **options}
        )

    async def sync_new_document(self, coordinator: SyncCoordinator, filename: str) -> None:
        await self.kb.create(self.org_id, filename=filename, content=f"About {filename}.")
        assert (await coordinator.sync(self.org_id)).files_uploaded == 1


@pytest.fixture
async def bed(
    kbcore_store: Store, kbcore_kb: KnowledgeBase, kbcore_org: UUID, fake_vapi: FakeVapi
) -> AsyncIterator[Bed]:
    connections = Connections(fake_vapi)
    async with serve_fake_vapi(connections) as url:
        yield Bed(kbcore_store, kbcore_kb, kbcore_org, url, connections)


async def test_every_sync_reuses_the_connections_of_the_one_before(bed: Bed) -> None:
    """Syncs one at a time through one coordinator: one connection for all of them."""
    one_at_a_time = SyncPolicy(min_interval=timedelta(microseconds=1), max_concurrency=1)
    async with bed.coordinator(policy=one_at_a_time) as coordinator:
        await bed.sync_new_document(coordinator, "a.md")
        await bed.sync_new_document(coordinator, "b.md")
    assert len(bed.connections.ports) > 4
    assert len(set(bed.connections.ports)) == 1


async def test_a_coordinator_closes_only_the_client_it_opened(bed: Bed) -> None:
    """Without ``async with``, ``aclose()`` ends its connections; a later sync opens anew."""
    coordinator = bed.coordinator()
    await bed.sync_new_document(coordinator, "a.md")
    first = set(bed.connections.ports)
    await coordinator.aclose()
    await coordinator.aclose()  # closing twice is harmless
    bed.connections.ports.clear()
    await bed.sync_new_document(coordinator, "b.md")
    await coordinator.aclose()
    assert bed.connections.ports
    assert first.isdisjoint(bed.connections.ports)


async def test_a_host_client_is_used_and_left_open(bed: Bed) -> None:
    """The host's client carries every sync and is still the host's to use afterwards."""
    seen: list[str] = []

    async def note(request: httpx.Request) -> None:
        seen.append(request.method)

    async with httpx.AsyncClient(event_hooks={"request": [note]}) as http:
        async with bed.coordinator(http_client=http) as coordinator:
            await bed.sync_new_document(coordinator, "a.md")
            await bed.sync_new_document(coordinator, "b.md")
        assert not http.is_closed
        assert (await http.get(f"{bed.url}/file")).status_code == 401
    assert len(seen) == len(bed.connections.ports)
