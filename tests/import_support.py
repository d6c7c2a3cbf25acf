"""Helpers for the import and export tests: documents to import, and a store that fails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from typing import Any
from uuid import UUID

import attrs

from kbcore import Document, DocumentDraft, KnowledgeBase
from kbcore._domain import Creation
from kbcore._ports import DocumentWrites, Store


class Boom(Exception):
    """The failure a FailingStore injects."""


@attrs.define
class FailingStore:
    """A store whose n-th ``insert_many`` writes and then fails, so its unit of work rolls back.

    It fails with ``error`` (by default ``Boom``, a bug); everything else is the wrapped
    store's own: ``writing`` is the one method it changes.
    """

    inner: Store
    fail_on_insert: int
    inserts: int = 0
    error: Callable[[], Exception] = Boom

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[DocumentWrites]:
        async with self.inner.writing() as writes:
            yield _FailingWrites(writes, self)


@attrs.define
class _FailingWrites:
    inner: DocumentWrites
    store: FailingStore

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def insert_many(self, org_id: UUID, creations: Sequence[Creation]) -> None:
        self.store.inserts += 1
        await self.inner.insert_many(org_id, creations)
        if self.store.inserts == self.store.fail_on_insert:
            raise self.store.error()


def drafts(count: int, prefix: str = "doc") -> list[DocumentDraft]:
    """``count`` small drafts named ``<prefix>-<i>.md``."""
    return [DocumentDraft(f"{prefix}-{i}.md", f"Content {i}") for i in range(count)]


async def everything(kb: KnowledgeBase, org: UUID, *, include_inactive: bool = False) -> list[Any]:
    """The whole export of the org, closed behind it."""
    async with aclosing(kb.export(org, include_inactive=include_inactive)) as documents:
        return [document async for document in documents]


async def by_name(kb: KnowledgeBase, org: UUID) -> dict[str, Document]:
    return {document.filename: document for document in await everything(kb, org)}
