"""Streaming export, and its round trip through import, on every store."""

from __future__ import annotations

import uuid
from contextlib import aclosing
from typing import Any
from uuid import UUID

import pytest

from kbcore import Document, DocumentDraft, ImportReport, KnowledgeBase, ValidationError
from tests.import_support import drafts, everything

pytestmark = pytest.mark.anyio


@pytest.fixture
def org() -> UUID:
    return uuid.uuid4()


async def test_export_round_trips_through_import(kb: KnowledgeBase, org: UUID) -> None:
    """Export one org, import the stream into another: the same documents arrive."""
    await kb.import_documents(
        org,
        [
            DocumentDraft(f"f{i}.md", f"text {i} é", category="operations", metadata={"i": i})
            for i in range(120)
        ],
    )
    other = uuid.uuid4()
    report = await kb.import_documents(other, kb.export(org))
    assert report == ImportReport(created=120)

    def shape(docs: list[Document]) -> list[tuple[Any, ...]]:
        return sorted((d.filename, d.content, d.category, dict(d.metadata)) for d in docs)

    assert shape(await everything(kb, other)) == shape(await everything(kb, org))


async def test_export_streams_oldest_first_and_only_the_orgs_documents(
    kb: KnowledgeBase, org: UUID
) -> None:
    """Export yields the org's active documents by (created_at, id); others stay out."""
    await kb.import_documents(org, drafts(3))
    await kb.create(uuid.uuid4(), filename="theirs.md", content="x")
    gone = await kb.create(org, filename="gone.md", content="x")
    await kb.delete(org, gone.id)
    exported = await everything(kb, org)
    assert sorted(d.filename for d in exported) == ["doc-0.md", "doc-1.md", "doc-2.md"]
    assert [(d.created_at, d.id) for d in exported] == sorted(
        (d.created_at, d.id) for d in exported
    )
    with_inactive = await everything(kb, org, include_inactive=True)
    assert [d.filename for d in with_inactive][-1] == "gone.md"
    assert not with_inactive[-1].active


async def test_an_export_closed_early_lets_go_of_the_store(kb: KnowledgeBase, org: UUID) -> None:
    """Stopping after one document and closing the stream frees the store for writes."""
    await kb.import_documents(org, drafts(60))
    async with aclosing(kb.export(org)) as documents:
        async for _ in documents:
            break
    await kb.create(org, filename="after.md", content="x")


async def test_export_checks_its_arguments_when_called(kb: KnowledgeBase) -> None:
    """A malformed org id fails at the call, not at the first iteration."""
    with pytest.raises(ValidationError):
        kb.export("not-a-uuid")
