"""Syncs against Vapi as its spec and SDK have it since 2026-08: pins, 409s, prompts, files."""

from __future__ import annotations

from uuid import UUID

import attrs
import httpx
import pytest

from kbcore import KnowledgeBase, SyncCoordinator, SyncFailed, SyncPolicy, SyncResult
from kbcore._ports import Store
from kbcore.sync import INSTRUCTION_MARKER, PinnedTool
from kbcore.testing import FakeVapi

from .conftest import PassTime
from .test_sync import WINDOW, runs, seed, tool_file_ids

pytestmark = pytest.mark.anyio


def pin(fake: FakeVapi, assistant_id: str, tool_id: str, version: str) -> None:
    """Pin the tool in the assistant as the dashboard would: the pin wins over toolIds."""
    model = fake.assistants[assistant_id]["model"]
    model["toolRefs"] = [{"toolId": tool_id, "version": version}]
    model["toolIds"] = [t for t in model["toolIds"] if t != tool_id]


def system_prompt(fake: FakeVapi, assistant_id: str) -> str:
    [message] = [
        m for m in fake.assistants[assistant_id]["model"]["messages"] if m["role"] == "system"
    ]
    return str(message["content"])


@pytest.fixture
async def edited(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> SyncResult:
    """The org synced once, then a document edited and the window passed; the first result."""
    docs = await seed(kbcore_kb, kbcore_org)
    first = await kbcore_coordinator.sync(kbcore_org)
    await kbcore_kb.update(kbcore_org, docs[0].id, content="changed")
    await pass_time(WINDOW)
    return first


@pytest.fixture
def instructing(
    kbcore_store: Store, fake_vapi_http: httpx.AsyncClient, kbcore_sync_policy: SyncPolicy
) -> SyncCoordinator:
    """A coordinator whose policy keeps kbcore's instruction line in every system prompt."""
    policy = attrs.evolve(kbcore_sync_policy, instruct_assistants=True)
    return SyncCoordinator(kbcore_store, http_client=fake_vapi_http, policy=policy)


async def test_no_tool_write_carries_a_function_and_a_lost_create_leaves_one_tool(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
) -> None:
    """The spec's query tool has no function; the copy a lost answer left is found anyway.

    The retried create makes a copy on Vapi; the sync finds the copy and deletes it.
    """
    await seed(kbcore_kb, kbcore_org)
    fake_vapi.drop_next(1, "POST /tool", after_handling=True)
    result = await kbcore_coordinator.sync(kbcore_org)
    assert len(fake_vapi.requests_to("POST /tool")) == 2
    writes = fake_vapi.requests_to("POST /tool") + fake_vapi.requests_to("PATCH /tool/*")
    assert [sorted(r.json()) for r in writes] == [["knowledgeBases", "type"]] * 2
    assert list(fake_vapi.tools) == [result.tool_id]
    assert fake_vapi.missing_file_ids() == set()


async def test_a_copy_left_by_a_failed_sync_is_deleted_by_the_next(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_org: UUID,
) -> None:
    """A create Vapi did but never answered, in a sync that then failed, is known by its intent."""
    await seed(kbcore_kb, kbcore_org)
    fake_vapi.drop_next(1, "POST /tool", after_handling=True)
    fake_vapi.fail_next(100, "POST /tool", status=500)
    with pytest.raises(SyncFailed, match="Could not create the knowledge-base tool"):
        await kbcore_coordinator.sync(kbcore_org)
    [copy] = fake_vapi.tools
    fake_vapi.clear_faults()
    result = await kbcore_coordinator.sync(kbcore_org)
    assert list(fake_vapi.tools) == [result.tool_id]
    assert copy != result.tool_id
    assert fake_vapi.requests_to(f"DELETE /tool/{copy}")[-1].status == 200


async def test_a_pinned_assistant_is_left_alone_and_named(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """A pin counts as attached: no PATCH loop, no duplicate; the result names the pin."""
    await seed(kbcore_kb, kbcore_org)
    first = await kbcore_coordinator.sync(kbcore_org)
    pinned_id, other_id = fake_vapi.assistants
    pin(fake_vapi, pinned_id, first.tool_id, "v1")
    patches = len(fake_vapi.requests_to("PATCH /assistant/*"))
    for _ in range(2):
        await pass_time(WINDOW)
        result = await kbcore_coordinator.sync(kbcore_org)
        assert result.pins == (
            PinnedTool(
                assistant_id=pinned_id,
                tool_id=first.tool_id,
                version="v1",
                current=True,
                latest_version="v1",
            ),
        )
        assert not any("pins" in warning for warning in result.warnings)  # it is up to date
    assert len(fake_vapi.requests_to("PATCH /assistant/*")) == patches
    assert fake_vapi.assistants[pinned_id]["model"]["toolIds"] == []
    assert fake_vapi.assistants[other_id]["model"]["toolIds"] == [first.tool_id]


async def test_a_pin_on_an_old_version_keeps_its_files_and_is_reported(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """After the tool moves on, the pinned version's files stay and a warning says why."""
    docs = await seed(kbcore_kb, kbcore_org)
    first = await kbcore_coordinator.sync(kbcore_org)
    pinned_id = next(iter(fake_vapi.assistants))
    pin(fake_vapi, pinned_id, first.tool_id, "v1")
    old_files = tool_file_ids(fake_vapi, first.tool_id)
    await kbcore_kb.update(kbcore_org, docs[0].id, content="revised")
    await pass_time(WINDOW)
    second = await kbcore_coordinator.sync(kbcore_org)
    [outdated] = second.pins
    assert (outdated.version, outdated.latest_version, outdated.outdated) == ("v1", "v2", True)
    assert second.files_deleted == 0
    assert old_files <= set(fake_vapi.files)
    assert any(
        f"Assistant {pinned_id} pins version v1 of the knowledge-base tool" in w
        for w in second.warnings
    )
    assert "1 superseded file stays on Vapi" in " ".join(second.warnings)


async def test_a_write_conflict_is_read_again_and_retried(
    edited: SyncResult, kbcore_coordinator: SyncCoordinator, fake_vapi: FakeVapi, kbcore_org: UUID
) -> None:
    """One tool_write_conflict: the tool is read again, written again, and the sync succeeds."""
    start = len(fake_vapi.requests)
    fake_vapi.conflict_next(1, "PATCH /tool/*", error="tool_write_conflict")
    result = await kbcore_coordinator.sync(kbcore_org)
    tool_calls = [
        (r.method, r.status) for r in fake_vapi.requests[start:] if r.path.startswith("/tool/")
    ]
    # The first read was the tool list; after the 409 the tool itself is read again.
    assert tool_calls == [("PATCH", 409), ("GET", 200), ("PATCH", 200)]
    texts = {fake_vapi.files[f].content.decode() for f in tool_file_ids(fake_vapi, result.tool_id)}
    assert "changed" in texts


async def test_write_conflicts_that_do_not_stop_fail_the_sync_after_a_few_tries(
    edited: SyncResult, kbcore_coordinator: SyncCoordinator, fake_vapi: FakeVapi, kbcore_org: UUID
) -> None:
    """tool_write_conflict is never retried blindly, nor for ever."""
    fake_vapi.conflict_next(100, "PATCH /tool/*", error="tool_write_conflict")
    with pytest.raises(SyncFailed, match="tool_write_conflict"):
        await kbcore_coordinator.sync(kbcore_org)
    sent = [r.method for r in fake_vapi.requests if r.path.startswith("/tool/")][-5:]
    assert sent == ["PATCH", "GET", "PATCH", "GET", "PATCH"]


async def test_a_pinned_tool_fails_the_sync_with_that_reason(
    edited: SyncResult,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_org: UUID,
) -> None:
    """tool_pinned on PATCH is not retried: SyncFailed says so, and so does the audit row."""
    fake_vapi.pin_tool(edited.tool_id)
    with pytest.raises(SyncFailed) as caught:
        await kbcore_coordinator.sync(kbcore_org)
    assert "pinned (tool_pinned)" in caught.value.reason
    assert caught.value.provider_message == "This tool is pinned and cannot be updated."
    assert len(fake_vapi.requests_to("PATCH /tool/*")) == 1
    assert (await runs(kbcore_store, kbcore_org))[-1].error_message == caught.value.reason


async def test_a_property_vapi_refuses_fails_the_sync_naming_it(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
) -> None:
    """A 400 for an unknown property is permanent: no retry, and the reason names it."""
    await seed(kbcore_kb, kbcore_org)
    fake_vapi.fail_next(
        1, "POST /tool", status=400, message=["property knowledgeBases should not exist"]
    )
    with pytest.raises(SyncFailed) as caught:
        await kbcore_coordinator.sync(kbcore_org)
    assert "Vapi does not accept 'knowledgeBases'" in caught.value.reason
    assert len(fake_vapi.requests_to("POST /tool")) == 1


async def test_a_prompt_that_never_mentions_the_knowledge_base_is_warned_about(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_org: UUID,
) -> None:
    """Each such assistant is named in the result's warnings and in the audit row."""
    await seed(kbcore_kb, kbcore_org)
    mentioning, silent = fake_vapi.assistants
    fake_vapi.assistants[mentioning]["model"]["messages"] = [
        {"role": "system", "content": "Look facts up in the Knowledge-Base before answering."}
    ]
    result = await kbcore_coordinator.sync(kbcore_org)
    assert result.warnings == (
        f"Assistant {silent}: its system prompt never mentions the knowledge base, so it may "
        "never search it; say in the prompt when to search the knowledge base",
    )
    assert (await runs(kbcore_store, kbcore_org))[-1].warnings == result.warnings


async def test_the_opt_in_keeps_exactly_one_instruction_line(
    kbcore_kb: KnowledgeBase,
    instructing: SyncCoordinator,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """Three syncs leave one marked line per prompt and no warning; turning it off removes it."""
    await seed(kbcore_kb, kbcore_org)
    for _ in range(3):
        result = await instructing.sync(kbcore_org)
        await pass_time(WINDOW)
    assert result.warnings == ()
    for assistant_id in fake_vapi.assistants:
        prompt = system_prompt(fake_vapi, assistant_id)
        assert prompt.count(INSTRUCTION_MARKER) == 1
        assert prompt.startswith("You are a helpful sales agent.\n\n[kbcore] Before you answer")
    assert len(fake_vapi.requests_to("PATCH /assistant/*")) == 2  # the first sync only
    off = await kbcore_coordinator.sync(kbcore_org)
    assert off.assistants_updated == 2
    assert {system_prompt(fake_vapi, a) for a in fake_vapi.assistants} == {
        "You are a helpful sales agent."
    }


async def test_a_file_vapi_failed_to_process_is_uploaded_again_and_reported(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """A file Vapi marks failed is replaced by the next sync, which names its document."""
    docs = await seed(kbcore_kb, kbcore_org)
    fake_vapi.fail_processing(1)
    first = await kbcore_coordinator.sync(kbcore_org)
    [failed] = [f for f in fake_vapi.files.values() if f.outcome == "failed"]
    await pass_time(WINDOW)
    second = await kbcore_coordinator.sync(kbcore_org)
    assert second.files_uploaded == 1
    assert failed.id not in fake_vapi.files
    name = next(d.filename for d in docs if str(d.id) == (failed.metadata or {})["documentId"])
    assert f"Vapi could not process the files of {name}; they were uploaded again" in (
        second.warnings
    )
    assert set(fake_vapi.files) == tool_file_ids(fake_vapi, first.tool_id)


async def test_a_file_list_that_needs_a_purpose_finds_every_upload(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """When GET /file insists on purpose, kbcore's uploads are still found and reused."""
    fake_vapi.file_list_needs_purpose = True
    await seed(kbcore_kb, kbcore_org)
    await kbcore_coordinator.sync(kbcore_org)
    await pass_time(WINDOW)
    second = await kbcore_coordinator.sync(kbcore_org)
    assert (second.files_uploaded, second.files_reused) == (0, 3)
