"""PostgresStore and MemoryStore stay equivalent under any sequence of operations.

A hypothesis state machine applies each random operation (create, with or without an
idempotency key, update, delete, restore, get, history, paged listings, calls from the
wrong org) to a
``KnowledgeBase`` on each store and compares what the two answer: documents and
changes field by field, with ids mapped between the stores and timestamps left
out; errors by type and field. asyncpg is bound to the event loop that opened the
pool, so the machine, which hypothesis drives synchronously, reaches the stores
through one anyio blocking portal.

Each run of the machine works in new orgs on the same database: orgs cannot see
each other, so a run starts from an empty knowledge base on both stores, while
the earlier runs' rows stay around on PostgreSQL to catch any leak between orgs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from uuid import UUID

import anyio.from_thread
import asyncpg
import attrs
import pytest
from anyio.from_thread import BlockingPortal
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    multiple,
    rule,
    run_state_machine_as_test,
)

from kbcore import (
    Change,
    Document,
    DuplicateFilename,
    KbError,
    KnowledgeBase,
    NotFound,
    Page,
    ValidationError,
    VersionConflict,
)
from kbcore._domain import DocumentDraft
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore
from kbcore.testing import strategies
from kbcore.testing.strategies import DocumentEdit

T = TypeVar("T")

ORGS = 3
MAX_VERSION = 6
actors = st.none() | st.sampled_from(("user-1", "ops@example.com", "Zoë \N{GRINNING FACE}"))
org_indexes = st.integers(0, ORGS - 1)


@attrs.frozen
class Handle:
    """One document, known by a different id in each store."""

    org: int
    postgres: UUID
    memory: UUID


@attrs.frozen
class Side:
    """One of the two stores under test, behind a KnowledgeBase."""

    name: str
    kb: KnowledgeBase

    def id(self, handle: Handle) -> UUID:
        return handle.postgres if self.name == "postgres" else handle.memory


Call = Callable[[Side], Awaitable[T]]


async def _capture(call: Call[T], side: Side) -> T | KbError:
    """The call's result, or the kbcore error it raised; anything else fails the test."""
    try:
        return await call(side)
    except KbError as error:
        return error


def _error_key(error: KbError) -> tuple[Any, ...]:
    """What two stores must agree on about an error (messages may hold store-specific ids)."""
    if isinstance(error, ValidationError):
        return (ValidationError, error.field, error.message)
    if isinstance(error, VersionConflict):
        return (VersionConflict, error.expected, error.actual)
    return (type(error),)


class StoreEquivalence(RuleBasedStateMachine):
    """Every rule applies one call to both stores and checks that the answers agree."""

    documents = Bundle("documents")

    def __init__(self, portal: BlockingPortal, pool: asyncpg.Pool) -> None:
        super().__init__()
        self.portal = portal
        self.postgres = Side("postgres", KnowledgeBase(PostgresStore(pool)))
        self.memory = Side("memory", KnowledgeBase(MemoryStore()))
        self.orgs = [uuid.uuid4() for _ in range(ORGS)]
        #: PostgreSQL's id of each document -> MemoryStore's id of the same document.
        self.ids: dict[UUID, UUID] = {}
        self.handles: list[Handle] = []

    # Running and comparing

    def both(self, call: Call[T]) -> tuple[T | KbError, T | KbError]:
        """Apply ``call`` to both stores; results are compared by the caller."""
        on_postgres = self.portal.call(_capture, call, self.postgres)
        on_memory = self.portal.call(_capture, call, self.memory)
        if isinstance(on_postgres, KbError) or isinstance(on_memory, KbError):
            assert isinstance(on_postgres, KbError), f"only memory failed: {on_memory!r}"
            assert isinstance(on_memory, KbError), f"only postgres failed: {on_postgres!r}"
            assert _error_key(on_postgres) == _error_key(on_memory)
        return on_postgres, on_memory

    def document_view(self, document: Document, *, on_postgres: bool) -> tuple[Any, ...]:
        return (
            self.ids.get(document.id) if on_postgres else document.id,
            document.org_id,
            document.filename,
            document.content,
            document.category,
            document.version,
            document.active,
            dict(document.metadata),
        )

    def change_view(self, change: Change, *, on_postgres: bool) -> tuple[Any, ...]:
        document_id = self.ids.get(change.document_id) if on_postgres else change.document_id
        return (
            document_id,
            change.org_id,
            change.change_type,
            change.version_from,
            change.version_to,
            change.changed_by,
            change.summary,
            change.previous_content,
            change.new_content,
        )

    def created(
        self, org: int, results: tuple[Document | KbError, Document | KbError]
    ) -> Handle | None:
        on_postgres, on_memory = results
        if not isinstance(on_postgres, Document) or not isinstance(on_memory, Document):
            return None
        self.ids[on_postgres.id] = on_memory.id
        self.same_document(results)
        handle = Handle(org, on_postgres.id, on_memory.id)
        self.handles.append(handle)
        return handle

    def same_document(self, results: tuple[Document | KbError, Document | KbError]) -> None:
        on_postgres, on_memory = results
        if isinstance(on_postgres, Document) and isinstance(on_memory, Document):
            assert self.document_view(on_postgres, on_postgres=True) == self.document_view(
                on_memory, on_postgres=False
            )
            assert on_postgres.created_at <= on_postgres.updated_at

    def same_history(self, results: tuple[list[Change] | KbError, list[Change] | KbError]) -> None:
        on_postgres, on_memory = results
        if isinstance(on_postgres, list) and isinstance(on_memory, list):
            assert [self.change_view(c, on_postgres=True) for c in on_postgres] == [
                self.change_view(c, on_postgres=False) for c in on_memory
            ]

    # Writes

    @rule(target=documents, org=org_indexes, draft=strategies.new_documents(), actor=actors)
    def create(
        self, org: int, draft: DocumentDraft, actor: str | None
    ) -> Handle | MultipleResults[Handle]:
        results = self.both(
            lambda side: side.kb.create(self.orgs[org], **attrs.asdict(draft), actor=actor)
        )
        handle = self.created(org, results)
        if handle is None:
            # Both refused it alike (both() checked): another active document has its name.
            assert isinstance(results[0], DuplicateFilename), "a valid draft was rejected"
            return multiple()
        return handle

    @rule(
        org=org_indexes,
        draft=strategies.new_documents(),
        key=st.sampled_from(("req-1", "req-2")),
        actor=actors,
    )
    def create_with_key(self, org: int, draft: DocumentDraft, key: str, actor: str | None) -> None:
        """The first create with a key makes a document; a repeat returns it; another is refused."""
        results = self.both(
            lambda side: side.kb.create(
                self.orgs[org], **attrs.asdict(draft), actor=actor, idempotency_key=key
            )
        )
        on_postgres, on_memory = results
        if isinstance(on_postgres, Document) and on_postgres.id in self.ids:
            assert isinstance(on_memory, Document)
            assert self.ids[on_postgres.id] == on_memory.id
            self.same_document(results)
        else:
            self.created(org, results)

    @rule(
        org=org_indexes,
        filename=strategies.filenames() | strategies.invalid_filenames(),
        content=strategies.contents(max_bytes=1000) | strategies.invalid_contents(),
        category=st.none() | strategies.categories() | strategies.invalid_categories(),
    )
    def create_maybe_invalid(self, org: int, filename: Any, content: Any, category: Any) -> None:
        """Creates that may be rejected: both stores reject them alike, or both store them."""
        self.created(
            org,
            self.both(
                lambda side: side.kb.create(
                    self.orgs[org], filename=filename, content=content, category=category
                )
            ),
        )

    @rule(
        handle=documents,
        edit=strategies.document_edits(),
        expected_version=st.none() | st.integers(1, MAX_VERSION),
        actor=actors,
    )
    def update(
        self, handle: Handle, edit: DocumentEdit, expected_version: int | None, actor: str | None
    ) -> None:
        self.same_document(
            self.both(
                lambda side: side.kb.update(
                    self.orgs[handle.org],
                    side.id(handle),
                    **edit.as_kwargs(),
                    expected_version=expected_version,
                    actor=actor,
                )
            )
        )

    @rule(handle=documents, actor=actors)
    def delete(self, handle: Handle, actor: str | None) -> None:
        self.same_document(
            self.both(
                lambda side: side.kb.delete(self.orgs[handle.org], side.id(handle), actor=actor)
            )
        )

    @rule(handle=documents, version=st.integers(1, MAX_VERSION), actor=actors)
    def restore(self, handle: Handle, version: int, actor: str | None) -> None:
        self.same_document(
            self.both(
                lambda side: side.kb.restore(
                    self.orgs[handle.org], side.id(handle), version=version, actor=actor
                )
            )
        )

    # Reads

    @rule(handle=documents)
    def get(self, handle: Handle) -> None:
        self.same_document(
            self.both(lambda side: side.kb.get(self.orgs[handle.org], side.id(handle)))
        )

    @rule(handle=documents)
    def history(self, handle: Handle) -> None:
        self.same_history(
            self.both(lambda side: side.kb.history(self.orgs[handle.org], side.id(handle)))
        )

    @rule(
        handle=documents,
        other=st.integers(1, ORGS - 1),
        call=st.sampled_from(("get", "update", "delete", "restore", "history")),
    )
    def reach_from_another_org(self, handle: Handle, other: int, call: str) -> None:
        """Another org's call on the document is NotFound on both stores."""
        org = self.orgs[(handle.org + other) % ORGS]
        calls: dict[str, Call[object]] = {
            "get": lambda side: side.kb.get(org, side.id(handle)),
            "update": lambda side: side.kb.update(org, side.id(handle), content="taken over"),
            "delete": lambda side: side.kb.delete(org, side.id(handle)),
            "restore": lambda side: side.kb.restore(org, side.id(handle), version=1),
            "history": lambda side: side.kb.history(org, side.id(handle)),
        }
        on_postgres, _ = self.both(calls[call])
        assert isinstance(on_postgres, NotFound)

    @rule(org=org_indexes)
    def get_unknown(self, org: int) -> None:
        unknown = uuid.uuid4()
        on_postgres, _ = self.both(lambda side: side.kb.get(self.orgs[org], unknown))
        assert isinstance(on_postgres, NotFound)

    @rule(
        org=org_indexes,
        category=st.none() | strategies.categories(),
        include_inactive=st.booleans(),
        limit=st.integers(1, 4),
    )
    def list_pages(
        self, org: int, category: str | None, include_inactive: bool, limit: int
    ) -> None:
        """Both stores give the same pages, page by page, to the end."""
        pages = self.portal.call(self.all_pages, self.orgs[org], category, include_inactive, limit)
        for on_postgres, on_memory in pages:
            assert [self.document_view(d, on_postgres=True) for d in on_postgres.items] == [
                self.document_view(d, on_postgres=False) for d in on_memory.items
            ]

    async def all_pages(
        self, org_id: UUID, category: str | None, include_inactive: bool, limit: int
    ) -> list[tuple[Page[Document], Page[Document]]]:
        pages = []
        cursors: dict[str, str | None] = {"postgres": None, "memory": None}
        while True:
            pair = [
                await side.kb.list(
                    org_id,
                    category=category,
                    include_inactive=include_inactive,
                    limit=limit,
                    cursor=cursors[side.name],
                )
                for side in (self.postgres, self.memory)
            ]
            pages.append((pair[0], pair[1]))
            assert (pair[0].next_cursor is None) == (pair[1].next_cursor is None)
            if pair[0].next_cursor is None:
                return pages
            cursors = {"postgres": pair[0].next_cursor, "memory": pair[1].next_cursor}

    def teardown(self) -> None:
        """At the end of a run, every org holds the same documents with the same histories."""
        for org in range(ORGS):
            self.list_pages(org, None, True, 500)
        for handle in self.handles:
            self.history(handle)


@asynccontextmanager
async def open_pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    # The pool binds to the loop that creates it, so it is created in the portal's.
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        yield pool


@pytest.mark.usefixtures("anyio_backend")  # kbcore_database_dsn is an async fixture
def test_postgres_and_memory_stores_stay_equivalent(kbcore_database_dsn: str) -> None:
    """Random operations on several orgs: both stores answer alike, step by step."""
    with (
        anyio.from_thread.start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(open_pool(kbcore_database_dsn)) as pool,
    ):

        class Machine(StoreEquivalence):
            def __init__(self) -> None:
                super().__init__(portal, pool)

        run_state_machine_as_test(Machine, settings=settings(stateful_step_count=30))
