"""Every document write keeps the document's passages, on every store, in its transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from kbcore import DocumentDraft, KnowledgeBase
from kbcore._ports import Store
from kbcore.retrieval import spoken_query
from tests.import_support import Boom, FailingStore, everything

pytestmark = pytest.mark.anyio

FAX = "# Fax\n\nWe do not offer fax lines."
PARKING = "# Parking\n\nVisitors park in the garage."


async def found(store: Store, org: UUID, turn: str) -> list[str]:
    """The contexts of the org's passages that a caller's question finds."""
    hits = await store.rank_passages(org, spoken_query(turn).terms, limit=10, min_similarity=0.0)
    return [hit.context for hit in hits]


async def test_a_created_document_is_found_at_once(
    kbcore_store: Store, kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    await kbcore_kb.create(org, filename="faq.md", content=FAX)
    assert await found(kbcore_store, org, "do you have fax") == ["faq.md > Fax"]


async def test_an_update_replaces_the_passages(
    kbcore_store: Store, kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    doc = await kbcore_kb.create(org, filename="faq.md", content=FAX)
    await kbcore_kb.update(org, doc.id, content=PARKING, filename="visits.md")
    assert await found(kbcore_store, org, "do you have fax") == []
    assert await found(kbcore_store, org, "where do visitors park") == ["visits.md > Parking"]


async def test_a_deleted_document_has_no_passages_until_restored(
    kbcore_store: Store, kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    doc = await kbcore_kb.create(org, filename="faq.md", content=FAX)
    await kbcore_kb.delete(org, doc.id)
    assert await found(kbcore_store, org, "do you have fax") == []
    await kbcore_kb.update(org, doc.id, active=True)
    assert await found(kbcore_store, org, "do you have fax") == ["faq.md > Fax"]


async def test_restoring_a_version_restores_its_passages(
    kbcore_store: Store, kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    doc = await kbcore_kb.create(org, filename="faq.md", content=FAX)
    await kbcore_kb.update(org, doc.id, content=PARKING)
    await kbcore_kb.restore(org, doc.id, version=1)
    assert await found(kbcore_store, org, "do you have fax") == ["faq.md > Fax"]
    assert await found(kbcore_store, org, "where do visitors park") == []


async def test_a_shorter_document_leaves_no_passage_behind(
    kbcore_store: Store, kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    long = "\n\n".join(f"# Topic {n}\n\nZebra number {n}." for n in range(5))
    doc = await kbcore_kb.create(org, filename="z.md", content=long)
    assert len(await found(kbcore_store, org, "zebra")) == 5
    await kbcore_kb.update(org, doc.id, content="# Topic 0\n\nZebra number 0.")
    assert await found(kbcore_store, org, "zebra") == ["z.md > Topic 0"]


async def test_imports_write_passages_for_new_and_updated_documents(
    kbcore_store: Store, kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    await kbcore_kb.import_documents(
        org, [DocumentDraft("faq.md", FAX), DocumentDraft("b.md", "# B\n\nBees.")]
    )
    assert await found(kbcore_store, org, "do you have fax") == ["faq.md > Fax"]
    await kbcore_kb.import_documents(
        org, [DocumentDraft("faq.md", PARKING)], on_conflict="update", all_or_nothing=False
    )
    assert await found(kbcore_store, org, "do you have fax") == []
    assert await found(kbcore_store, org, "where do visitors park") == ["faq.md > Parking"]


@pytest.mark.parametrize("all_or_nothing", [True, False], ids=["all-or-nothing", "partial"])
async def test_an_import_gives_passages_to_its_active_documents_only(
    kbcore_store: Store, kbcore_kb: KnowledgeBase, org: UUID, all_or_nothing: bool
) -> None:
    """A document imported deleted (as exports of deleted ones hold it) has none till undeleted."""
    items: list[DocumentDraft | dict[str, Any]] = [
        DocumentDraft("faq.md", FAX),
        {"filename": "visits.md", "content": PARKING, "active": False},
    ]
    await kbcore_kb.import_documents(org, items, all_or_nothing=all_or_nothing)
    assert await found(kbcore_store, org, "do you have fax") == ["faq.md > Fax"]
    assert await found(kbcore_store, org, "where do visitors park") == []
    [deleted] = [d for d in await everything(kbcore_kb, org, include_inactive=True) if not d.active]
    await kbcore_kb.update(org, deleted.id, active=True)
    assert await found(kbcore_store, org, "where do visitors park") == ["visits.md > Parking"]


async def test_an_import_that_fails_leaves_no_passage(kbcore_store: Store, org: UUID) -> None:
    """Its documents were written, then the unit of work failed: their passages went too."""
    kb = KnowledgeBase(FailingStore(kbcore_store, fail_on_insert=1))
    with pytest.raises(Boom):
        await kb.import_documents(org, [DocumentDraft("faq.md", FAX)])
    assert await found(kbcore_store, org, "do you have fax") == []


async def test_another_orgs_passages_are_not_found(
    kbcore_store: Store, kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    other = UUID(int=org.int ^ 1)
    await kbcore_kb.create(other, filename="faq.md", content=FAX)
    assert await found(kbcore_store, org, "do you have fax") == []
    assert await found(kbcore_store, other, "do you have fax") == ["faq.md > Fax"]
