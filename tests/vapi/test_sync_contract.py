"""Contract: whole syncs, with their lost answers, conflicts and repairs, keep Vapi's spec.

Every call kbcore makes is made here by a sync, on each store, and every request and
every answer is held to ``openapi-kb-subset.json``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from kbcore import KnowledgeBase, SyncCoordinator, SyncPolicy
from kbcore._ports import Store
from kbcore.memory import MemoryStore
from kbcore.testing import FakeVapi
from kbcore.testing.host_tables import HostTables

from .openapi_contract import OpenApiContract

pytestmark = pytest.mark.anyio

#: Every operation of the subset that a sync calls: all of kbcore's Vapi calls but a rename.
SYNC_OPERATIONS = {
    "FileController_create",
    "FileController_findAll",
    "FileController_remove",
    "ToolController_create",
    "ToolController_findAll",
    "ToolController_findOne",
    "ToolController_update",
    "ToolController_remove",
    "AssistantController_findOne",
    "AssistantController_update",
}


async def pass_window(store: Store, pool: object) -> None:
    if isinstance(store, MemoryStore):
        store.advance_clock(timedelta(minutes=6))
        return
    await pool.execute(  # type: ignore[attr-defined]
        "UPDATE kb_sync_claims SET last_success_at = last_success_at - interval '6 minutes'"
    )


@pytest.mark.usefixtures("no_backoff")
async def test_whole_syncs_keep_the_contract(
    kbcore_store: Store,
    kbcore_host_tables: HostTables,
    openapi: OpenApiContract,
    request: pytest.FixtureRequest,
) -> None:
    """Three syncs through lost answers, a write conflict and a failed file: all in the spec."""
    pool = None if isinstance(kbcore_store, MemoryStore) else request.getfixturevalue("kbcore_pool")
    fake = FakeVapi()
    org = uuid.uuid4()
    await kbcore_host_tables.set_vapi_key(org, fake.api_key)
    for role in ("inbound", "outbound"):
        await kbcore_host_tables.add_agent(org, role, fake.add_assistant(name=role))
    kb = KnowledgeBase(kbcore_store)
    first = await kb.create(org, filename="pricing.md", content="Pro: $99")
    await kb.create(org, filename="faq.md", content="Open 9-5", category="operations")
    async with fake.http_client() as http:
        coordinator = SyncCoordinator(kbcore_store, http_client=http, policy=SyncPolicy())
        fake.drop_next(1, "POST /tool", after_handling=True)  # a copy to find and delete
        fake.fail_processing(1)
        await coordinator.sync(org)
        await kb.update(org, first.id, content="Pro: $89")
        await pass_window(kbcore_store, pool)
        fake.conflict_next(1, "PATCH /tool/*")
        fake.file_list_needs_purpose = True
        await coordinator.sync(org)
        await pass_window(kbcore_store, pool)
        await coordinator.sync(org)
    used = {openapi.operation(r.method, r.path)[0]["operationId"] for r in fake.requests}
    assert used == SYNC_OPERATIONS
    assert [p for r in fake.requests for p in openapi.problems(r)] == []
    assert len(fake.tools) == 1
