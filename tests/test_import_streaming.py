"""An import reads its input a batch at a time: it never holds the whole of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import attrs
import pytest

from kbcore import DocumentDraft, KnowledgeBase
from kbcore._domain import Creation
from kbcore._ports import DocumentWrites, Store
from kbcore.documents._import_items import batches, items_of
from kbcore.documents._rules import Rules
from tests.import_support import everything

pytestmark = pytest.mark.anyio


@attrs.define
class Counted:
    """An input that counts the items taken from it."""

    items: list[Any]
    read: int = 0

    async def __aiter__(self) -> AsyncIterator[Any]:
        for item in self.items:
            self.read += 1
            yield item


@attrs.define
class Watching:
    """A store that notes, at each batch of new documents written, how much was read."""

    inner: Store
    source: Counted
    read_at_writes: list[int] = attrs.Factory(list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[DocumentWrites]:
        async with self.inner.writing() as writes:
            yield _WatchingWrites(writes, self)


@attrs.define
class _WatchingWrites:
    inner: DocumentWrites
    store: Watching

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def insert_many(self, org_id: UUID, creations: Sequence[Creation]) -> None:
        self.store.read_at_writes.append(self.store.source.read)
        await self.inner.insert_many(org_id, creations)


def _drafts(count: int) -> list[Any]:
    return [DocumentDraft(f"doc-{i}.md", f"Content {i}") for i in range(count)]


@pytest.mark.parametrize("all_or_nothing", [True, False], ids=["all-or-nothing", "partial"])
async def test_an_import_reads_one_batch_ahead_of_its_writes(
    kbcore_store: Store, org: UUID, all_or_nothing: bool
) -> None:
    """50 items in batches of 10: each batch is written when just its 10 items were read."""
    source = Counted(_drafts(50))
    store = Watching(kbcore_store, source)
    report = await KnowledgeBase(store).import_documents(
        org, source, batch_size=10, all_or_nothing=all_or_nothing
    )
    assert report.created == 50
    assert store.read_at_writes == [10, 20, 30, 40, 50]


async def test_a_late_bad_item_leaves_nothing_written_and_every_problem_is_reported(
    kbcore_store: Store, org: UUID
) -> None:
    """All or nothing across batches: items 0-44 were written, then 45 is bad: rolled back."""
    items = _drafts(50)
    items[45] = {"filename": "../bad.md", "content": "x"}
    items[48] = {"filename": "late.md"}
    source = Counted(items)
    store = Watching(kbcore_store, source)
    report = await KnowledgeBase(store).import_documents(org, source, batch_size=10)
    assert store.read_at_writes == [10, 20, 30, 40]  # written, then rolled back
    assert (report.created, [p.index for p in report.errors]) == (0, [45, 48])
    assert source.read == 50  # the rest was still read, to report its problems
    assert await everything(KnowledgeBase(kbcore_store), org, include_inactive=True) == []


async def test_a_partial_import_writes_batch_by_batch_around_bad_items(
    kbcore_store: Store, org: UUID
) -> None:
    """Without all-or-nothing each batch's valid items are committed; bad ones reported."""
    items = _drafts(25)
    items[3] = {"filename": "x.md", "content": " "}
    items[22] = "not a document"
    source = Counted(items)
    store = Watching(kbcore_store, source)
    report = await KnowledgeBase(store).import_documents(
        org, source, batch_size=10, all_or_nothing=False
    )
    # A batch is 10 valid items: the invalid ones come with the batch they were read in.
    assert store.read_at_writes == [11, 21, 25]
    assert (report.created, [p.index for p in report.errors]) == (23, [3, 22])
    stored = await everything(KnowledgeBase(kbcore_store), org)
    assert len(stored) == 23


async def test_large_contents_make_smaller_batches() -> None:
    """A batch closes once its contents reach the character budget, before its item count."""
    contents = ["x" * 400, "y" * 400, "z" * 400, "small", "w" * 900, "v"]
    drafts = [DocumentDraft(f"{i}.md", text) for i, text in enumerate(contents)]
    found = [
        [item.index for item in batch.items]
        async for batch in batches(Rules(), uuid.uuid4(), items_of(drafts), 100, characters=800)
    ]
    assert found == [[0, 1], [2, 3, 4], [5]]
