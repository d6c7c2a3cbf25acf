"""on_progress: sync, import and export tell a host how far they have come, on every store."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

import httpx
import pytest

from kbcore import (
    DocumentDraft,
    KnowledgeBase,
    Progress,
    SyncCoordinator,
    SyncPolicy,
    ValidationError,
)
from kbcore._ports import Store
from tests.import_support import drafts

pytestmark = pytest.mark.anyio


def check_phases(events: Sequence[Progress], phases: Sequence[str]) -> dict[str, int]:
    """Each phase in order: starts at 0, never goes back, ends at its total; the totals."""
    assert [phase for phase, _ in itertools.groupby(e.phase for e in events)] == list(phases)
    totals = {}
    for phase, group in itertools.groupby(events, key=lambda e: e.phase):
        steps = list(group)
        assert steps[0].done == 0, phase
        assert all(e.total == steps[0].total for e in steps), phase
        assert all(a.done <= b.done for a, b in itertools.pairwise(steps)), phase
        assert steps[-1].done == steps[-1].total, phase
        totals[phase] = steps[-1].total
    return totals


async def test_export_counts_each_document_of_its_snapshot(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    await kbcore_kb.import_documents(org, drafts(30))
    gone = await kbcore_kb.create(org, filename="gone.md", content="x")
    await kbcore_kb.delete(org, gone.id)
    for include_inactive, count in ((False, 30), (True, 31)):
        events: list[Progress] = []
        exported = [
            document
            async for document in kbcore_kb.export(
                org, include_inactive=include_inactive, on_progress=events.append
            )
        ]
        assert len(exported) == count
        assert check_phases(events, ["export"]) == {"export": count}
        assert [e.done for e in events] == list(range(count + 1))
    empty: list[Progress] = []
    assert [d async for d in kbcore_kb.export(uuid.uuid4(), on_progress=empty.append)] == []
    assert empty == [Progress("export", 0, 0)]


@pytest.mark.parametrize("all_or_nothing", [True, False], ids=["all-or-nothing", "partial"])
async def test_import_counts_the_items_as_they_are_dealt_with(
    kbcore_kb: KnowledgeBase, org: UUID, all_or_nothing: bool
) -> None:
    await kbcore_kb.create(org, filename="doc-3.md", content="old")
    valid: list[DocumentDraft] = drafts(30)
    items = valid if all_or_nothing else [*valid, DocumentDraft("bad.md", " ")]
    events: list[Progress] = []
    report = await kbcore_kb.import_documents(
        org,
        items,
        on_conflict="update",
        all_or_nothing=all_or_nothing,
        batch_size=7,
        on_progress=events.append,
    )
    assert (report.created, report.updated, len(report.errors)) == (
        29,
        1,
        0 if all_or_nothing else 1,
    )
    # Every item read counts, the rejected one too: of the input's length.
    assert check_phases(events, ["import"]) == {"import": len(items)}
    # Progress moves with the writes, a batch of 7 at a time, not in one jump at the end.
    assert [e.done for e in events][:3] == [0, 7, 14]


async def test_sync_reports_upload_then_assistants_then_delete(
    kbcore_kb: KnowledgeBase,
    kbcore_store: Store,
    fake_vapi_http: httpx.AsyncClient,
    kbcore_org: UUID,
) -> None:
    """A first sync uploads everything and deletes nothing; the next, after an edit,
    uploads and deletes one file, and checks both assistants again."""
    coordinator = SyncCoordinator(
        kbcore_store,
        http_client=fake_vapi_http,
        policy=SyncPolicy(min_interval=timedelta(microseconds=1)),
    )

    async def totals() -> list[int]:
        events: list[Progress] = []
        await coordinator.sync(kbcore_org, on_progress=events.append)
        return list(check_phases(events, ["upload", "assistants", "delete"]).values())

    pricing = await kbcore_kb.create(kbcore_org, filename="pricing.md", content="Pro: $99")
    await kbcore_kb.create(kbcore_org, filename="faq.md", content="Q? A.")
    assert await totals() == [2, 2, 0]
    await kbcore_kb.update(kbcore_org, pricing.id, content="Pro: $109")
    assert await totals() == [1, 2, 1]


async def test_on_progress_must_be_callable(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    with pytest.raises(ValidationError, match="on_progress"):
        kbcore_kb.export(org, on_progress="print")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="on_progress"):
        await kbcore_kb.import_documents(org, drafts(1), on_progress=3)  # type: ignore[arg-type]
