"""What the core needs from storage, and nothing more.

A ``Store`` hands out transactions; a ``Transaction`` exposes the repositories.
Everything done through one transaction commits together on a normal exit of
``async with store.transaction() as tx:`` and rolls back on an exception.
Adapters (``kbcore.postgres``, ``kbcore.memory``) implement these protocols;
services depend on them only.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol
from uuid import UUID

from kbcore.domain import (
    Assistant,
    Change,
    ChangeDraft,
    Document,
    DocumentState,
    NewDocument,
    PageKey,
    Secret,
)


class Documents(Protocol):
    async def insert(self, draft: NewDocument, change: ChangeDraft) -> Document:
        """Store a new document at version 1 together with its ``created`` change."""
        ...

    async def get(
        self, org_id: UUID, document_id: UUID, *, for_update: bool = False
    ) -> Document | None:
        """The org's document, or None. ``for_update`` locks it until the transaction ends."""
        ...

    async def update(
        self,
        org_id: UUID,
        document_id: UUID,
        state: DocumentState,
        changes: Sequence[ChangeDraft],
    ) -> Document:
        """Write the new state and its changelog rows; ``updated_at`` moves to now."""
        ...

    async def page(
        self,
        org_id: UUID,
        *,
        category: str | None,
        include_inactive: bool,
        limit: int,
        after: PageKey | None,
    ) -> Sequence[Document]:
        """Up to ``limit`` documents, newest first by (created_at, id), after ``after``."""
        ...


class Changes(Protocol):
    async def for_document(self, org_id: UUID, document_id: UUID) -> Sequence[Change]:
        """The document's changelog, oldest first."""
        ...


class Agents(Protocol):
    async def assistants(self, org_id: UUID, roles: Sequence[str]) -> Sequence[Assistant]:
        """The org's agents whose role is one of ``roles``, with or without a Vapi id."""
        ...


class Integrations(Protocol):
    async def vapi_key(self, org_id: UUID) -> Secret | None:
        """The org's Vapi private key from its ``vapi`` integration, if configured."""
        ...


class Transaction(Protocol):
    @property
    def documents(self) -> Documents: ...

    @property
    def changes(self) -> Changes: ...

    @property
    def agents(self) -> Agents: ...

    @property
    def integrations(self) -> Integrations: ...


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work: commit on normal exit, roll back on an exception."""
        ...
