"""Sync requests: every effective document write marks its org, in its own transaction."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import asyncpg
import pytest

from kbcore import (
    AutoSync,
    DocumentDraft,
    DuplicateFilename,
    KnowledgeBase,
    SyncCoordinator,
    ValidationError,
)
from kbcore._ports import Store
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore

from .conftest import status

pytestmark = pytest.mark.anyio


async def test_every_kind_of_write_counts_as_an_edit_of_one_request(
    kbcore_kb: KnowledgeBase, kbcore_coordinator: SyncCoordinator, org: UUID
) -> None:
    """Create, update, delete, undelete, restore and import each add one edit to the org's
    one request."""
    doc = await kbcore_kb.create(org, filename="a.md", content="one", category="general")
    await kbcore_kb.update(org, doc.id, content="two")
    await kbcore_kb.delete(org, doc.id)
    await kbcore_kb.update(org, doc.id, active=True)
    await kbcore_kb.restore(org, doc.id, version=1)
    await kbcore_kb.import_documents(org, [DocumentDraft("b.md", "three")])
    now = await status(kbcore_coordinator, org)
    assert now.pending
    assert now.edits_waiting == 6
    assert now.parked_reason is None


async def test_the_request_is_due_after_the_debounce_of_the_last_edit(
    kbcore_kb: KnowledgeBase, kbcore_coordinator: SyncCoordinator, org: UUID
) -> None:
    """Each edit moves the due time to its own instant plus the debounce (10 s by default)."""
    first = await kbcore_kb.create(org, filename="a.md", content="one", category="general")
    second = await kbcore_kb.update(org, first.id, content="two")
    now = await status(kbcore_coordinator, org)
    assert now.due_at is not None
    assert now.due_at >= second.updated_at + timedelta(seconds=10)
    assert now.due_at < second.updated_at + timedelta(seconds=11)


async def test_a_refused_write_marks_nothing(
    kbcore_kb: KnowledgeBase, kbcore_coordinator: SyncCoordinator, org: UUID
) -> None:
    """A write that fails (a second active document of a name) leaves no edit behind."""
    await kbcore_kb.create(org, filename="a.md", content="one", category="general")
    with pytest.raises(DuplicateFilename):
        await kbcore_kb.create(org, filename="a.md", content="two", category="general")
    refused = await kbcore_kb.import_documents(
        org, [DocumentDraft("b.md", "three"), DocumentDraft("a.md", "four")]
    )
    assert refused.created == 0
    assert len(refused.errors) == 1
    assert (await status(kbcore_coordinator, org)).edits_waiting == 1


async def test_an_org_without_edits_has_nothing_pending(
    kbcore_coordinator: SyncCoordinator, org: UUID
) -> None:
    now = await status(kbcore_coordinator, org)
    assert not now.pending
    assert now.due_at is None
    assert now.edits_waiting == 0


async def test_a_store_without_auto_sync_marks_nothing(
    kbcore_store: Store, org: UUID, request: pytest.FixtureRequest
) -> None:
    """``auto_sync=None`` turns the marks off for that store."""
    store: Store
    if isinstance(kbcore_store, MemoryStore):
        store = MemoryStore(auto_sync=None)
    else:
        pool: asyncpg.Pool = request.getfixturevalue("kbcore_pool")
        store = PostgresStore(pool, auto_sync=None)
    kb = KnowledgeBase(store)
    doc = await kb.create(org, filename="a.md", content="one", category="general")
    await kb.update(org, doc.id, content="two")
    assert not (await SyncCoordinator(store).sync_status(org)).pending


async def test_the_window_after_a_success_delays_the_next_request(
    kbcore_kb: KnowledgeBase, kbcore_coordinator: SyncCoordinator, kbcore_org: UUID
) -> None:
    """An edit soon after a sync is due when the rate-limit window ends, not before."""
    await kbcore_kb.create(kbcore_org, filename="a.md", content="one", category="general")
    synced = await kbcore_coordinator.sync(kbcore_org)
    await kbcore_kb.create(kbcore_org, filename="b.md", content="two", category="general")
    now = await status(kbcore_coordinator, kbcore_org)
    assert now.last_success_at is not None
    assert now.due_at is not None
    assert now.due_at >= now.last_success_at + timedelta(minutes=5)
    assert synced.docs_synced == 1


async def test_resume_makes_a_request_due_now(
    kbcore_kb: KnowledgeBase, kbcore_coordinator: SyncCoordinator, org: UUID
) -> None:
    """``resume`` pulls the due time to now, and makes a request when there is none."""
    await kbcore_coordinator.resume(org)
    assert (await status(kbcore_coordinator, org)).pending
    doc = await kbcore_kb.create(org, filename="a.md", content="one", category="general")
    assert (await status(kbcore_coordinator, org)).edits_waiting == 1
    await kbcore_coordinator.resume(org)
    now = await status(kbcore_coordinator, org)
    assert now.due_at is not None
    # Not the debounce's 10 s after the edit: now.
    assert now.due_at < doc.created_at + timedelta(seconds=5)
    assert now.edits_waiting == 1


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"debounce": timedelta(seconds=-1)}, "debounce"),
        ({"debounce": 10}, "debounce"),
        ({"min_interval": "5m"}, "min_interval"),
        ({"tool_name": "no spaces"}, "tool_name"),
        ({"max_wait": timedelta(seconds=5)}, "max_wait"),
        ({"debounce": timedelta(minutes=2)}, "max_wait"),
        ({"max_wait": 60}, "max_wait"),
    ],
)
def test_bad_auto_sync_settings_are_validation_errors(
    settings: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        AutoSync(**settings)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_a_store_refuses_what_is_not_an_auto_sync() -> None:
    with pytest.raises(ValidationError) as raised:
        MemoryStore(auto_sync=timedelta(seconds=10))  # type: ignore[arg-type]
    assert raised.value.field == "auto_sync"
