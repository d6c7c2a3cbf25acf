"""kbcore.testing.clones: a database given back is emptied, renamed and handed out again,
unless the test changed its schema or the template's rows; then it is dropped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from kbcore import KnowledgeBase
from kbcore.postgres import PostgresStore
from kbcore.testing.clones import DatabaseClones
from kbcore.testing.database import with_database

pytestmark = pytest.mark.anyio


@pytest.fixture
async def clones(kbcore_server_dsn: str, kbcore_template: str) -> AsyncIterator[DatabaseClones]:
    """Clones of the session's template of this test's own, all dropped afterwards."""
    clones = DatabaseClones(kbcore_server_dsn, kbcore_template)
    yield clones
    await clones.close()


async def oids(server_dsn: str) -> set[int]:
    """The oids of the server's databases: a database keeps its oid when it is renamed."""
    conn = await asyncpg.connect(server_dsn)
    try:
        return {row["oid"] for row in await conn.fetch("SELECT oid FROM pg_database")}
    finally:
        await conn.close()


async def oid_of(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        oid: int = await conn.fetchval(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        )
        return oid
    finally:
        await conn.close()


async def on(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def write_a_document(dsn: str) -> None:
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        await KnowledgeBase(PostgresStore(pool)).create(
            uuid.uuid4(), filename="pricing.md", content="Pro: $99", actor="test"
        )


async def test_a_database_given_back_comes_back_empty_with_its_ledger(
    clones: DatabaseClones, kbcore_template: str, kbcore_server_dsn: str
) -> None:
    """Documents, history, passages and the sequence are gone; the migrations stay; the
    database has a new name."""
    dsn = await clones.take()
    oid = await oid_of(dsn)
    await write_a_document(dsn)
    await clones.give_back(dsn)
    again = await clones.take()
    assert (await oid_of(again), again != dsn) == (oid, True)
    template = with_database(kbcore_server_dsn, kbcore_template)
    counts = """
        SELECT (SELECT count(*) FROM knowledge_base), (SELECT count(*) FROM knowledge_passages),
               (SELECT count(*) FROM knowledge_base_changelog),
               (SELECT count(*) FROM kb_sync_requests),
               (SELECT array_agg(version ORDER BY version) FROM kbcore_schema_migrations),
               nextval('knowledge_base_changelog_seq_seq')
    """
    reused, fresh = await asyncpg.connect(again), await asyncpg.connect(template)
    try:
        assert await reused.fetchrow(counts) == await fresh.fetchrow(counts)
    finally:
        await reused.close()
        await fresh.close()
    await clones.give_back(again)


_IN_THIS_DATABASE = "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I {}', current_database()); END $$"


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE host_orders (id bigint PRIMARY KEY)",
        "ALTER TABLE knowledge_base ADD COLUMN tag text",
        "CREATE INDEX ON knowledge_base (category)",
        "TRUNCATE knowledge_passages",
        "CREATE FUNCTION host_answer() RETURNS int LANGUAGE sql AS 'SELECT 42'",
        "ALTER INDEX knowledge_passages_search_vector_idx SET (gin_pending_list_limit = 64)",
        "CREATE SCHEMA host",
        _IN_THIS_DATABASE.format("SET work_mem = ''8MB''"),
        _IN_THIS_DATABASE.format("CONNECTION LIMIT 50"),
        "DROP INDEX knowledge_base_one_active_filename_idx",
        "DROP TRIGGER kb_sync_requests_notify ON kb_sync_requests",
        "ALTER TABLE knowledge_base DROP COLUMN metadata",
        "DELETE FROM kbcore_schema_migrations"
        " WHERE version = (SELECT max(version) FROM kbcore_schema_migrations)",
    ],
    ids=[
        "table",
        "column",
        "index",
        "truncate",
        "function",
        "index-option",
        "schema",
        "setting",
        "connection-limit",
        "drop-index",
        "drop-trigger",
        "drop-column",
        "ledger-row",
    ],
)
async def test_a_database_whose_schema_or_ledger_a_test_changed_is_dropped(
    clones: DatabaseClones, kbcore_server_dsn: str, statement: str
) -> None:
    """The next take() is a new clone; the changed one no longer exists."""
    dsn = await clones.take()
    oid = await oid_of(dsn)
    await on(dsn, statement)
    await clones.give_back(dsn)
    assert oid not in await oids(kbcore_server_dsn)
    again = await clones.take()
    assert await oid_of(again) != oid
    await clones.give_back(again)


async def test_sessions_left_open_are_ended_and_the_old_name_leads_nowhere(
    clones: DatabaseClones,
) -> None:
    """A connection the test forgot cannot see, or write into, the next test's database,
    and a pool that would reconnect by the old name finds no such database."""
    dsn = await clones.take()
    oid = await oid_of(dsn)
    forgotten = await asyncpg.connect(dsn)
    await clones.give_back(dsn)
    again = await clones.take()
    assert await oid_of(again) == oid
    with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)):
        await forgotten.fetchval("SELECT 1")
    forgotten.terminate()
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await asyncpg.connect(dsn)
    await clones.give_back(again)


async def test_close_drops_every_database_kept(
    kbcore_server_dsn: str, kbcore_template: str
) -> None:
    """At the end of a session no clone is left on the server."""
    clones = DatabaseClones(kbcore_server_dsn, kbcore_template)
    first, second = await clones.take(), await clones.take()
    kept = {await oid_of(first), await oid_of(second)}
    await clones.give_back(first)
    await clones.give_back(second)
    assert kept <= await oids(kbcore_server_dsn)
    await clones.close()
    assert not kept & await oids(kbcore_server_dsn)
