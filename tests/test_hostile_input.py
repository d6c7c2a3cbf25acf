"""Hostile input through every public entry point: a kbcore error or a correct write, nothing else.

Each test puts one hypothesis-generated hostile value (huge, empty, control characters,
SQL metacharacters, lone surrogates, wrong types) into one argument of one call, the
other arguments valid. The call must raise a ``kbcore.KbError``, in which case nothing
changed, or succeed, in which case what it wrote reads back exactly as given.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress
from typing import Any
from uuid import UUID

import asyncpg
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kbcore import (
    Document,
    KbError,
    KnowledgeBase,
    Rules,
    SyncCoordinator,
    SyncPolicy,
    ValidationError,
)
from kbcore._ports import Store
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore
from kbcore.testing import FakeVapi, database, strategies
from kbcore.testing.host_tables import HostTables, host_tables_for
from tests.stores import EACH_STORE

pytestmark = pytest.mark.anyio

hostile = strategies.hostile_values()


@pytest.fixture(scope="module")
async def module_pool(kbcore_server_dsn: str, kbcore_template: str) -> AsyncIterator[asyncpg.Pool]:
    """One database for the whole module: each example works in new orgs."""
    async with (
        database.temporary_database(kbcore_server_dsn, template=kbcore_template) as dsn,
        asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool,
    ):
        yield pool


@attrs.frozen
class Backend:
    """A store for one example, with the host tables it reads."""

    postgres: asyncpg.Pool | None

    def fresh(self) -> tuple[Store, HostTables]:
        # Each example gets an empty MemoryStore; on PostgreSQL each example works in new
        # orgs of the module's database.
        store = MemoryStore() if self.postgres is None else PostgresStore(self.postgres)
        return store, host_tables_for(store, self.postgres)


@pytest.fixture(scope="module", params=EACH_STORE)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each store in turn."""
    if request.param == "memory":
        return Backend(None)
    return Backend(request.getfixturevalue("module_pool"))


async def snapshot(kb: KnowledgeBase, org: UUID) -> list[Any]:
    """Everything the org holds: its documents and their histories."""
    page = await kb.list(org, include_inactive=True, limit=500)
    return [(doc, await kb.history(org, doc.id)) for doc in page.items]


async def seeded(kb: KnowledgeBase) -> tuple[UUID, Document]:
    """A new org with one document at version 2 (so that version 1 can be restored)."""
    org = uuid.uuid4()
    doc = await kb.create(org, filename="a.md", content="v1")
    return org, await kb.update(org, doc.id, content="v2")


def valid_arguments(method: str, org: UUID, doc_id: UUID) -> dict[str, Any]:
    """Arguments that make the call succeed; each test spoils one of them."""
    drafts = [{"filename": "b.md", "content": "imported"}]
    arguments: dict[str, dict[str, Any]] = {
        "create": {
            "org_id": org,
            "filename": "b.md",
            "content": "x",
            "category": None,
            "metadata": None,
            "actor": None,
            "idempotency_key": None,
        },
        "get": {"org_id": org, "document_id": doc_id},
        "list": {
            "org_id": org,
            "category": None,
            "include_inactive": False,
            "limit": 50,
            "cursor": None,
        },
        "list_summaries": {
            "org_id": org,
            "category": None,
            "include_inactive": False,
            "limit": 50,
            "cursor": None,
        },
        "update": {
            "org_id": org,
            "document_id": doc_id,
            "filename": None,
            "content": "v3",
            "category": None,
            "active": None,
            "actor": None,
            "expected_version": None,
        },
        "delete": {"org_id": org, "document_id": doc_id, "actor": None},
        "history": {"org_id": org, "document_id": doc_id},
        "restore": {"org_id": org, "document_id": doc_id, "version": 1, "actor": None},
        "search": {"org_id": org, "query": "v2", "category": None, "limit": 10},
        "import_documents": {
            "org_id": org,
            "drafts": drafts,
            "actor": None,
            "on_conflict": "error",
            "all_or_nothing": True,
            "batch_size": 10,
        },
        "export": {"org_id": org, "include_inactive": False},
    }
    return arguments[method]


METHODS = (
    "create",
    "get",
    "list",
    "list_summaries",
    "update",
    "delete",
    "history",
    "restore",
    "search",
    "import_documents",
    "export",
)
ARGUMENTS = {
    method: tuple(valid_arguments(method, uuid.uuid4(), uuid.uuid4())) for method in METHODS
}
CASES = [(method, argument) for method in METHODS for argument in ARGUMENTS[method]]


async def call(kb: KnowledgeBase, method: str, arguments: dict[str, Any]) -> Any:
    if method == "export":
        async with aclosing(kb.export(**arguments)) as stream:
            return [doc async for doc in stream]
    return await getattr(kb, method)(**arguments)


def check_written(document: Document, argument: str, value: object) -> None:
    """The argument the test spoiled, as stored: what the caller gave, trimmed where trimmed."""
    if argument in ("filename", "category") and isinstance(value, str):
        assert getattr(document, argument) == value.strip()
    elif argument == "content" and value is not None:
        assert document.content == value
    elif argument == "metadata" and value is not None:
        assert dict(document.metadata) == value
    elif argument == "active" and value is not None:
        assert document.active is value


async def check_call(kb: KnowledgeBase, method: str, argument: str, value: object) -> None:
    """A KbError and no change, or a change that reads back as given."""
    org, doc = await seeded(kb)
    before = await snapshot(kb, org)
    arguments = {**valid_arguments(method, org, doc.id), argument: value}
    try:
        result = await call(kb, method, arguments)
    except KbError:
        assert await snapshot(kb, org) == before
        return
    if isinstance(result, Document):
        assert await kb.get(result.org_id, result.id) == result
        check_written(result, argument, value)
        if argument == "actor" and result != doc:
            [*_, last] = await kb.history(result.org_id, result.id)
            assert last.changed_by == value


@pytest.mark.parametrize(("method", "argument"), CASES, ids=[f"{m}-{a}" for m, a in CASES])
@given(value=hostile)
async def test_each_argument_in_memory(method: str, argument: str, value: object) -> None:
    """Every argument of every KnowledgeBase call, on a MemoryStore."""
    await check_call(KnowledgeBase(MemoryStore()), method, argument, value)


@pytest.mark.parametrize("method", METHODS)
@given(position=st.integers(min_value=0, max_value=100), value=hostile)
async def test_each_call_on_postgres(
    module_pool: asyncpg.Pool, method: str, position: int, value: object
) -> None:
    """Every KnowledgeBase call on PostgreSQL, one argument spoiled at a time.

    The validation before the store is the same code on both stores and is covered
    argument by argument in memory; here the values that pass it reach SQL.
    """
    # Drawn up front (not with st.data() inside the test): a draw that overruns
    # hypothesis's buffer inside an async test would stop anyio's test runner.
    arguments = ARGUMENTS[method]
    argument = arguments[position % len(arguments)]
    await check_call(KnowledgeBase(PostgresStore(module_pool)), method, argument, value)


async def items(values: list[object]) -> AsyncIterator[object]:
    for value in values:
        yield value


DRAFT_KEYS = ("filename", "content", "category", "metadata", "id", "version")


@given(
    drafts=st.lists(
        hostile | st.dictionaries(st.sampled_from(DRAFT_KEYS), hostile, max_size=4), max_size=4
    ),
    streamed=st.booleans(),
)
async def test_import_of_hostile_items(
    backend: Backend, drafts: list[object], streamed: bool
) -> None:
    """Every item is imported as given or reported; all or nothing by default."""
    store, _ = backend.fresh()
    kb = KnowledgeBase(store)
    org = uuid.uuid4()
    given_drafts = items(drafts) if streamed else drafts
    try:
        report = await kb.import_documents(org, given_drafts)  # type: ignore[arg-type]
    except KbError:
        assert await snapshot(kb, org) == []
        return
    stored = await snapshot(kb, org)
    if report.errors:
        assert stored == []
        assert {problem.index for problem in report.errors} <= set(range(len(drafts)))
    else:
        assert report.created + report.updated + report.skipped == len(drafts)
        assert len(stored) == report.created


# SyncCoordinator.sync


async def wired_org(fake: FakeVapi, tables: HostTables) -> UUID:
    """An org ready to sync: the fake's key, two assistants, one document."""
    org = uuid.uuid4()
    await tables.set_vapi_key(org, fake.api_key)
    for role in ("inbound", "outbound"):
        await tables.add_agent(org, role, fake.add_assistant(name=role))
    return org


SYNC_ARGUMENTS = ("org_id", "tool_name", "roles", "actor")


@pytest.mark.parametrize("argument", SYNC_ARGUMENTS)
@given(value=hostile)
async def test_sync(backend: Backend, argument: str, value: object) -> None:
    """SyncCoordinator.sync: a KbError, or a sync that did what it was asked."""
    store, tables = backend.fresh()
    fake = FakeVapi()
    org = await wired_org(fake, tables)
    await KnowledgeBase(store).create(org, filename="a.md", content="x")
    arguments: dict[str, Any] = {"org_id": org, "tool_name": "kb", "roles": ("inbound",)}
    arguments[argument] = value
    async with fake.http_client() as http:
        coordinator = SyncCoordinator(
            store,
            http_client=http,
            policy=SyncPolicy(retry_policy=attrs.evolve(SyncPolicy().retry_policy, attempts=1)),
        )
        try:
            result = await coordinator.sync(**arguments)
        except KbError:
            return
    assert result.tool_id in fake.tools
    tool_names = {(file.metadata or {}).get("toolName") for file in fake.files.values()}
    assert tool_names == {arguments["tool_name"]}
    assert isinstance(store, MemoryStore | PostgresStore)
    [run] = await store.recent_runs(result.org_id, 1)
    assert (run.id, run.status, run.triggered_by) == (
        result.run_id,
        "success",
        value if argument == "actor" else None,
    )


@pytest.mark.parametrize("role", ["\ud800", "in\x00bound"], ids=["surrogate", "nul"])
async def test_sync_refuses_roles_postgresql_cannot_hold(
    module_pool: asyncpg.Pool, role: str
) -> None:
    """A role PostgreSQL cannot store is a KbError, like every other bad argument."""
    store, tables = Backend(module_pool).fresh()
    fake = FakeVapi()
    org = await wired_org(fake, tables)
    await KnowledgeBase(store).create(org, filename="a.md", content="x")
    async with fake.http_client() as http:
        with pytest.raises(KbError):
            await SyncCoordinator(store, http_client=http).sync(org, roles=[role])


# Rules


@given(method=st.sampled_from(("filename", "content", "category")), value=hostile)
def test_rules(method: str, value: object) -> None:
    """Rules: a clean value or a ValidationError."""
    try:
        clean = getattr(Rules(), method)(value)
    except KbError:
        return
    assert isinstance(clean, str)


@given(categories=hostile, default_category=hostile)
def test_rules_configuration(categories: Any, default_category: Any) -> None:
    """A host's Rules: built, or refused with a KbError."""
    with suppress(KbError):
        Rules(categories=categories, default_category=default_category)


# Values that are valid but do not come back as they went in


async def test_metadata_floats_read_back_as_written(module_pool: asyncpg.Pool) -> None:
    """Metadata numbers survive PostgreSQL unchanged; those jsonb would rewrite are refused."""
    kb = KnowledgeBase(PostgresStore(module_pool))
    metadata = {"ratio": 0.1, "tiny": 1e-20, "large": 9.5e15, "whole": 10**23}
    doc = await kb.create(uuid.uuid4(), filename="a.md", content="x", metadata=metadata)
    assert dict((await kb.get(doc.org_id, doc.id)).metadata) == metadata
    with pytest.raises(ValidationError, match="cannot be stored exactly"):
        await kb.create(doc.org_id, filename="b.md", content="x", metadata={"big": 1e23})


async def test_metadata_may_hold_an_escaped_nul_as_text() -> None:
    """Only a real NUL character is refused, not the six characters that spell its escape."""
    kb = KnowledgeBase(MemoryStore())
    metadata = {"pattern": "\\u0000"}
    doc = await kb.create(uuid.uuid4(), filename="a.md", content="x", metadata=metadata)
    assert dict(doc.metadata) == metadata
