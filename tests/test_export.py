"""Streaming export, and its round trip through import, on every store."""

from __future__ import annotations

import uuid
from contextlib import aclosing
from typing import Any
from uuid import UUID

import anyio
import pytest

from kbcore import Document, DocumentDraft, ImportReport, KnowledgeBase, ValidationError
from tests.import_support import drafts, everything

pytestmark = pytest.mark.anyio


async def test_export_round_trips_through_import(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """Export one org, import the stream into another: the same documents arrive."""
    await kbcore_kb.import_documents(
        org,
        [
            DocumentDraft(f"f{i}.md", f"text {i} é", category="operations", metadata={"i": i})
            for i in range(120)
        ],
    )
    other = uuid.uuid4()
    report = await kbcore_kb.import_documents(other, kbcore_kb.export(org))
    assert report == ImportReport(created=120)

    def shape(docs: list[Document]) -> list[tuple[Any, ...]]:
        return sorted((d.filename, d.content, d.category, dict(d.metadata)) for d in docs)

    assert shape(await everything(kbcore_kb, other)) == shape(await everything(kbcore_kb, org))


async def test_export_streams_oldest_first_and_only_the_orgs_documents(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """Export yields the org's active documents by (created_at, id); others stay out."""
    await kbcore_kb.import_documents(org, drafts(3))
    await kbcore_kb.create(uuid.uuid4(), filename="theirs.md", content="x")
    gone = await kbcore_kb.create(org, filename="gone.md", content="x")
    await kbcore_kb.delete(org, gone.id)
    exported = await everything(kbcore_kb, org)
    assert sorted(d.filename for d in exported) == ["doc-0.md", "doc-1.md", "doc-2.md"]
    assert [(d.created_at, d.id) for d in exported] == sorted(
        (d.created_at, d.id) for d in exported
    )
    with_inactive = await everything(kbcore_kb, org, include_inactive=True)
    assert [d.filename for d in with_inactive][-1] == "gone.md"
    assert not with_inactive[-1].active


async def test_an_export_closed_early_lets_go_of_the_store(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """Stopping after one document and closing the stream frees the store for writes."""
    await kbcore_kb.import_documents(org, drafts(60))
    async with aclosing(kbcore_kb.export(org)) as documents:
        async for _ in documents:
            break
    # A store still held by the export would make the write wait: fail, do not hang.
    with anyio.fail_after(10):
        await kbcore_kb.create(org, filename="after.md", content="x")


async def test_export_checks_its_arguments_when_called(kbcore_kb: KnowledgeBase) -> None:
    """A malformed org id fails at the call, not at the first iteration."""
    with pytest.raises(ValidationError):
        kbcore_kb.export("not-a-uuid")
