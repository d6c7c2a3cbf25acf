"""Importing many documents at once, on every store (memory and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from kbcore import (
    DocumentDraft,
    ImportInterrupted,
    ImportProblem,
    ImportReport,
    KnowledgeBase,
    NotSaved,
    OutcomeUnknown,
    Progress,
    StoreUnavailable,
    ValidationError,
)
from kbcore._ports import Store
from kbcore.postgres import PostgresStore
from tests.import_support import Boom, FailingStore, by_name, drafts, everything

pytestmark = pytest.mark.anyio


async def test_import_creates_documents_with_their_created_changes(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """Each item becomes an active version-1 document with a Created changelog row."""
    report = await kbcore_kb.import_documents(
        org,
        [
            DocumentDraft(" faq.md ", "Q and A", category="operations", metadata={"k": "v"}),
            {"filename": "pricing.md", "content": "Plans: $99"},
        ],
        actor="importer",
    )
    assert report == ImportReport(created=2)
    assert report.ok
    docs = await by_name(kbcore_kb, org)
    assert sorted(docs) == ["faq.md", "pricing.md"]
    faq = docs["faq.md"]
    assert (faq.content, faq.category, dict(faq.metadata)) == ("Q and A", "operations", {"k": "v"})
    assert (faq.version, faq.active, docs["pricing.md"].category) == (1, True, "general")
    assert await kbcore_kb.get(org, faq.id) == faq
    [change] = await kbcore_kb.history(org, faq.id)
    assert (change.change_type, change.summary, change.changed_by) == (
        "created",
        "Created: faq.md",
        "importer",
    )
    assert (change.version_from, change.version_to, change.new_content) == (None, 1, "Q and A")


async def test_imported_documents_carry_the_content_hash_a_sync_reads(
    kbcore_store: Store, kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """The sync's view of imported documents has the SHA-256 of their content."""
    await kbcore_kb.import_documents(org, [DocumentDraft("a.md", "é content")])
    [seen] = await kbcore_store.sync_documents(org)
    assert seen.content_sha256 == hashlib.sha256("é content".encode()).hexdigest()


async def test_every_invalid_item_is_reported_and_nothing_is_written(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """All-or-nothing (the default): one report lists each bad item; no item is written."""
    items: list[Any] = [
        DocumentDraft("ok.md", "fine"),
        DocumentDraft("../etc", "x"),
        {"filename": "b.md", "content": "   "},
        {"filename": "c.md", "content": "x", "category": "nope"},
        {"filename": "d.md"},
        {"content": "x"},
        {"filename": "e.md", "content": "x", "colour": "red"},
        "not a document",
        {"filename": "f.md", "content": "x", "metadata": [1]},
    ]
    report = await kbcore_kb.import_documents(org, items)
    assert (report.created, report.updated, report.skipped) == (0, 0, 0)
    assert [(p.index, p.field) for p in report.errors] == [
        (1, "filename"),
        (2, "content"),
        (3, "category"),
        (4, "content"),
        (5, "filename"),
        (6, "colour"),
        (7, "document"),
        (8, "metadata"),
    ]
    assert report.errors[0].message == (
        "Filename cannot contain path separators or traversal sequences"
    )
    assert report.errors[1].message == "Content cannot be empty or whitespace-only"
    assert not report.ok
    assert await everything(kbcore_kb, org) == []


async def test_without_all_or_nothing_the_valid_items_are_written(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """all_or_nothing=False writes the valid items and reports the others."""
    report = await kbcore_kb.import_documents(
        org,
        [DocumentDraft("a.md", "x"), DocumentDraft("b.md", ""), DocumentDraft("c.md", "y")],
        all_or_nothing=False,
        batch_size=1,
    )
    assert report.created == 2
    assert report.errors == (
        ImportProblem(1, "content", "Content cannot be empty or whitespace-only"),
    )
    assert sorted(await by_name(kbcore_kb, org)) == ["a.md", "c.md"]


async def test_exported_fields_of_a_mapping_are_ignored(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """A mapping with an exported document's keys (id, version, ...) imports as a draft;
    its ``active`` is kept: an exported deleted document arrives deleted."""
    record = {
        "id": str(uuid.uuid4()),
        "org_id": str(uuid.uuid4()),
        "filename": "a.md",
        "content": "x",
        "category": "general",
        "metadata": {},
        "version": 7,
        "active": False,
        "created_at": "2020-01-01T00:00:00+00:00",
        "updated_at": "2020-01-01T00:00:00+00:00",
    }
    assert await kbcore_kb.import_documents(org, [record]) == ImportReport(created=1)
    [doc] = await everything(kbcore_kb, org, include_inactive=True)
    assert (doc.filename, doc.org_id, doc.version, doc.active) == ("a.md", org, 1, False)


async def test_an_existing_filename_is_an_error_by_default(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """on_conflict='error' reports the item; all-or-nothing then writes nothing at all."""
    await kbcore_kb.create(org, filename="a.md", content="old")
    report = await kbcore_kb.import_documents(
        org, [DocumentDraft("b.md", "x"), DocumentDraft("a.md", "new")]
    )
    assert report == ImportReport(
        errors=(ImportProblem(1, "filename", "An active document named a.md already exists"),)
    )
    assert sorted(await by_name(kbcore_kb, org)) == ["a.md"]


async def test_skip_leaves_existing_documents_alone(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """on_conflict='skip' counts the item as skipped and keeps the stored document."""
    old = await kbcore_kb.create(org, filename="a.md", content="old")
    report = await kbcore_kb.import_documents(
        org, [DocumentDraft("a.md", "new"), DocumentDraft("b.md", "x")], on_conflict="skip"
    )
    assert report == ImportReport(created=1, skipped=1)
    assert await kbcore_kb.get(org, old.id) == old


async def test_update_gives_an_existing_document_a_new_version(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """on_conflict='update' writes the new content as version 2, with an Updated change."""
    old = await kbcore_kb.create(org, filename="a.md", content="old", category="operations")
    report = await kbcore_kb.import_documents(
        org,
        [DocumentDraft("a.md", "new", metadata={"source": "import"})],
        on_conflict="update",
        actor="importer",
    )
    assert report == ImportReport(updated=1)
    doc = await kbcore_kb.get(org, old.id)
    assert (doc.content, doc.version, doc.category) == ("new", 2, "operations")
    assert dict(doc.metadata) == {"source": "import"}
    assert doc.updated_at > old.updated_at
    [_, change] = await kbcore_kb.history(org, old.id)
    assert (change.change_type, change.summary, change.changed_by) == (
        "updated",
        "Updated: a.md",
        "importer",
    )
    assert (change.version_from, change.version_to) == (1, 2)
    assert (change.previous_content, change.new_content) == ("old", "new")


async def test_update_records_a_category_change_and_skips_identical_items(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """A new category is a Recategorized change; an item equal to its document is skipped."""
    a = await kbcore_kb.create(org, filename="a.md", content="same")
    b = await kbcore_kb.create(org, filename="b.md", content="same")
    report = await kbcore_kb.import_documents(
        org,
        [DocumentDraft("a.md", "same", category="operations"), DocumentDraft("b.md", "same")],
        on_conflict="update",
    )
    assert report == ImportReport(updated=1, skipped=1)
    assert (await kbcore_kb.get(org, a.id)).category == "operations"
    assert [c.summary for c in await kbcore_kb.history(org, a.id)] == [
        "Created: a.md",
        "Recategorized: a.md from general to operations",
    ]
    assert await kbcore_kb.get(org, b.id) == b


async def test_inactive_documents_do_not_conflict(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """A soft-deleted document's filename is free: the import creates a new document."""
    old = await kbcore_kb.create(org, filename="a.md", content="old")
    await kbcore_kb.delete(org, old.id)
    assert await kbcore_kb.import_documents(org, [DocumentDraft("a.md", "new")]) == ImportReport(
        created=1
    )
    [doc] = await everything(kbcore_kb, org)
    assert doc.id != old.id


@pytest.mark.parametrize(
    ("on_conflict", "expected", "contents"),
    [
        (
            "error",
            ImportReport(
                errors=(
                    ImportProblem(1, "filename", "An active document named a.md already exists"),
                )
            ),
            [],
        ),
        ("skip", ImportReport(created=1, skipped=1), ["first"]),
        ("update", ImportReport(created=1, updated=1), ["second"]),
    ],
)
async def test_a_filename_twice_in_one_import_meets_its_first_occurrence(
    kbcore_kb: KnowledgeBase,
    org: UUID,
    on_conflict: Any,
    expected: ImportReport,
    contents: list[str],
) -> None:
    """Items apply in order: a second item with a filename conflicts with the first."""
    report = await kbcore_kb.import_documents(
        org,
        [DocumentDraft("a.md", "first"), DocumentDraft("a.md", "second")],
        on_conflict=on_conflict,
    )
    assert report == expected
    assert [doc.content for doc in await everything(kbcore_kb, org)] == contents


async def test_an_update_within_one_import_is_a_second_version(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """Created then updated in one import: version 2, and both changes in order."""
    await kbcore_kb.import_documents(
        org, [DocumentDraft("a.md", "first"), DocumentDraft("a.md", "second")], on_conflict="update"
    )
    [doc] = await everything(kbcore_kb, org)
    assert (doc.content, doc.version) == ("second", 2)
    history = await kbcore_kb.history(org, doc.id)
    assert [(c.change_type, c.version_to, c.new_content) for c in history] == [
        ("created", 1, "first"),
        ("updated", 2, "second"),
    ]


async def test_each_batch_is_its_own_transaction(kbcore_store: Store, org: UUID) -> None:
    """Without all-or-nothing, a failing batch rolls back alone; earlier batches stay."""
    kb = KnowledgeBase(FailingStore(kbcore_store, fail_on_insert=2))
    with pytest.raises(Boom):
        await kb.import_documents(org, drafts(5), all_or_nothing=False, batch_size=2)
    assert sorted(await by_name(KnowledgeBase(kbcore_store), org)) == ["doc-0.md", "doc-1.md"]


@pytest.mark.parametrize(
    ("error", "fate"),
    [
        (lambda: NotSaved("The database refused the statement"), "were not saved"),
        (lambda: OutcomeUnknown("The answer was lost"), "may or may not have been saved"),
    ],
)
async def test_a_batch_the_store_fails_interrupts_the_import_with_an_exact_report(
    kbcore_store: Store, org: UUID, error: Callable[[], StoreUnavailable], fate: str
) -> None:
    """Batch 1 committed; batch 2 failed (not saved, or unknown); batch 3 never started."""
    kb = KnowledgeBase(FailingStore(kbcore_store, fail_on_insert=2, error=error))
    items: list[DocumentDraft | dict[str, str]] = [
        *drafts(3),
        {"filename": "", "content": "x"},
        *drafts(3, "late"),
    ]
    with pytest.raises(
        ImportInterrupted, match=f"stopped at item 2: .* its batch {fate}"
    ) as caught:
        await kb.import_documents(org, items, all_or_nothing=False, batch_size=2)
    report = caught.value.report
    assert isinstance(caught.value.__cause__, type(error()))
    assert (report.created, report.updated, report.skipped) == (2, 0, 0)
    assert [problem.index for problem in report.errors] == [3]
    failed_batch = (2, 4)  # the third and fourth valid items; item 3 is invalid
    if isinstance(caught.value.__cause__, OutcomeUnknown):
        assert (report.outcome_unknown, report.not_saved) == (failed_batch, (5, 6))
    else:
        assert (report.outcome_unknown, report.not_saved) == ((), (*failed_batch, 5, 6))
    assert not report.ok
    assert sorted(await by_name(KnowledgeBase(kbcore_store), org)) == ["doc-0.md", "doc-1.md"]


async def test_an_interrupted_import_told_its_progress_up_to_the_failed_batch(
    kbcore_store: Store, org: UUID
) -> None:
    """Batches with a deleted item among them: progress after batch 1, then the report."""
    kb = KnowledgeBase(FailingStore(kbcore_store, fail_on_insert=2, error=lambda: NotSaved("no")))
    items: list[DocumentDraft | dict[str, Any]] = [
        *drafts(2),
        {"filename": "old.md", "content": "x", "active": False},
        *drafts(2, "late"),
    ]
    events: list[Progress] = []
    with pytest.raises(ImportInterrupted) as caught:
        await kb.import_documents(
            org, items, all_or_nothing=False, batch_size=2, on_progress=events.append
        )
    assert events == [Progress("import", 0, 5), Progress("import", 2, 5)]
    assert (caught.value.report.created, caught.value.report.not_saved) == (2, (2, 3, 4))
    stored = await everything(KnowledgeBase(kbcore_store), org, include_inactive=True)
    assert sorted(d.filename for d in stored) == ["doc-0.md", "doc-1.md"]


async def test_all_or_nothing_is_one_transaction(kbcore_store: Store, org: UUID) -> None:
    """With all-or-nothing, a failure in a later batch leaves no document at all."""
    kb = KnowledgeBase(FailingStore(kbcore_store, fail_on_insert=2))
    with pytest.raises(Boom):
        await kb.import_documents(org, drafts(5), batch_size=2)
    assert await everything(KnowledgeBase(kbcore_store), org) == []


async def test_a_large_import_arrives_whole(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """Many batches: every document, each once, with its changelog row."""
    report = await kbcore_kb.import_documents(org, drafts(230), batch_size=100)
    assert report == ImportReport(created=230)
    docs = await by_name(kbcore_kb, org)
    assert sorted(docs) == sorted(f"doc-{i}.md" for i in range(230))
    assert docs["doc-229.md"].content == "Content 229"
    assert len(await kbcore_kb.history(org, docs["doc-117.md"].id)) == 1


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"on_conflict": "merge"}, "on_conflict"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"all_or_nothing": "yes"}, "all_or_nothing"),
        ({"actor": 5}, "actor"),
    ],
)
async def test_bad_arguments_are_validation_errors(
    kbcore_kb: KnowledgeBase, org: UUID, arguments: dict[str, Any], field: str
) -> None:
    """Arguments are checked before anything is read or written."""
    with pytest.raises(ValidationError) as caught:
        await kbcore_kb.import_documents(org, drafts(1), **arguments)
    assert caught.value.field == field


@pytest.mark.database
async def test_import_survives_a_host_pool_with_a_json_codec(
    kbcore_database_dsn: str, org: UUID
) -> None:
    """Metadata is copied as text, so a host's jsonb codec cannot encode it twice."""

    async def json_codec(conn: asyncpg.Connection) -> None:
        await conn.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )

    metadata = {"tags": ["a", "é"], "n": 1}
    async with asyncpg.create_pool(
        kbcore_database_dsn, min_size=1, max_size=2, init=json_codec
    ) as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        await kb.import_documents(org, [DocumentDraft("a.md", "x", metadata=metadata)])
        [doc] = await everything(kb, org)
        assert dict(doc.metadata) == metadata
        assert await pool.fetchval("SELECT metadata FROM knowledge_base") == metadata
