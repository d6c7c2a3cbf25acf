"""SyncCoordinator against every store and FakeVapi: incremental, rate limited, audited."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import anyio
import pytest

from kbcore import (
    KnowledgeBase,
    RateLimited,
    SyncCoordinator,
    SyncFailed,
    SyncInProgress,
    ValidationError,
)
from kbcore._domain import CANCELLED_MESSAGE, LEASE_EXPIRED_MESSAGE, Claimed, SyncRun
from kbcore._ports import Store
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore
from kbcore.testing import FakeVapi
from kbcore.testing.host_tables import HostTables

pytestmark = pytest.mark.anyio

PassTime = Callable[[timedelta], Awaitable[None]]

WINDOW = timedelta(minutes=5, seconds=1)


async def runs(store: Store, org_id: UUID) -> list[SyncRun]:
    """The org's audit log, oldest first."""
    assert isinstance(store, MemoryStore | PostgresStore)
    return list(reversed(await store.recent_runs(org_id, 500)))


def tool_file_ids(fake: FakeVapi, tool_id: str) -> set[str]:
    return {fid for kb in fake.tools[tool_id]["knowledgeBases"] for fid in kb["fileIds"]}


def file_texts(fake: FakeVapi, file_ids: set[str]) -> set[str]:
    return {fake.files[file_id].content.decode() for file_id in file_ids}


def tool_ids_of_assistants(fake: FakeVapi) -> list[list[str]]:
    return [list(a["model"]["toolIds"]) for a in fake.assistants.values()]


async def seed(kb: KnowledgeBase, org_id: UUID, count: int = 3) -> list[Any]:
    categories = ["products_services", "general", "operations"]
    return [
        await kb.create(
            org_id, filename=f"doc-{i}.md", content=f"text {i}", category=categories[i % 3]
        )
        for i in range(count)
    ]


async def test_first_sync_uploads_everything_and_attaches_one_tool(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_org: UUID,
) -> None:
    """The first sync uploads each document, creates one tool and attaches it everywhere."""
    await seed(kbcore_kb, kbcore_org)
    result = await kbcore_coordinator.sync(kbcore_org, actor="ops")
    assert (result.docs_synced, result.files_uploaded, result.files_reused) == (3, 3, 0)
    assert (result.files_deleted, result.assistants_updated) == (0, 2)
    assert list(fake_vapi.tools) == [result.tool_id]
    tool = fake_vapi.tools[result.tool_id]
    assert "function" not in tool
    assert sorted(kb_["name"] for kb_ in tool["knowledgeBases"]) == [
        "general",
        "operations",
        "products_services",
    ]
    assert file_texts(fake_vapi, tool_file_ids(fake_vapi, result.tool_id)) == {
        "text 0",
        "text 1",
        "text 2",
    }
    assert tool_ids_of_assistants(fake_vapi) == [[result.tool_id], [result.tool_id]]
    [run] = await runs(kbcore_store, kbcore_org)
    assert (run.id, run.status, run.tool_id, run.triggered_by) == (
        result.run_id,
        "success",
        result.tool_id,
        "ops",
    )
    assert (run.docs_synced, run.assistants_updated, run.files_uploaded) == (3, 2, 3)
    assert run.duration_ms is not None
    assert run.duration_ms >= 0


async def test_an_immediate_second_sync_is_rate_limited_and_logged(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_store: Store,
    kbcore_org: UUID,
) -> None:
    """A second sync right away waits about the whole window, and the refusal is audited."""
    await seed(kbcore_kb, kbcore_org)
    await kbcore_coordinator.sync(kbcore_org)
    with pytest.raises(RateLimited) as caught:
        await kbcore_coordinator.sync(kbcore_org)
    assert 290 < caught.value.retry_after <= 300
    assert str(caught.value) == "Rate limited. Try again in 300s."
    last = (await runs(kbcore_store, kbcore_org))[-1]
    assert (last.status, last.error_message) == ("failed", "Rate limited. Try again in 300s.")


async def test_a_sync_with_no_changes_sends_no_uploads_and_no_patches(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """After the window, an unchanged knowledge base uploads, patches and deletes nothing."""
    await seed(kbcore_kb, kbcore_org)
    first = await kbcore_coordinator.sync(kbcore_org)
    await pass_time(WINDOW)
    before = len(fake_vapi.requests)
    second = await kbcore_coordinator.sync(kbcore_org)
    assert (second.files_uploaded, second.files_reused, second.files_deleted) == (0, 3, 0)
    assert (second.tool_id, second.assistants_updated) == (first.tool_id, 0)
    sent = {f"{r.method} {r.path.split('/')[1]}" for r in fake_vapi.requests[before:]}
    assert sent <= {"GET file", "GET tool", "GET assistant"}


async def test_changing_one_document_uploads_one_file_and_deletes_one(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """An edit replaces exactly that document's file, in place in the same tool."""
    docs = await seed(kbcore_kb, kbcore_org)
    first = await kbcore_coordinator.sync(kbcore_org)
    old_files = tool_file_ids(fake_vapi, first.tool_id)
    await kbcore_kb.update(kbcore_org, docs[1].id, content="text 1, revised")
    await pass_time(WINDOW)
    second = await kbcore_coordinator.sync(kbcore_org)
    assert (second.files_uploaded, second.files_reused, second.files_deleted) == (1, 2, 1)
    assert second.tool_id == first.tool_id
    new_files = tool_file_ids(fake_vapi, first.tool_id)
    assert len(new_files - old_files) == 1
    assert file_texts(fake_vapi, new_files) == {"text 0", "text 1, revised", "text 2"}
    assert set(fake_vapi.files) == new_files
    assert fake_vapi.missing_file_ids() == set()


async def test_deleting_a_document_removes_its_file(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """A soft-deleted document leaves the tool and its file is deleted from Vapi."""
    docs = await seed(kbcore_kb, kbcore_org)
    result = await kbcore_coordinator.sync(kbcore_org)
    await kbcore_kb.delete(kbcore_org, docs[0].id)
    await pass_time(WINDOW)
    second = await kbcore_coordinator.sync(kbcore_org)
    assert (second.docs_synced, second.files_deleted) == (2, 1)
    assert file_texts(fake_vapi, set(fake_vapi.files)) == {"text 1", "text 2"}
    assert set(fake_vapi.files) == tool_file_ids(fake_vapi, result.tool_id)


async def test_many_syncs_keep_one_kbcore_tool_and_the_assistants_other_tools(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """Repeated syncs with edits never pile up tools, and foreign tool ids stay attached."""
    for assistant in fake_vapi.assistants.values():
        assistant["model"]["toolIds"] = ["calendar-tool"]
    docs = await seed(kbcore_kb, kbcore_org)
    for round_ in range(4):
        await kbcore_kb.update(kbcore_org, docs[round_ % 3].id, content=f"round {round_}")
        await kbcore_coordinator.sync(kbcore_org)
        await pass_time(WINDOW)
    [tool_id] = fake_vapi.tools
    assert tool_ids_of_assistants(fake_vapi) == [["calendar-tool", tool_id]] * 2
    assert len(fake_vapi.requests_to("POST /tool")) == 1
    assert set(fake_vapi.files) == tool_file_ids(fake_vapi, tool_id)


@pytest.mark.parametrize(
    ("arrange", "reason"),
    [
        (
            "no_key",
            "No Vapi API key is configured; add the org's Vapi integration or set VAPI_API_KEY",
        ),
        ("no_documents", "No active documents to sync; add a document first"),
        ("no_agents", "No agents with role inbound or outbound; create the org's agents first"),
        (
            "no_assistant_ids",
            "No agents have a Vapi assistant id; save the agent configuration first",
        ),
    ],
)
async def test_early_failures_name_what_to_fix_and_do_not_use_the_window(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_host_tables: HostTables,
    monkeypatch: pytest.MonkeyPatch,
    arrange: str,
    reason: str,
) -> None:
    """Each missing prerequisite fails before any Vapi call, with its own audited message."""
    monkeypatch.delenv("VAPI_API_KEY", raising=False)
    org_id = uuid.uuid4()
    if arrange != "no_key":
        await kbcore_host_tables.set_vapi_key(org_id, fake_vapi.api_key)
    if arrange != "no_documents":
        await seed(kbcore_kb, org_id, 1)
    if arrange == "no_assistant_ids":
        await kbcore_host_tables.add_agent(org_id, "inbound", None)
    elif arrange != "no_agents":
        await kbcore_host_tables.add_agent(org_id, "inbound", fake_vapi.add_assistant())
    for _ in range(2):  # a failure does not start the window: the retry fails the same way
        with pytest.raises(SyncFailed) as caught:
            await kbcore_coordinator.sync(org_id)
        assert caught.value.reason == reason
    assert fake_vapi.requests == []
    assert [(r.status, r.error_message) for r in await runs(kbcore_store, org_id)] == [
        ("failed", reason),
        ("failed", reason),
    ]


async def test_the_environment_key_is_the_fallback(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_host_tables: HostTables,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no integration row, VAPI_API_KEY is used."""
    monkeypatch.setenv("VAPI_API_KEY", fake_vapi.api_key)
    org_id = uuid.uuid4()
    await seed(kbcore_kb, org_id, 1)
    await kbcore_host_tables.add_agent(org_id, "outbound", fake_vapi.add_assistant())
    result = await kbcore_coordinator.sync(org_id)
    assert result.files_uploaded == 1
    assert os.environ["VAPI_API_KEY"] not in repr(result)


async def test_a_failed_sync_keeps_its_uploads_for_the_next_attempt(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_org: UUID,
) -> None:
    """When an assistant cannot be updated, the retry reuses the uploads and finishes the job."""
    await seed(kbcore_kb, kbcore_org)
    fake_vapi.fail_next(100, "PATCH /assistant/*", status=400)
    with pytest.raises(SyncFailed) as caught:
        await kbcore_coordinator.sync(kbcore_org)
    assert caught.value.reason.startswith("Could not update 2 of 2 Vapi assistants")
    assert caught.value.provider_message is not None
    fake_vapi.clear_faults()
    result = await kbcore_coordinator.sync(kbcore_org)  # a failure did not start the window
    assert (result.files_uploaded, result.files_reused, result.assistants_updated) == (0, 3, 2)
    assert [r.status for r in await runs(kbcore_store, kbcore_org)] == ["failed", "success"]


async def test_one_rejected_upload_fails_the_sync_without_touching_the_tool(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
) -> None:
    """A 400 on one file stops the sync before the tool changes; the other uploads are kept."""
    await seed(kbcore_kb, kbcore_org)
    fake_vapi.fail_next(1, "POST /file", status=400)
    with pytest.raises(SyncFailed) as caught:
        await kbcore_coordinator.sync(kbcore_org)
    assert caught.value.reason == (
        "Could not upload 1 of 3 documents to Vapi; the next sync retries them"
    )
    assert fake_vapi.tools == {}
    assert len(fake_vapi.files) == 2
    result = await kbcore_coordinator.sync(kbcore_org)
    assert (result.files_uploaded, result.files_reused) == (1, 2)
    assert set(fake_vapi.files) == tool_file_ids(fake_vapi, result.tool_id)


async def test_rate_limit_storms_are_ridden_out(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
) -> None:
    """429s with and without Retry-After and 503s are retried until the sync succeeds."""
    await seed(kbcore_kb, kbcore_org)
    fake_vapi.fail_next(3, "POST /file", status=429, retry_after=2)
    fake_vapi.fail_next(2, "POST /file", status=429)
    fake_vapi.fail_next(2, "PATCH /assistant/*", status=503)
    result = await kbcore_coordinator.sync(kbcore_org)
    assert result.files_uploaded == 3
    assert len(fake_vapi.requests_to("POST /file")) == 8
    assert set(fake_vapi.files) == tool_file_ids(fake_vapi, result.tool_id)


async def test_a_tool_deleted_behind_kbcores_back_is_recreated(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """If the tool vanished from Vapi, the next sync makes a new one and detaches the old id."""
    await seed(kbcore_kb, kbcore_org)
    first = await kbcore_coordinator.sync(kbcore_org)
    del fake_vapi.tools[first.tool_id]
    await pass_time(WINDOW)
    second = await kbcore_coordinator.sync(kbcore_org)
    assert second.tool_id != first.tool_id
    assert list(fake_vapi.tools) == [second.tool_id]
    assert tool_ids_of_assistants(fake_vapi) == [[second.tool_id]] * 2
    assert set(fake_vapi.files) == tool_file_ids(fake_vapi, second.tool_id)


@pytest.mark.parametrize("damage", ["lost", "failed"])
async def test_files_vapi_lost_or_failed_are_uploaded_again(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
    damage: str,
) -> None:
    """A file missing from Vapi's list, or one whose processing failed, is replaced."""
    await seed(kbcore_kb, kbcore_org)
    first = await kbcore_coordinator.sync(kbcore_org)
    victim = sorted(tool_file_ids(fake_vapi, first.tool_id))[0]
    if damage == "lost":
        del fake_vapi.files[victim]
    else:
        fake_vapi.files[victim].status = "failed"
    await pass_time(WINDOW)
    second = await kbcore_coordinator.sync(kbcore_org)
    assert second.files_uploaded == 1
    assert victim not in fake_vapi.files
    assert set(fake_vapi.files) == tool_file_ids(fake_vapi, first.tool_id)
    assert file_texts(fake_vapi, set(fake_vapi.files)) == {"text 0", "text 1", "text 2"}


async def test_concurrent_syncs_of_one_org_run_one_at_a_time(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_org: UUID,
) -> None:
    """Of ten simultaneous attempts exactly one runs; every attempt is in the audit log."""
    await seed(kbcore_kb, kbcore_org)
    fake_vapi.add_latency(0.05, "POST /file")
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await kbcore_coordinator.sync(kbcore_org)
            outcomes.append("ran")
        except SyncInProgress:
            outcomes.append("in progress")
        except RateLimited:
            outcomes.append("rate limited")

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(attempt)
    assert outcomes.count("ran") == 1
    assert len(outcomes) == 10
    logged = await runs(kbcore_store, kbcore_org)
    assert len(logged) == 10
    assert sum(run.status == "success" for run in logged) == 1
    assert len(fake_vapi.requests_to("POST /tool")) == 1


async def test_a_crashed_sync_blocks_only_until_its_lease_lapses(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_store: Store,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """A claim nobody finishes refuses others until the lease runs out, then is taken over."""
    await seed(kbcore_kb, kbcore_org)
    crashed = await kbcore_store.claim(
        kbcore_org, min_interval=timedelta(minutes=5), lease=timedelta(minutes=2), actor=None
    )
    assert isinstance(crashed, Claimed)
    with pytest.raises(SyncInProgress):
        await kbcore_coordinator.sync(kbcore_org)
    await pass_time(timedelta(minutes=2, seconds=1))
    result = await kbcore_coordinator.sync(kbcore_org)
    assert result.files_uploaded == 3
    by_id = {run.id: run for run in await runs(kbcore_store, kbcore_org)}
    assert (by_id[crashed.run_id].status, by_id[crashed.run_id].error_message) == (
        "failed",
        LEASE_EXPIRED_MESSAGE,
    )
    assert by_id[result.run_id].status == "success"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"org_id": "nope"}, "org_id"),
        ({"tool_name": "has spaces"}, "tool_name"),
        ({"tool_name": ""}, "tool_name"),
        ({"roles": "inbound"}, "roles"),
        ({"roles": ()}, "roles"),
        ({"roles": ("inbound", "")}, "roles"),
        ({"actor": "x" * 300}, "actor"),
    ],
)
async def test_bad_arguments_are_rejected_before_anything_is_logged(
    kbcore_coordinator: SyncCoordinator,
    kbcore_store: Store,
    kbcore_org: UUID,
    arguments: dict[str, Any],
    field: str,
) -> None:
    """Invalid sync arguments raise ValidationError and leave no audit row."""
    call: dict[str, Any] = {"org_id": kbcore_org, **arguments}
    with pytest.raises(ValidationError) as caught:
        await kbcore_coordinator.sync(**call)
    assert caught.value.field == field
    assert await runs(kbcore_store, kbcore_org) == []


async def test_a_base_url_that_is_not_http_is_refused_when_the_coordinator_is_built(
    kbcore_store: Store,
) -> None:
    """The URL is an argument too: refused at once, not in the middle of a claimed sync."""
    with pytest.raises(ValidationError) as caught:
        SyncCoordinator(kbcore_store, vapi_base_url="not-a-url")
    assert caught.value.field == "base_url"


@pytest.mark.parametrize("stored", [True, False], ids=["integration", "environment"])
async def test_an_unusable_key_is_refused_before_the_claim(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_store: Store,
    fake_vapi: FakeVapi,
    kbcore_host_tables: HostTables,
    monkeypatch: pytest.MonkeyPatch,
    stored: bool,
) -> None:
    """A key with a line break in it cannot be sent: ValidationError naming where it is."""
    org_id = uuid.uuid4()
    await seed(kbcore_kb, org_id, 1)
    await kbcore_host_tables.add_agent(org_id, "inbound", fake_vapi.add_assistant())
    key = f"{fake_vapi.api_key}\nsk-second-line"
    if stored:
        await kbcore_host_tables.set_vapi_key(org_id, key)
    else:
        monkeypatch.setenv("VAPI_API_KEY", key)
    with pytest.raises(ValidationError) as caught:
        await kbcore_coordinator.sync(org_id)
    where = "the org's Vapi integration" if stored else "VAPI_API_KEY"
    assert caught.value.message.startswith(f"The Vapi key in {where} is not usable")
    assert fake_vapi.api_key not in str(caught.value)
    assert await runs(kbcore_store, org_id) == []


async def test_a_cancelled_sync_is_recorded_as_cancelled(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_store: Store,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
) -> None:
    """A host's timeout cancels the sync mid-call: the audit row says so, and the claim ends."""
    await seed(kbcore_kb, kbcore_org, 1)
    fake_vapi.add_latency(60, count=1)
    with anyio.move_on_after(0.2):
        await kbcore_coordinator.sync(kbcore_org)
    [cancelled] = await runs(kbcore_store, kbcore_org)
    assert (cancelled.status, cancelled.error_message) == ("failed", CANCELLED_MESSAGE)
    assert (await kbcore_coordinator.sync(kbcore_org)).files_uploaded == 1  # the claim was released


async def test_a_file_whose_upload_answer_was_lost_is_cleaned_up_next_time(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """A retried upload leaves a stray copy on Vapi; the next sync finds it and deletes it."""
    await seed(kbcore_kb, kbcore_org)
    fake_vapi.drop_next(1, "POST /file", after_handling=True)
    first = await kbcore_coordinator.sync(kbcore_org)
    assert len(fake_vapi.files) == 4  # the lost answer's file, unknown to kbcore yet
    await pass_time(WINDOW)
    second = await kbcore_coordinator.sync(kbcore_org)
    assert (second.files_uploaded, second.files_deleted) == (0, 1)
    assert set(fake_vapi.files) == tool_file_ids(fake_vapi, first.tool_id)


async def test_files_of_other_orgs_and_tools_are_left_alone(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_host_tables: HostTables,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """Two orgs sharing one Vapi account never delete each other's files."""
    other = uuid.uuid4()
    await kbcore_host_tables.set_vapi_key(other, fake_vapi.api_key)
    await kbcore_host_tables.add_agent(other, "inbound", fake_vapi.add_assistant())
    await seed(kbcore_kb, kbcore_org)
    await seed(kbcore_kb, other, 2)
    await kbcore_coordinator.sync(kbcore_org)
    await kbcore_coordinator.sync(other)
    await pass_time(WINDOW)
    await kbcore_coordinator.sync(kbcore_org, tool_name="second-tool")
    await pass_time(WINDOW)
    await kbcore_coordinator.sync(kbcore_org)
    await kbcore_coordinator.sync(other)
    assert len(fake_vapi.files) == 3 + 2 + 3
    assert fake_vapi.missing_file_ids() == set()
