"""KnowledgeBase behaviour, run against every store (memory and PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kbcore
from kbcore import KnowledgeBase, NotFound, ValidationError, VersionConflict

pytestmark = pytest.mark.anyio

EMOJI = "\N{GRINNING FACE}"


async def snapshot(kb: KnowledgeBase, org_id: UUID) -> list[tuple[Any, ...]]:
    """Everything an org holds, as comparable data: documents and their whole history."""
    documents: list[kbcore.Document] = []
    cursor = None
    while True:
        page = await kb.list(org_id, include_inactive=True, limit=500, cursor=cursor)
        documents.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return [(doc, tuple(await kb.history(org_id, doc.id))) for doc in documents]


async def test_create_stores_version_one_with_a_created_change(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """A new document is active at version 1 and its changelog says Created."""
    doc = await kbcore_kb.create(org, filename=" pricing.md ", content="Plans: $99", actor="user-1")
    assert (doc.org_id, doc.filename, doc.content) == (org, "pricing.md", "Plans: $99")
    assert (doc.category, doc.version, doc.active) == ("general", 1, True)
    assert doc.created_at.tzinfo is not None
    [change] = await kbcore_kb.history(org, doc.id)
    assert change.change_type == "created"
    assert change.summary == "Created: pricing.md"
    assert (change.version_from, change.version_to) == (None, 1)
    assert (change.changed_by, change.new_content) == ("user-1", "Plans: $99")
    assert change.document_id == doc.id


async def test_get_returns_what_create_stored(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """get by str or UUID id returns the stored document, metadata included."""
    doc = await kbcore_kb.create(
        org, filename="a.md", content="x", category="operations", metadata={"k": [1, "é"]}
    )
    assert await kbcore_kb.get(str(org), str(doc.id)) == doc
    assert dict(doc.metadata) == {"k": [1, "é"]}


async def test_another_orgs_document_is_not_found(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """An id that belongs to another org is NotFound for every call."""
    doc = await kbcore_kb.create(org, filename="a.md", content="x")
    other = uuid.uuid4()
    for call in (
        kbcore_kb.get(other, doc.id),
        kbcore_kb.update(other, doc.id, content="y"),
        kbcore_kb.delete(other, doc.id),
        kbcore_kb.history(other, doc.id),
        kbcore_kb.restore(other, doc.id, version=1),
    ):
        with pytest.raises(NotFound):
            await call
    assert await kbcore_kb.get(org, doc.id) == doc


async def test_unknown_and_malformed_ids(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """An unknown id is NotFound; a malformed one is a ValidationError naming the field."""
    with pytest.raises(NotFound):
        await kbcore_kb.get(org, uuid.uuid4())
    with pytest.raises(ValidationError) as caught:
        await kbcore_kb.get(org, "12345")
    assert caught.value.field == "document_id"
    with pytest.raises(ValidationError) as caught:
        await kbcore_kb.get("nope", uuid.uuid4())
    assert caught.value.field == "org_id"


async def test_content_change_bumps_version_and_records_both_contents(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """Updating content makes version 2 with an Updated change holding old and new text."""
    doc = await kbcore_kb.create(org, filename="a.md", content="old")
    updated = await kbcore_kb.update(org, doc.id, content="new", actor="u2")
    assert (updated.version, updated.content) == (2, "new")
    assert updated.updated_at >= doc.updated_at
    change = (await kbcore_kb.history(org, doc.id))[-1]
    assert (change.change_type, change.summary) == ("updated", "Updated: a.md")
    assert (change.version_from, change.version_to) == (1, 2)
    assert (change.previous_content, change.new_content, change.changed_by) == ("old", "new", "u2")


async def test_identical_content_is_not_a_change(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """An update that changes nothing writes nothing and keeps the version."""
    doc = await kbcore_kb.create(org, filename="a.md", content="same", category="operations")
    again = await kbcore_kb.update(
        org, doc.id, content="same", filename="a.md", category="operations"
    )
    assert again == doc
    assert len(await kbcore_kb.history(org, doc.id)) == 1


@pytest.mark.parametrize(
    ("edit", "change_type", "summary"),
    [
        ({"filename": "b.md"}, "renamed", "Renamed: a.md to b.md"),
        (
            {"category": "ai_guidelines"},
            "recategorized",
            "Recategorized: a.md from general to ai_guidelines",
        ),
        ({"active": False}, "deleted", "Deleted: a.md"),
    ],
)
async def test_non_content_changes_keep_the_version(
    kbcore_kb: KnowledgeBase, org: UUID, edit: dict[str, Any], change_type: str, summary: str
) -> None:
    """Renaming, recategorising and deactivating each log one change and keep the version."""
    doc = await kbcore_kb.create(org, filename="a.md", content="x")
    updated = await kbcore_kb.update(org, doc.id, **edit)
    assert updated.version == 1
    change = (await kbcore_kb.history(org, doc.id))[-1]
    assert (change.change_type, change.summary) == (change_type, summary)
    assert (change.version_from, change.version_to) == (None, None)


async def test_every_effective_change_of_one_update_is_logged(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """One update of filename, content and category writes three changelog rows."""
    doc = await kbcore_kb.create(org, filename="a.md", content="x")
    updated = await kbcore_kb.update(
        org, doc.id, filename="b.md", content="y", category="operations", actor="u"
    )
    assert (updated.filename, updated.content, updated.category, updated.version) == (
        "b.md",
        "y",
        "operations",
        2,
    )
    kinds = [change.change_type for change in await kbcore_kb.history(org, doc.id)]
    assert kinds == ["created", "renamed", "updated", "recategorized"]


async def test_stale_expected_version_is_a_conflict(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """An update naming a version the document has moved past fails and writes nothing."""
    doc = await kbcore_kb.create(org, filename="a.md", content="v1")
    await kbcore_kb.update(org, doc.id, content="v2", expected_version=1)
    before = await snapshot(kbcore_kb, org)
    with pytest.raises(VersionConflict) as caught:
        await kbcore_kb.update(org, doc.id, content="v3", expected_version=1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert await snapshot(kbcore_kb, org) == before


async def test_delete_is_soft_and_idempotent(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """Deleting hides the document from the default listing; deleting again changes nothing."""
    doc = await kbcore_kb.create(org, filename="a.md", content="x")
    deleted = await kbcore_kb.delete(org, doc.id, actor="u")
    assert deleted.active is False
    assert await kbcore_kb.delete(org, doc.id, actor="u") == deleted
    assert [c.change_type for c in await kbcore_kb.history(org, doc.id)] == ["created", "deleted"]
    assert (await kbcore_kb.list(org)).items == []
    assert (await kbcore_kb.list(org, include_inactive=True)).items == [deleted]
    assert await kbcore_kb.get(org, doc.id) == deleted


async def test_reactivating_a_deleted_document(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """Setting active again brings the document back with a Reactivated change."""
    doc = await kbcore_kb.create(org, filename="a.md", content="x")
    await kbcore_kb.delete(org, doc.id)
    back = await kbcore_kb.update(org, doc.id, active=True)
    assert back.active is True
    assert (await kbcore_kb.history(org, doc.id))[-1].summary == "Reactivated: a.md"


async def test_restore_makes_old_content_a_new_version(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """Restoring version 1 after two edits gives version 4 with version 1's content."""
    doc = await kbcore_kb.create(org, filename="a.md", content="one")
    await kbcore_kb.update(org, doc.id, content="two")
    await kbcore_kb.update(org, doc.id, content="three")
    restored = await kbcore_kb.restore(org, doc.id, version=1, actor="ops")
    assert (restored.version, restored.content) == (4, "one")
    change = (await kbcore_kb.history(org, doc.id))[-1]
    assert (change.change_type, change.summary) == ("restored", "Restored: a.md to version 1")
    assert (change.version_from, change.version_to) == (3, 4)
    assert (change.previous_content, change.new_content) == ("three", "one")


@pytest.mark.parametrize("version", [2, 3, 0, -1])
async def test_restore_needs_an_earlier_version(
    kbcore_kb: KnowledgeBase, org: UUID, version: int
) -> None:
    """Restoring the current, a future or a non-positive version is a ValidationError."""
    doc = await kbcore_kb.create(org, filename="a.md", content="one")
    await kbcore_kb.update(org, doc.id, content="two")
    with pytest.raises(ValidationError) as caught:
        await kbcore_kb.restore(org, doc.id, version=version)
    assert caught.value.field == "version"


async def test_history_is_oldest_first(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """History lists changes in the order they happened."""
    doc = await kbcore_kb.create(org, filename="a.md", content="1")
    for text in ("2", "3", "4"):
        await kbcore_kb.update(org, doc.id, content=text)
    history = await kbcore_kb.history(org, doc.id)
    assert [c.version_to for c in history] == [1, 2, 3, 4]


async def test_list_is_newest_first_and_filters(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """The listing is newest first, active only by default, filtered by category on request."""
    first = await kbcore_kb.create(org, filename="1.md", content="x", category="operations")
    second = await kbcore_kb.create(org, filename="2.md", content="x")
    third = await kbcore_kb.create(org, filename="3.md", content="x", category="operations")
    await kbcore_kb.delete(org, second.id)
    assert [d.id for d in (await kbcore_kb.list(org)).items] == [third.id, first.id]
    everything = await kbcore_kb.list(org, include_inactive=True)
    assert [d.id for d in everything.items] == [third.id, second.id, first.id]
    ops = await kbcore_kb.list(org, category="operations", include_inactive=True)
    assert [d.id for d in ops.items] == [third.id, first.id]


async def test_pages_cover_every_document_exactly_once(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """Walking the cursor returns each document once, in order, and ends with no cursor."""
    created = [await kbcore_kb.create(org, filename=f"{i}.md", content="x") for i in range(7)]
    seen: list[UUID] = []
    page = await kbcore_kb.list(org, limit=3)
    sizes = [len(page.items)]
    seen.extend(d.id for d in page.items)
    while page.next_cursor is not None:
        page = await kbcore_kb.list(org, limit=3, cursor=page.next_cursor)
        sizes.append(len(page.items))
        seen.extend(d.id for d in page.items)
    assert sizes == [3, 3, 1]
    assert seen == [d.id for d in reversed(created)]


@pytest.mark.parametrize("cursor", ["garbage", "", "e30", "W1siYSJdXQ", "x" * 500])
async def test_a_bad_cursor_is_a_validation_error(
    kbcore_kb: KnowledgeBase, org: UUID, cursor: str
) -> None:
    """A cursor that kbcore did not hand out is rejected, not misread."""
    with pytest.raises(ValidationError) as caught:
        await kbcore_kb.list(org, cursor=cursor)
    assert caught.value.field == "cursor"


BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"filename": "   "}, "filename"),
    ({"filename": "a" * 256}, "filename"),
    ({"filename": EMOJI * 256}, "filename"),
    ({"filename": "../x.md"}, "filename"),
    ({"filename": "a/b.md"}, "filename"),
    ({"filename": "a\\b.md"}, "filename"),
    ({"filename": "a\x00.md"}, "filename"),
    ({"content": " \n "}, "content"),
    ({"content": EMOJI * 75_000 + "x"}, "content"),
    ({"content": "a\x00b"}, "content"),
    ({"category": "pricing"}, "category"),
    ({"metadata": {"a": object()}}, "metadata"),
    ({"actor": "a" * 256}, "actor"),
    ({"org_id": "not-a-uuid"}, "org_id"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_CREATES)
async def test_rejected_create_writes_nothing(
    kbcore_kb: KnowledgeBase, org: UUID, bad: dict[str, Any], field: str
) -> None:
    """A create with one bad field raises a ValidationError naming it and stores nothing."""
    await kbcore_kb.create(org, filename="keep.md", content="keep")
    before = await snapshot(kbcore_kb, org)
    arguments: dict[str, Any] = {"org_id": org, "filename": "ok.md", "content": "ok", **bad}
    with pytest.raises(ValidationError) as caught:
        await kbcore_kb.create(**arguments)
    assert caught.value.field == field
    assert await snapshot(kbcore_kb, org) == before


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"filename": " "}, "filename"),
        ({"content": "\t"}, "content"),
        ({"content": "x" * 300_001}, "content"),
        ({"category": "nope"}, "category"),
        ({"active": "yes"}, "active"),
        ({"expected_version": 0}, "expected_version"),
        ({"expected_version": "1"}, "expected_version"),
        ({"document_id": "../../etc"}, "document_id"),
    ],
)
async def test_rejected_update_writes_nothing(
    kbcore_kb: KnowledgeBase, org: UUID, bad: dict[str, Any], field: str
) -> None:
    """An update with one bad field raises a ValidationError naming it and changes nothing."""
    doc = await kbcore_kb.create(org, filename="keep.md", content="keep")
    before = await snapshot(kbcore_kb, org)
    arguments: dict[str, Any] = {"org_id": org, "document_id": doc.id, "content": "new", **bad}
    with pytest.raises(ValidationError) as caught:
        await kbcore_kb.update(**arguments)
    assert caught.value.field == field
    assert await snapshot(kbcore_kb, org) == before


async def test_boundary_sizes_are_stored_intact(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """A 255-character filename and 300000 bytes of multi-byte content round-trip."""
    doc = await kbcore_kb.create(org, filename=EMOJI * 255, content=EMOJI * 75_000)
    stored = await kbcore_kb.get(org, doc.id)
    assert stored.filename == EMOJI * 255
    assert len(stored.content.encode()) == 300_000


async def test_concurrent_updates_with_one_expected_version(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """Two updates that both read version 1: exactly one wins, the other conflicts."""
    doc = await kbcore_kb.create(org, filename="a.md", content="v1")
    outcomes: list[str] = []

    async def edit(text: str) -> None:
        try:
            await kbcore_kb.update(org, doc.id, content=text, expected_version=1)
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("conflict")

    async with anyio.create_task_group() as tg:
        tg.start_soon(edit, "left")
        tg.start_soon(edit, "right")
    assert sorted(outcomes) == ["conflict", "won"]
    final = await kbcore_kb.get(org, doc.id)
    assert final.version == 2
    assert [c.change_type for c in await kbcore_kb.history(org, doc.id)] == ["created", "updated"]


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["create", "update", "delete", "restore", "get", "history"]),
        st.integers(min_value=0, max_value=5),
        st.text(alphabet="abc \n", min_size=0, max_size=5),
    ),
    max_size=12,
)


# Fresh orgs per example make the shared store harmless.
@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
async def test_calls_for_one_org_never_touch_another(
    kbcore_kb: KnowledgeBase, operations: list[tuple[str, int, str]]
) -> None:
    """Random calls made for org A, even with B's ids, leave org B exactly as it was."""
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    b_doc = await kbcore_kb.create(org_b, filename="b.md", content="secret plan")
    await kbcore_kb.update(org_b, b_doc.id, content="secret plan 2")
    before = await snapshot(kbcore_kb, org_b)
    a_ids: list[UUID] = []
    for name, pick, text in operations:
        target = a_ids[pick % len(a_ids)] if a_ids and pick % 3 else b_doc.id
        try:
            if name == "create":
                a_ids.append(
                    (await kbcore_kb.create(org_a, filename=f"{pick}.md", content=text)).id
                )
            elif name == "update":
                await kbcore_kb.update(org_a, target, content=text or "x")
            elif name == "delete":
                await kbcore_kb.delete(org_a, target)
            elif name == "restore":
                await kbcore_kb.restore(org_a, target, version=1)
            elif name == "get":
                assert (await kbcore_kb.get(org_a, target)).org_id == org_a
            else:
                assert all(c.org_id == org_a for c in await kbcore_kb.history(org_a, target))
        except (NotFound, ValidationError):
            pass
    assert await snapshot(kbcore_kb, org_b) == before
    assert all(doc.org_id == org_a for doc, _ in await snapshot(kbcore_kb, org_a))
