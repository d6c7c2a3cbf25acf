"""SyncCoordinator.plan against every store and FakeVapi: what the next sync would do, unsent."""

from __future__ import annotations

import uuid
from uuid import UUID

import attrs
import httpx
import pytest

from kbcore import (
    KnowledgeBase,
    SyncCoordinator,
    SyncFailed,
    SyncPolicy,
    SyncPreview,
    SyncResult,
    ValidationError,
)
from kbcore._ports import Store
from kbcore.sync import PlannedUpload
from kbcore.testing import FakeVapi
from kbcore.testing.host_tables import HostTables

from .conftest import PassTime
from .test_sync import WINDOW, runs, seed
from .test_sync_against_vapi_today import pin

pytestmark = pytest.mark.anyio


@pytest.fixture
def instructing(
    kbcore_store: Store, fake_vapi_http: httpx.AsyncClient, kbcore_sync_policy: SyncPolicy
) -> SyncCoordinator:
    """A coordinator whose policy keeps kbcore's instruction line in every system prompt."""
    policy = attrs.evolve(kbcore_sync_policy, instruct_assistants=True)
    return SyncCoordinator(kbcore_store, http_client=fake_vapi_http, policy=policy)


def writes(fake: FakeVapi) -> list[tuple[str, str]]:
    """Every request of the log that is not a GET, as (method, path)."""
    return [(r.method, r.path) for r in fake.requests if r.method != "GET"]


async def planned(coordinator: SyncCoordinator, org_id: UUID, fake: FakeVapi) -> SyncPreview:
    """A plan of the org's next sync, checked to have sent Vapi nothing but GETs."""
    fake.requests.clear()
    preview = await coordinator.plan(org_id)
    assert fake.requests, "the plan asked Vapi nothing"
    assert writes(fake) == []
    fake.requests.clear()
    return preview


def assert_sync_did_what_was_planned(
    preview: SyncPreview, result: SyncResult, fake: FakeVapi
) -> None:
    """The sync's result and its Vapi writes are the plan's, item for item."""
    assert result.files_uploaded == len(preview.uploads)
    assert result.files_reused == len(preview.reused)
    assert result.files_deleted == len(preview.delete)
    assert result.assistants_updated == sum(a.patched for a in preview.assistants)
    assert result.warnings == preview.warnings
    done = writes(fake)
    assert done.count(("POST", "/file")) == len(preview.uploads)
    assert sorted(path for method, path in done if method == "DELETE" and "/file/" in path) == [
        f"/file/{file_id}" for file_id in preview.delete
    ]
    assert done.count(("POST", "/tool")) == (preview.tool.action == "create")
    tool_patches = [path for method, path in done if method == "PATCH" and "/tool/" in path]
    assert tool_patches == ([f"/tool/{preview.tool.tool_id}"] * (preview.tool.action == "update"))
    assistant_patches = {path for method, path in done if path.startswith("/assistant/")}
    assert assistant_patches == {
        f"/assistant/{a.assistant_id}" for a in preview.assistants if a.patched
    }
    if preview.tool.tool_id is not None:
        assert result.tool_id == preview.tool.tool_id


async def test_a_new_org_plans_every_upload_a_new_tool_and_every_assistant(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_store: Store,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
) -> None:
    """Every document would be uploaded and every assistant given a new tool; nothing is sent."""
    docs = await seed(kbcore_kb, kbcore_org)
    preview = await planned(kbcore_coordinator, kbcore_org, fake_vapi)
    assert preview.uploads == tuple(
        PlannedUpload(
            document_id=d.id, filename=d.filename, version=1, category=d.category, reason="new"
        )
        for d in docs
    )
    assert (preview.reused, preview.delete, preview.lost) == ((), (), ())
    assert (preview.tool.action, preview.tool.tool_id, preview.tool.retire) == ("create", None, ())
    assert sorted(a.assistant_id for a in preview.assistants) == sorted(fake_vapi.assistants)
    assert {(a.status, a.patched, a.instruction) for a in preview.assistants} == {
        ("attach", True, None)
    }
    assert len(preview.warnings) == 2  # FakeVapi's prompts never mention the knowledge base
    assert not preview.nothing_to_do
    # Nothing written: no file or tool on Vapi, no audit row, no ledger entry.
    assert (fake_vapi.files, fake_vapi.tools) == ({}, {})
    assert await runs(kbcore_store, kbcore_org) == []
    assert await kbcore_store.ledger_files(kbcore_org, "knowledge-search") == []

    result = await kbcore_coordinator.sync(kbcore_org)
    assert_sync_did_what_was_planned(preview, result, fake_vapi)


async def test_after_a_sync_there_is_nothing_to_do(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
) -> None:
    """Right after a sync every file is reused, the tool unchanged, every assistant attached."""
    await seed(kbcore_kb, kbcore_org)
    result = await kbcore_coordinator.sync(kbcore_org)
    preview = await planned(kbcore_coordinator, kbcore_org, fake_vapi)
    assert preview.nothing_to_do
    assert (preview.uploads, preview.delete) == ((), ())
    tool = fake_vapi.tools[result.tool_id]
    assert {r.file_id for r in preview.reused} == {
        file_id for kb in tool["knowledgeBases"] for file_id in kb["fileIds"]
    }
    assert (preview.tool.action, preview.tool.tool_id) == ("unchanged", result.tool_id)
    assert {(a.status, a.patched) for a in preview.assistants} == {("attached", False)}
    assert preview.warnings == result.warnings


async def test_after_an_edit_the_plan_is_one_upload_and_one_delete_and_the_sync_does_that(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """An edited document: its new version is uploaded, its old file deleted, nothing else."""
    docs = await seed(kbcore_kb, kbcore_org)
    first = await kbcore_coordinator.sync(kbcore_org)
    before = await planned(kbcore_coordinator, kbcore_org, fake_vapi)
    [old_file] = [r.file_id for r in before.reused if r.document_id == docs[0].id]
    await kbcore_kb.update(kbcore_org, docs[0].id, content="changed")

    preview = await planned(kbcore_coordinator, kbcore_org, fake_vapi)
    assert preview.uploads == (
        PlannedUpload(
            document_id=docs[0].id,
            filename="doc-0.md",
            version=2,
            category=docs[0].category,
            reason="changed",
        ),
    )
    assert preview.delete == (old_file,)
    assert len(preview.reused) == 2
    assert (preview.tool.action, preview.tool.tool_id) == ("update", first.tool_id)
    assert not any(a.patched for a in preview.assistants)

    await pass_time(WINDOW)
    result = await kbcore_coordinator.sync(kbcore_org)
    assert_sync_did_what_was_planned(preview, result, fake_vapi)
    assert old_file not in fake_vapi.files


async def test_a_pin_keeps_the_superseded_file_and_is_reported(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """An assistant pinning the tool counts as attached; the update would leave it behind."""
    docs = await seed(kbcore_kb, kbcore_org)
    first = await kbcore_coordinator.sync(kbcore_org)
    pinned_id = sorted(fake_vapi.assistants)[0]
    pin(fake_vapi, pinned_id, first.tool_id, "v1")
    await kbcore_kb.update(kbcore_org, docs[0].id, content="changed")

    preview = await planned(kbcore_coordinator, kbcore_org, fake_vapi)
    statuses = {a.assistant_id: a.status for a in preview.assistants}
    assert statuses[pinned_id] == "pinned"
    assert [(p.assistant_id, p.tool_id, p.version) for p in preview.pins] == [
        (pinned_id, first.tool_id, "v1")
    ]
    assert preview.delete == ()  # the pinned version still lists the old file
    assert any("which the sync would update" in warning for warning in preview.warnings)
    assert any("superseded file stays" in warning for warning in preview.warnings)

    await pass_time(WINDOW)
    result = await kbcore_coordinator.sync(kbcore_org)
    assert result.files_deleted == 0
    assert [(p.assistant_id, p.tool_id, p.version) for p in result.pins] == [
        (pinned_id, first.tool_id, "v1")
    ]
    assert len(result.warnings) == len(preview.warnings)


async def test_the_instruction_line_is_planned_for_every_assistant(
    kbcore_kb: KnowledgeBase,
    instructing: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
) -> None:
    """With instruct_assistants on, each assistant would get kbcore's line, and no warning."""
    await seed(kbcore_kb, kbcore_org)
    preview = await planned(instructing, kbcore_org, fake_vapi)
    assert {a.instruction for a in preview.assistants} == {"add"}
    assert preview.warnings == ()
    result = await instructing.sync(kbcore_org)
    assert_sync_did_what_was_planned(preview, result, fake_vapi)


async def test_a_file_vapi_lost_is_planned_as_a_repair(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """A file gone from Vapi: its document is uploaded again, the file forgotten, not deleted."""
    docs = await seed(kbcore_kb, kbcore_org)
    await kbcore_coordinator.sync(kbcore_org)
    before = await planned(kbcore_coordinator, kbcore_org, fake_vapi)
    [lost] = [r.file_id for r in before.reused if r.document_id == docs[1].id]
    del fake_vapi.files[lost]

    preview = await planned(kbcore_coordinator, kbcore_org, fake_vapi)
    assert [(u.document_id, u.reason) for u in preview.uploads] == [(docs[1].id, "repair")]
    assert (preview.lost, preview.delete) == ((lost,), ())
    await pass_time(WINDOW)
    result = await kbcore_coordinator.sync(kbcore_org)
    assert_sync_did_what_was_planned(preview, result, fake_vapi)


async def test_the_plan_fails_as_the_sync_would_and_records_nothing(
    kbcore_kb: KnowledgeBase,
    kbcore_store: Store,
    kbcore_host_tables: HostTables,
    fake_vapi: FakeVapi,
    fake_vapi_http: httpx.AsyncClient,
) -> None:
    """No key, no document, bad arguments: the sync's errors, and no audit row."""
    coordinator = SyncCoordinator(kbcore_store, http_client=fake_vapi_http)
    org_id = uuid.uuid4()
    with pytest.raises(SyncFailed, match="No Vapi API key is configured"):
        await coordinator.plan(org_id)
    await kbcore_host_tables.set_vapi_key(org_id, fake_vapi.api_key)
    with pytest.raises(SyncFailed, match="No active documents to sync"):
        await coordinator.plan(org_id)
    await kbcore_kb.create(org_id, filename="a.md", content="x")
    with pytest.raises(SyncFailed, match="No agents with role inbound or outbound"):
        await coordinator.plan(org_id)
    with pytest.raises(ValidationError, match="tool_name"):
        await coordinator.plan(org_id, tool_name="no spaces allowed")
    with pytest.raises(ValidationError, match="roles"):
        await coordinator.plan(org_id, roles=[])
    assert await runs(kbcore_store, org_id) == []
    assert fake_vapi.requests == []


async def test_a_rejected_key_fails_the_plan_as_it_fails_the_sync(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_host_tables: HostTables,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
) -> None:
    """Vapi refusing the key: the reason names where the key came from."""
    await seed(kbcore_kb, kbcore_org, count=1)
    await kbcore_host_tables.set_vapi_key(kbcore_org, "not-the-fake-key")
    with pytest.raises(SyncFailed) as planned_error:
        await kbcore_coordinator.plan(kbcore_org)
    with pytest.raises(SyncFailed) as synced_error:
        await kbcore_coordinator.sync(kbcore_org)
    assert planned_error.value.reason == synced_error.value.reason
    assert "Vapi rejected the API key" in planned_error.value.reason
