"""A sync that lost its claim, and Vapi writes applied late: the damage each can do, and the repair.

Vapi has no conditional writes, so a write that lands late cannot be refused. What kbcore
guarantees: a sync confirms its lease before every write, so one that lost its claim
stops; every sync reconciles what Vapi holds; and a sync reads back its writes before it
deletes any file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import anyio
import pytest

from kbcore import (
    KnowledgeBase,
    SyncCoordinator,
    SyncFailed,
    SyncPolicy,
    SyncResult,
    ValidationError,
)
from kbcore._ports import Store
from kbcore.testing import FakeVapi
from kbcore.vapi import RetryPolicy

from .conftest import PassTime
from .test_sync import WINDOW, file_texts, seed, tool_file_ids

pytestmark = pytest.mark.anyio


def assert_exact(fake: FakeVapi, result: SyncResult, texts: set[str]) -> None:
    """One tool, listing one live file per document with its text, used by every assistant."""
    listed = tool_file_ids(fake, result.tool_id)
    assert list(fake.tools) == [result.tool_id]
    assert file_texts(fake, listed) == texts
    assert set(fake.files) == listed
    assert fake.missing_file_ids() == set()
    assert [a["model"]["toolIds"] for a in fake.assistants.values()] == [[result.tool_id]] * 2


async def failed_sync_with_a_late_tool_patch(
    kb: KnowledgeBase,
    coordinator: SyncCoordinator,
    fake: FakeVapi,
    org: UUID,
    pass_time: PassTime,
) -> None:
    """A sync, an edit, a failed sync whose tool PATCH Vapi holds to apply late, an edit."""
    docs = await seed(kb, org)
    await coordinator.sync(org)
    await kb.update(org, docs[0].id, content="second")
    await pass_time(WINDOW)
    fake.apply_late(1, "PATCH /tool/*")
    fake.fail_next(100, "PATCH /tool/*", status=500)
    with pytest.raises(SyncFailed):
        await coordinator.sync(org)
    fake.clear_faults()
    await kb.update(org, docs[0].id, content="third")


async def test_a_sync_paused_past_its_lease_stops_before_its_next_write(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
    kbcore_sync_policy: SyncPolicy,
) -> None:
    """The zombie's slow tool PATCH lands after the next sync; it then writes nothing more."""
    docs = await seed(kbcore_kb, kbcore_org)
    await kbcore_coordinator.sync(kbcore_org)
    await kbcore_kb.update(kbcore_org, docs[0].id, content="second")
    await pass_time(WINDOW)
    pause = fake_vapi.pause_next("PATCH /tool/*")
    ended: list[Any] = []

    async def zombie() -> None:
        try:
            ended.append(await kbcore_coordinator.sync(kbcore_org))
        except SyncFailed as error:
            ended.append(error)

    async with anyio.create_task_group() as tg:
        tg.start_soon(zombie)
        await pause.reached()  # its tool PATCH is on the way, and Vapi is slow
        await pass_time(
            kbcore_sync_policy.lease + timedelta(seconds=1)
        )  # the process stalls past its lease
        await kbcore_kb.update(kbcore_org, docs[0].id, content="third")
        takeover = await kbcore_coordinator.sync(kbcore_org)  # another sync takes over and finishes
        assert takeover.files_deleted == 2  # the first file of doc 0, and the zombie's upload
        resumed_at = len(fake_vapi.requests)
        pause.resume()  # the zombie's PATCH lands now, listing a file that is gone
    [stopped] = ended
    assert isinstance(stopped, SyncFailed)
    assert "lost its claim" in stopped.reason
    writes = [r for r in fake_vapi.requests[resumed_at:] if r.method != "GET"]
    assert [(r.method, r.path.split("/")[1]) for r in writes] == [("PATCH", "tool")]
    assert len(fake_vapi.missing_file_ids()) == 1  # what no lease can prevent: a write in flight
    await pass_time(WINDOW)
    repaired = await kbcore_coordinator.sync(kbcore_org)  # the next sync reconciles the tool
    assert_exact(fake_vapi, repaired, {"third", "text 1", "text 2"})


async def test_a_late_tool_patch_of_a_failed_sync_is_repaired_by_the_next(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """S1: a failed sync's PATCH, applied late, overwrites the next sync's tool; then repaired."""
    await failed_sync_with_a_late_tool_patch(
        kbcore_kb, kbcore_coordinator, fake_vapi, kbcore_org, pass_time
    )
    await kbcore_coordinator.sync(kbcore_org)  # a failed sync does not start the window
    fake_vapi.apply_late_writes()
    assert len(fake_vapi.missing_file_ids()) == 1
    await pass_time(WINDOW)
    repaired = await kbcore_coordinator.sync(kbcore_org)
    assert_exact(fake_vapi, repaired, {"third", "text 1", "text 2"})


async def test_a_late_assistant_patch_cannot_bring_back_a_deleted_tool_for_good(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """S2: a late full-model PATCH restores a retired tool's id; kbcore knows it, detaches it."""
    await seed(kbcore_kb, kbcore_org)
    fake_vapi.apply_late(1, "PATCH /assistant/*")
    first = await kbcore_coordinator.sync(kbcore_org)
    del fake_vapi.tools[first.tool_id]  # deleted in Vapi's dashboard
    await pass_time(WINDOW)
    second = await kbcore_coordinator.sync(
        kbcore_org
    )  # a new tool; the old id is detached and retired
    assert [a["model"]["toolIds"] for a in fake_vapi.assistants.values()] == [[second.tool_id]] * 2
    fake_vapi.apply_late_writes()  # the first sync's PATCH lands: the old id is back, alone
    assert [first.tool_id] in [a["model"]["toolIds"] for a in fake_vapi.assistants.values()]
    await pass_time(WINDOW)
    third = await kbcore_coordinator.sync(kbcore_org)
    assert third.assistants_updated == 1
    assert_exact(fake_vapi, third, {"text 0", "text 1", "text 2"})
    tools = await kbcore_store.ledger_tools(kbcore_org)
    remembered = {tool.tool_id: (tool.current, tool.deleted) for tool in tools}
    assert remembered == {first.tool_id: (False, True), second.tool_id: (True, False)}


async def test_a_write_landing_during_a_sync_is_read_back_before_files_are_deleted(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """A late PATCH that lands mid-sync is found on reading the tool back, and undone first."""
    await failed_sync_with_a_late_tool_patch(
        kbcore_kb, kbcore_coordinator, fake_vapi, kbcore_org, pass_time
    )
    pause = fake_vapi.pause_next("GET /assistant/*")  # after the tool PATCH, before deletes
    results: list[SyncResult] = []

    async def sync() -> None:
        results.append(await kbcore_coordinator.sync(kbcore_org))

    async with anyio.create_task_group() as tg:
        tg.start_soon(sync)
        await pause.reached()
        fake_vapi.apply_late_writes()  # the failed sync's PATCH lands right now
        pause.resume()
    [result] = results
    assert len([r for r in fake_vapi.requests_to("PATCH /tool/*") if r.status == 200]) == 2
    assert result.files_deleted == 2
    assert_exact(fake_vapi, result, {"third", "text 1", "text 2"})


async def test_a_stray_tool_is_swept_though_it_shares_no_file_with_the_tool(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """A create applied late, after every file it lists is gone, is still known and deleted."""
    docs = await seed(kbcore_kb, kbcore_org)
    fake_vapi.apply_late(1, "POST /tool")
    await kbcore_coordinator.sync(kbcore_org)
    for number, document in enumerate(docs):
        await kbcore_kb.update(kbcore_org, document.id, content=f"new {number}")
    await pass_time(WINDOW)
    await kbcore_coordinator.sync(kbcore_org)
    [copy] = fake_vapi.apply_late_writes()  # its files were all deleted by now
    copy_id = copy.response_json()["id"]
    assert fake_vapi.missing_file_ids() == tool_file_ids(fake_vapi, copy_id)
    await pass_time(WINDOW)
    result = await kbcore_coordinator.sync(kbcore_org)
    assert copy_id not in fake_vapi.tools
    assert_exact(fake_vapi, result, {"new 0", "new 1", "new 2"})


def test_a_lease_must_outlast_the_longest_vapi_call() -> None:
    """A write that starts under a renewed lease must end before it can lapse."""
    two_minutes = RetryPolicy(timeout=120)
    SyncPolicy(lease=timedelta(seconds=181), retry_policy=two_minutes)
    with pytest.raises(ValidationError, match=r"must exceed retry_policy\.timeout") as caught:
        SyncPolicy(lease=timedelta(minutes=2), retry_policy=two_minutes)
    assert caught.value.field == "lease"


@pytest.mark.parametrize(
    "bad",
    [
        {"min_interval": timedelta(0)},
        {"lease": 300},
        {"max_concurrency": 0},
        {"request_timeout": -1.0},
        {"retry_policy": {"attempts": 3}},
        {"instruction": "two\nlines"},
    ],
)
def test_a_sync_policy_names_the_field_it_rejects(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        SyncPolicy(**bad)  # type: ignore[arg-type]
    assert caught.value.field == next(iter(bad))
