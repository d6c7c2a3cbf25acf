"""PostgresStore on a real server: atomic writes, row locks, round trips, host tables, failures."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import anyio
import anyio.lowlevel
import asyncpg
import attrs
import pytest
from asyncpg.connection import LoggedQuery

from kbcore import KnowledgeBase, NotSaved, StoreUnavailable, VersionConflict
from kbcore._domain import ChangeDraft, ChangeType, Creation, NewDocument
from kbcore.postgres import PostgresStore
from tests.stores import ON_POSTGRES

pytestmark = [pytest.mark.anyio, pytest.mark.database]

FAILING_CHANGELOG = """
CREATE FUNCTION fail_changelog() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'changelog is broken';
END;
$$;
CREATE TRIGGER fail_changelog BEFORE INSERT ON knowledge_base_changelog
    FOR EACH ROW EXECUTE FUNCTION fail_changelog();
"""


async def document_rows(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    rows = await pool.fetch("SELECT * FROM knowledge_base ORDER BY id")
    return [tuple(row) for row in rows]


# What asyncpg's pool runs when a connection is handed back.
_POOL_HOUSEKEEPING = "SELECT pg_advisory_unlock_all()"


@attrs.define
class StatementLog:
    """Every statement one pooled connection sends, for counting round trips."""

    store: PostgresStore
    records: list[LoggedQuery]

    def statements(self) -> list[LoggedQuery]:
        """Every statement sent, BEGIN and COMMIT included, without the pool's housekeeping."""
        return [r for r in self.records if not r.query.startswith(_POOL_HOUSEKEEPING)]

    def transactions(self) -> list[list[LoggedQuery]]:
        """The statements of each transaction, between its BEGIN and COMMIT."""
        found: list[list[LoggedQuery]] = []
        for record in self.records:
            if record.query.startswith("BEGIN"):
                found.append([])
            elif record.query.startswith("COMMIT"):
                continue
            elif found and not record.query.startswith(_POOL_HOUSEKEEPING):
                found[-1].append(record)
        return found


@pytest.fixture
async def statement_log(kbcore_database_dsn: str) -> AsyncIterator[StatementLog]:
    records: list[LoggedQuery] = []

    async def log_queries(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(records.append)

    async with asyncpg.create_pool(
        kbcore_database_dsn, min_size=1, max_size=1, init=log_queries
    ) as pool:
        yield StatementLog(PostgresStore(pool), records)


@ON_POSTGRES
async def test_create_writes_nothing_when_its_changelog_fails(
    kbcore_kb: KnowledgeBase, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """A failing changelog insert leaves no document behind."""
    await kbcore_pool.execute(FAILING_CHANGELOG)
    with pytest.raises(
        NotSaved, match=r"refused the statement \(P0001\) while running a query"
    ) as caught:
        await kbcore_kb.create(org, filename="a.md", content="x")
    assert (caught.value.sqlstate, caught.value.database_message) == (
        "P0001",
        "changelog is broken",
    )
    assert isinstance(caught.value.__cause__, asyncpg.RaiseError)
    assert await document_rows(kbcore_pool) == []


@ON_POSTGRES
async def test_update_changes_nothing_when_its_changelog_fails(
    kbcore_kb: KnowledgeBase, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """A failing changelog insert leaves the document as it was, updated_at included."""
    doc = await kbcore_kb.create(org, filename="a.md", content="x")
    before = await document_rows(kbcore_pool)
    await kbcore_pool.execute(FAILING_CHANGELOG)
    with pytest.raises(NotSaved, match="nothing was saved") as caught:
        await kbcore_kb.update(org, doc.id, content="y", filename="b.md")
    assert caught.value.database_message == "changelog is broken"
    assert await document_rows(kbcore_pool) == before


async def wait_for_lock_waiters(pool: asyncpg.Pool, count: int) -> None:
    """Return once ``count`` sessions of this database are blocked on a lock."""
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with anyio.fail_after(10):
        # Polling: the server offers no event for "a session started waiting on a lock".
        while await pool.fetchval(query) < count:  # noqa: ASYNC110
            await anyio.sleep(0.01)


@ON_POSTGRES
async def test_concurrent_updates_of_one_version_cannot_both_win(
    kbcore_kb: KnowledgeBase, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """Two updates that both read version 1 and queue on the row: one wins, one conflicts."""
    doc = await kbcore_kb.create(org, filename="a.md", content="v1")
    outcomes: list[str] = []

    async def edit(text: str) -> None:
        try:
            await kbcore_kb.update(org, doc.id, content=text, expected_version=1)
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("conflict")

    # Hold the row so that both updates are in flight at once before either proceeds.
    async with kbcore_pool.acquire() as blocker:
        hold = blocker.transaction()
        await hold.start()
        await blocker.execute("SELECT 1 FROM knowledge_base WHERE id = $1 FOR UPDATE", doc.id)
        async with anyio.create_task_group() as tg:
            tg.start_soon(edit, "left")
            tg.start_soon(edit, "right")
            await wait_for_lock_waiters(kbcore_pool, 2)
            await hold.commit()
    assert sorted(outcomes) == ["conflict", "won"]
    assert (await kbcore_kb.get(org, doc.id)).version == 2
    assert [c.change_type for c in await kbcore_kb.history(org, doc.id)] == ["created", "updated"]


@pytest.mark.parametrize("key", [None, "req-1"])
async def test_create_is_one_statement(
    statement_log: StatementLog, org: UUID, key: str | None
) -> None:
    """The document, its changelog row, its passages and its key: one statement, one round trip."""
    kb = KnowledgeBase(statement_log.store)
    await kb.create(org, filename="warm-up.md", content="the type cache")
    statement_log.records.clear()
    await kb.create(org, filename="a.md", content="x", idempotency_key=key)
    [statement] = statement_log.statements()
    assert statement.query.lstrip().startswith("WITH")
    assert ("kb_idempotency_keys" in statement.query) is (key is not None)


async def test_update_is_a_locked_read_and_one_write(
    statement_log: StatementLog, org: UUID
) -> None:
    """An update with several changes: one SELECT ... FOR UPDATE, one write, its passages,
    and last the mark of the org's sync request."""
    kb = KnowledgeBase(statement_log.store)
    doc = await kb.create(org, filename="a.md", content="x")
    await kb.update(org, doc.id, content="warm up the type cache")
    statement_log.records.clear()
    await kb.update(org, doc.id, filename="b.md", content="y", category="operations")
    [statements] = statement_log.transactions()
    assert len(statements) == 4
    assert statements[0].query.strip().endswith("FOR UPDATE")
    assert "INSERT INTO knowledge_passages" in statements[2].query
    assert "INSERT INTO kb_sync_requests" in statements[3].query
    kinds = [c.change_type for c in await kb.history(org, doc.id)]
    assert kinds == ["created", "updated", "renamed", "updated", "recategorized"]


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


async def test_every_read_is_served_by_an_index_in_order(
    statement_log: StatementLog, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """Listings (every filter, both pages), get and history: no table scan, no sort."""
    kb = KnowledgeBase(statement_log.store)
    for name in ("a.md", "b.md"):
        await kb.create(org, filename=name, content="x", category="operations")
    statement_log.records.clear()
    for category in (None, "operations"):
        for include_inactive in (False, True):
            first = await kb.list(
                org, category=category, include_inactive=include_inactive, limit=1
            )
            await kb.list(
                org,
                category=category,
                include_inactive=include_inactive,
                limit=1,
                cursor=first.next_cursor,
            )
    doc = first.items[0]
    await kb.get(org, doc.id)
    await kb.history(org, doc.id)
    reads = [
        record
        for record in statement_log.statements()
        if not record.query.startswith(("BEGIN", "COMMIT"))
    ]
    assert len(reads) == 11  # 8 pages, get, and history's get and changelog read

    async with kbcore_pool.acquire() as conn:
        # On a tiny table any plan is cheap; make the planner say whether an index can
        # serve each read in order at all.
        await conn.execute(
            "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off"
        )
        for read in reads:
            [plan] = json.loads(
                await conn.fetchval(f"EXPLAIN (FORMAT JSON) {read.query}", *read.args)
            )
            kinds = {node["Node Type"] for node in plan_nodes(plan["Plan"])}
            assert not kinds & {"Seq Scan", "Sort", "Incremental Sort"}, read.query


METADATA = {
    "source": "crm",
    "tags": ["pricing", "émoji \N{GRINNING FACE}"],
    "nested": {"depth": 2, "ratio": 0.5, "none": None, "flag": False},
    "big": 2**53,
}


@ON_POSTGRES
async def test_metadata_is_stored_as_a_jsonb_object(
    kbcore_kb: KnowledgeBase, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """Metadata round-trips exactly and is a queryable jsonb object in the table."""
    doc = await kbcore_kb.create(org, filename="a.md", content="x", metadata=METADATA)
    assert dict((await kbcore_kb.get(org, doc.id)).metadata) == METADATA
    row = await kbcore_pool.fetchrow(
        "SELECT jsonb_typeof(metadata) AS kind, metadata #>> '{nested,depth}' AS depth"
        " FROM knowledge_base WHERE id = $1",
        doc.id,
    )
    assert row is not None
    assert (row["kind"], row["depth"]) == ("object", "2")


async def test_metadata_survives_a_host_pool_with_a_json_codec(
    kbcore_database_dsn: str, org: UUID
) -> None:
    """A host pool that decodes jsonb itself neither double-encodes nor double-decodes."""

    async def json_codec(conn: asyncpg.Connection) -> None:
        await conn.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )

    async with asyncpg.create_pool(
        kbcore_database_dsn, min_size=1, max_size=1, init=json_codec
    ) as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        doc = await kb.create(org, filename="a.md", content="x", metadata=METADATA)
        assert dict((await kb.get(org, doc.id)).metadata) == METADATA
        assert await pool.fetchval("SELECT metadata FROM knowledge_base") == METADATA


async def terminate_idle_transactions(pool: asyncpg.Pool) -> None:
    """Kill this database's sessions that sit inside a transaction, and wait until they are gone."""
    killed = await pool.fetchval(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND state = 'idle in transaction'"
    )
    assert killed == 1


def creation(org: UUID) -> list[Creation]:
    """One new document to write through a unit of work's ``insert_many``."""
    document = NewDocument(org_id=org, filename="a.md", content="x", category="general")
    change = ChangeDraft(change_type=ChangeType.CREATED, summary="Created: a.md", changed_by=None)
    return [Creation(uuid.uuid4(), document, change)]


async def test_a_connection_killed_mid_transaction_is_store_unavailable(
    kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """The server dropping the session surfaces as StoreUnavailable and keeps no partial write."""
    store = PostgresStore(kbcore_pool)

    async def insert_twice_across_a_kill() -> None:
        async with store.writing() as writes:
            await writes.insert_many(org, creation(org))
            await terminate_idle_transactions(kbcore_pool)
            await writes.insert_many(org, creation(org))

    with pytest.raises(StoreUnavailable, match="nothing was saved") as caught:
        await insert_twice_across_a_kill()
    assert isinstance(caught.value.__cause__, asyncpg.InterfaceError | asyncpg.PostgresError)
    assert await document_rows(kbcore_pool) == []
    created = await KnowledgeBase(store).create(org, filename="after.md", content="y")
    assert [row[0] for row in await document_rows(kbcore_pool)] == [created.id]


@contextmanager
def port_nobody_listens_on() -> Iterator[int]:
    """A local TCP port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_an_unreachable_server_is_store_unavailable(org: UUID) -> None:
    """A pool whose server refuses connections fails with StoreUnavailable, not OSError."""
    with port_nobody_listens_on() as port:
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        async with asyncpg.create_pool(dsn, min_size=0) as pool:
            with pytest.raises(StoreUnavailable, match="while connecting") as caught:
                await KnowledgeBase(PostgresStore(pool)).get(org, uuid.uuid4())
    assert isinstance(caught.value.__cause__, OSError)


async def test_a_cancelled_transaction_rolls_back_and_frees_its_connection(
    kbcore_database_dsn: str, org: UUID
) -> None:
    """Cancelling inside a transaction writes nothing and leaves the only connection usable."""
    async with asyncpg.create_pool(kbcore_database_dsn, min_size=1, max_size=1) as pool:
        store = PostgresStore(pool)
        with anyio.CancelScope() as scope:
            async with store.writing() as writes:
                await writes.insert_many(org, creation(org))
                scope.cancel()
                await anyio.lowlevel.checkpoint()  # where the cancellation lands
        assert scope.cancelled_caught
        with anyio.fail_after(10):
            assert await document_rows(pool) == []
