"""The maximum wait: edits that never pause for the debounce still come due."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from kbcore import KnowledgeBase, SyncCoordinator
from kbcore._ports import Store

from .conftest import Elapse, status

pytestmark = pytest.mark.anyio

# The defaults of kbcore.AutoSync.
DEBOUNCE = timedelta(seconds=10)
MAX_WAIT = timedelta(seconds=60)
# Each edit comes before the debounce of the one before it has passed.
PACE = timedelta(seconds=8)
LEASE = timedelta(minutes=5)


async def claimed(store: Store) -> int:
    return len(await store.claim_requests("worker-1", limit=10, lease=LEASE))


async def edit_steadily(kb: KnowledgeBase, org: UUID, elapse: Elapse, times: int) -> None:
    """``times`` updates of one document, one every ``PACE``."""
    doc = await kb.create(org, filename="a.md", content="0", category="general")
    for edit in range(1, times + 1):
        await elapse(PACE)
        doc = await kb.update(org, doc.id, content=str(edit))


async def test_a_stream_of_edits_comes_due_at_the_first_edit_plus_max_wait(
    kbcore_kb: KnowledgeBase, kbcore_store: Store, org: UUID, elapse: Elapse
) -> None:
    """Edits every 8 s from 0 s to 56 s: due at 60 s, not at the last edit's 66 s."""
    await edit_steadily(kbcore_kb, org, elapse, times=7)
    await elapse(timedelta(seconds=3))
    assert await claimed(kbcore_store) == 0  # 59 s: not yet
    await elapse(timedelta(seconds=2))
    assert await claimed(kbcore_store) == 1  # 61 s: the debounce alone would say 66 s


async def test_the_window_still_wins_when_it_ends_later(
    kbcore_kb: KnowledgeBase, kbcore_coordinator: SyncCoordinator, kbcore_org: UUID, elapse: Elapse
) -> None:
    """Past the maximum wait, the request still waits for the window after a success."""
    await kbcore_kb.create(kbcore_org, filename="b.md", content="one", category="general")
    await kbcore_coordinator.sync(kbcore_org)
    await edit_steadily(kbcore_kb, kbcore_org, elapse, times=9)
    now = await status(kbcore_coordinator, kbcore_org)
    assert now.last_success_at is not None
    assert now.due_at is not None
    assert now.due_at >= now.last_success_at + timedelta(minutes=5)


async def test_the_max_wait_counts_from_the_oldest_edit_a_success_left_waiting(
    kbcore_kb: KnowledgeBase, kbcore_store: Store, org: UUID, elapse: Elapse
) -> None:
    """Edits during a sync outlive its success; the first of them starts the maximum wait."""
    doc = await kbcore_kb.create(org, filename="a.md", content="0", category="general")
    await elapse(DEBOUNCE)
    [request] = await kbcore_store.claim_requests("worker-1", limit=1, lease=LEASE)
    for content in ("1", "2"):  # at 15 s and 20 s, while the sync runs
        await elapse(timedelta(seconds=5))
        doc = await kbcore_kb.update(org, doc.id, content=content)
    assert not await kbcore_store.complete_request(request, min_interval=timedelta(0))
    for edit in range(3, 9):  # at 28 s to 68 s: due at 15 s + 60 s
        await elapse(PACE)
        doc = await kbcore_kb.update(org, doc.id, content=str(edit))
    await elapse(timedelta(seconds=6))
    assert await claimed(kbcore_store) == 0  # 74 s
    await elapse(timedelta(seconds=2))
    assert await claimed(kbcore_store) == 1  # 76 s: counted from 20 s, it would be 78 s
