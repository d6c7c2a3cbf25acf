"""Helpers for the import and export tests: documents to import, and a store that fails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from typing import Any
from uuid import UUID

import attrs

from kbcore import Document, DocumentDraft, KnowledgeBase
from kbcore._domain import Creation, Revision
from kbcore._ports import (
    Agents,
    Changes,
    DocumentBatches,
    Documents,
    DocumentSearch,
    Integrations,
    Store,
    Transaction,
)


class Boom(Exception):
    """The failure a FailingStore injects."""


@attrs.define
class FailingBatches:
    inner: DocumentBatches
    store: FailingStore

    async def active_named(self, org_id: UUID, filenames: Sequence[str]) -> Sequence[Document]:
        return await self.inner.active_named(org_id, filenames)

    async def insert_many(self, org_id: UUID, creations: Sequence[Creation]) -> None:
        self.store.inserts += 1
        await self.inner.insert_many(org_id, creations)
        if self.store.inserts == self.store.fail_on_insert:
            raise Boom

    async def update_many(self, org_id: UUID, revisions: Sequence[Revision]) -> None:
        await self.inner.update_many(org_id, revisions)

    def stream(self, org_id: UUID, *, include_inactive: bool) -> AsyncIterator[Document]:
        return self.inner.stream(org_id, include_inactive=include_inactive)


@attrs.frozen
class FailingTransaction:
    documents: Documents
    changes: Changes
    agents: Agents
    integrations: Integrations
    batches: DocumentBatches
    search: DocumentSearch


@attrs.define
class FailingStore:
    """A store whose n-th ``insert_many`` writes and then fails, so its transaction rolls back."""

    inner: Store
    fail_on_insert: int
    inserts: int = 0

    def read(self) -> AbstractAsyncContextManager[Transaction]:
        return self.inner.read()

    def autocommit(self) -> AbstractAsyncContextManager[Transaction]:
        return self.inner.autocommit()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.inner.transaction() as tx:
            yield FailingTransaction(
                documents=tx.documents,
                changes=tx.changes,
                agents=tx.agents,
                integrations=tx.integrations,
                batches=FailingBatches(tx.batches, self),
                search=tx.search,
            )


def drafts(count: int, prefix: str = "doc") -> list[DocumentDraft]:
    """``count`` small drafts named ``<prefix>-<i>.md``."""
    return [DocumentDraft(f"{prefix}-{i}.md", f"Content {i}") for i in range(count)]


async def everything(kb: KnowledgeBase, org: UUID, *, include_inactive: bool = False) -> list[Any]:
    """The whole export of the org, closed behind it."""
    async with aclosing(kb.export(org, include_inactive=include_inactive)) as documents:
        return [document async for document in documents]


async def by_name(kb: KnowledgeBase, org: UUID) -> dict[str, Document]:
    return {document.filename: document for document in await everything(kb, org)}
