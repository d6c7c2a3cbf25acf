"""One active document per org and filename: the same rule in create, rename, undelete and
import, on every store; and export then import as a round trip that keeps deleted ones deleted.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from uuid import UUID

import anyio
import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbcore import (
    Document,
    DocumentDraft,
    DuplicateFilename,
    ImportReport,
    KbError,
    KnowledgeBase,
    ValidationError,
)
from kbcore._ports import Store
from kbcore.postgres import PostgresStore
from tests.import_support import everything

pytestmark = pytest.mark.anyio


def view(document: Document) -> tuple[Any, ...]:
    """A document as an export then import must reproduce it: everything but ids and times."""
    metadata = json.dumps(dict(document.metadata), sort_keys=True)
    return (document.filename, document.content, document.category, metadata, document.active)


async def documents_of(kb: KnowledgeBase, org: UUID) -> list[tuple[Any, ...]]:
    return sorted(view(d) for d in await everything(kb, org, include_inactive=True))


async def test_a_second_active_document_of_a_name_is_refused(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """create: a typed error naming the clash, and nothing written."""
    await kbcore_kb.create(org, filename="script.md", content="one")
    before = await documents_of(kbcore_kb, org)
    with pytest.raises(DuplicateFilename) as refused:
        await kbcore_kb.create(org, filename="script.md", content="two")
    assert isinstance(refused.value, ValidationError)
    assert (refused.value.field, refused.value.filename) == ("filename", "script.md")
    assert str(refused.value) == "filename: An active document named script.md already exists"
    assert await documents_of(kbcore_kb, org) == before
    # Other orgs, and other names, are not affected.
    await kbcore_kb.create(uuid.uuid4(), filename="script.md", content="theirs")
    await kbcore_kb.create(org, filename="Script.md", content="another name")


async def test_a_deleted_document_keeps_its_name_without_blocking_it(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """Deleted documents keep their names (history is kept); a new active one may take it."""
    old = await kbcore_kb.create(org, filename="script.md", content="one")
    await kbcore_kb.delete(org, old.id)
    new = await kbcore_kb.create(org, filename="script.md", content="two")
    assert new.active
    # Undeleting the old one now clashes, and leaves both as they were.
    with pytest.raises(DuplicateFilename):
        await kbcore_kb.update(org, old.id, active=True)
    assert not (await kbcore_kb.get(org, old.id)).active
    # Deleted twice over is allowed too.
    await kbcore_kb.delete(org, new.id)
    third = await kbcore_kb.create(org, filename="script.md", content="three")
    await kbcore_kb.delete(org, third.id)
    assert [d.active for d in await everything(kbcore_kb, org, include_inactive=True)] == [
        False,
        False,
        False,
    ]
    # With none active, any one comes back.
    assert (await kbcore_kb.update(org, old.id, active=True)).active


async def test_a_rename_onto_an_active_name_is_refused(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """update(filename=...): refused with the other changes of the same call; nothing written."""
    await kbcore_kb.create(org, filename="a.md", content="a")
    b = await kbcore_kb.create(org, filename="b.md", content="b")
    with pytest.raises(DuplicateFilename, match=r"a\.md"):
        await kbcore_kb.update(org, b.id, filename="a.md", content="b2")
    assert await kbcore_kb.get(org, b.id) == b
    assert len(await kbcore_kb.history(org, b.id)) == 1
    # A deleted document may take a live name: it stays deleted.
    await kbcore_kb.delete(org, b.id)
    renamed = await kbcore_kb.update(org, b.id, filename="a.md")
    assert (renamed.filename, renamed.active) == ("a.md", False)


async def test_restoring_an_earlier_version_keeps_the_rule(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """restore changes content only: a deleted document stays deleted, with no clash."""
    old = await kbcore_kb.create(org, filename="a.md", content="v1")
    await kbcore_kb.update(org, old.id, content="v2")
    await kbcore_kb.delete(org, old.id)
    await kbcore_kb.create(org, filename="a.md", content="live")
    restored = await kbcore_kb.restore(org, old.id, version=1)
    assert (restored.content, restored.active) == ("v1", False)


async def test_an_import_keeps_the_rule_in_every_mode(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """error reports the clash, skip skips it, update updates the one active document and
    leaves its deleted namesake as it is."""
    gone = await kbcore_kb.create(org, filename="a.md", content="gone")
    await kbcore_kb.delete(org, gone.id)
    live = await kbcore_kb.create(org, filename="a.md", content="live")
    items = [{"filename": "a.md", "content": "new"}]
    report = await kbcore_kb.import_documents(org, items)
    assert [p.message for p in report.errors] == ["An active document named a.md already exists"]
    assert await kbcore_kb.import_documents(org, items, on_conflict="skip") == ImportReport(
        skipped=1
    )
    assert await kbcore_kb.import_documents(org, items, on_conflict="update") == ImportReport(
        updated=1
    )
    assert [(d.id, d.content) for d in await everything(kbcore_kb, org)] == [(live.id, "new")]
    assert (await kbcore_kb.get(org, gone.id)).content == "gone"


async def test_an_inactive_item_is_imported_deleted_and_clashes_with_nothing(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """A deleted document of an export arrives deleted, with its created and deleted rows,
    beside the live document of its name, whatever ``on_conflict`` says."""
    live = await kbcore_kb.create(org, filename="a.md", content="live")
    deleted = {"filename": "a.md", "content": "old", "active": False}
    report = await kbcore_kb.import_documents(org, [deleted], actor="restorer")
    assert report == ImportReport(created=1)
    [imported] = [
        d for d in await everything(kbcore_kb, org, include_inactive=True) if not d.active
    ]
    assert (imported.filename, imported.content, imported.version) == ("a.md", "old", 1)
    history = await kbcore_kb.history(org, imported.id)
    assert [(c.change_type, c.summary, c.changed_by) for c in history] == [
        ("created", "Created: a.md", "restorer"),
        ("deleted", "Deleted: a.md", "restorer"),
    ]
    assert (await kbcore_kb.get(org, live.id)).content == "live"
    # The same deleted document again is already there: skipped in every mode.
    for mode in ("error", "skip", "update"):
        again = await kbcore_kb.import_documents(org, [deleted], on_conflict=mode)
        assert again == ImportReport(skipped=1), mode
    # A deleted document that differs is another one.
    other = {**deleted, "content": "older"}
    assert await kbcore_kb.import_documents(org, [other]) == ImportReport(created=1)
    assert len(await everything(kbcore_kb, org, include_inactive=True)) == 3


async def test_active_must_be_a_boolean(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    report = await kbcore_kb.import_documents(
        org, [{"filename": "a.md", "content": "x", "active": "no"}]
    )
    assert [(p.index, p.field) for p in report.errors] == [(0, "active")]
    assert await everything(kbcore_kb, org, include_inactive=True) == []


async def test_partial_import_of_an_export_with_deleted_documents(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """The issue's case: export with deleted ones, then import --partial into the same org.

    The deleted document stays deleted and the live one is reported as existing, not
    replaced by the deleted one.
    """
    gone = await kbcore_kb.create(org, filename="script.md", content="old")
    await kbcore_kb.delete(org, gone.id)
    live = await kbcore_kb.create(org, filename="script.md", content="new")
    exported = await everything(kbcore_kb, org, include_inactive=True)
    report = await kbcore_kb.import_documents(org, exported, all_or_nothing=False)
    assert (report.created, report.updated, report.skipped) == (0, 0, 1)
    assert [p.message for p in report.errors] == [
        "An active document named script.md already exists"
    ]
    assert (await kbcore_kb.get(org, live.id)).content == "new"
    assert len(await everything(kbcore_kb, org, include_inactive=True)) == 2


ops = st.sampled_from(["create", "edit", "rename", "delete", "undelete", "restore"])
names = st.sampled_from(["a.md", "b.md", "c.md"])
texts = st.sampled_from(["one", "two", "three é"])
categories = st.sampled_from(["general", "operations"])
metadata = st.sampled_from([{}, {"k": 1}, {"tags": ["x"]}])
steps = st.lists(
    st.tuples(ops, st.integers(0, 20), names, texts, categories, metadata), max_size=25
)


async def build_history(kb: KnowledgeBase, org: UUID, history: list[tuple[Any, ...]]) -> None:
    """Apply random calls; the ones the rules refuse (a clash, say) change nothing."""
    ids: list[UUID] = []
    for op, pick, name, text, category, meta in history:
        target = ids[pick % len(ids)] if ids else None
        try:
            if op == "create" or target is None:
                created = await kb.create(
                    org, filename=name, content=text, category=category, metadata=meta
                )
                ids.append(created.id)
            elif op == "edit":
                await kb.update(org, target, content=f"{text} {pick}", category=category)
            elif op == "rename":
                await kb.update(org, target, filename=name)
            elif op == "delete":
                await kb.delete(org, target)
            elif op == "undelete":
                await kb.update(org, target, active=True)
            else:
                await kb.restore(org, target, version=1)
        except KbError:
            pass


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=steps)
async def test_export_then_import_reproduces_any_history(
    kbcore_kb: KnowledgeBase, history: list[tuple[Any, ...]]
) -> None:
    """Whatever happened to an org, its export (deleted ones included) imported into an
    empty org gives the same documents, deleted ones deleted; a second import adds nothing."""
    org, copy = uuid.uuid4(), uuid.uuid4()
    await build_history(kbcore_kb, org, history)
    original = await documents_of(kbcore_kb, org)
    assert sum(1 for d in original if d[4]) == len({d[0] for d in original if d[4]})

    report = await kbcore_kb.import_documents(copy, kbcore_kb.export(org, include_inactive=True))
    assert report == ImportReport(created=len(original))
    assert await documents_of(kbcore_kb, copy) == original

    again = await kbcore_kb.import_documents(
        copy, kbcore_kb.export(org, include_inactive=True), on_conflict="update"
    )
    assert again == ImportReport(skipped=len(original))
    assert await documents_of(kbcore_kb, copy) == original


async def test_concurrent_creates_of_one_name_leave_one(kbcore_store: Store, org: UUID) -> None:
    """Writers that interleave cannot break the rule: one wins, the others are refused."""
    kb = KnowledgeBase(kbcore_store)
    outcomes: list[str] = []

    async def create(content: str) -> None:
        try:
            await kb.create(org, filename="race.md", content=content)
            outcomes.append("created")
        except DuplicateFilename:
            outcomes.append("refused")

    async with anyio.create_task_group() as tasks:
        for number in range(8):
            tasks.start_soon(create, f"writer {number}")
    assert sorted(outcomes) == ["created"] + ["refused"] * 7
    assert len(await everything(kb, org)) == 1


async def test_concurrent_imports_of_one_new_name_leave_one(
    kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """Two imports that both see the name free: the index refuses the later one whole."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    reports: list[ImportReport] = []
    refused: list[str] = []

    async def run(content: str) -> None:
        try:
            reports.append(await kb.import_documents(org, [DocumentDraft("new.md", content)]))
        except DuplicateFilename as error:
            refused.append(error.filename)

    async with anyio.create_task_group() as tasks:
        for number in range(4):
            tasks.start_soon(run, f"import {number}")
    # Each either found the name taken (an error in its report) or lost the race to the index.
    created = [report for report in reports if report.created]
    assert created == [ImportReport(created=1)]
    assert len(refused) + len(reports) == 4
    assert set(refused) <= {"new.md"}
    assert len(await everything(kb, org)) == 1
