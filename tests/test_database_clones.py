"""kbcore.testing.clones: a database given back is emptied and handed out again, unless the
test changed its schema; then it is dropped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

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


def name_of(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


async def databases(server_dsn: str) -> set[str]:
    conn = await asyncpg.connect(server_dsn)
    try:
        return {row["datname"] for row in await conn.fetch("SELECT datname FROM pg_database")}
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
    """Documents, history, passages and the sequence are gone; the migrations stay."""
    dsn = await clones.take()
    await write_a_document(dsn)
    await clones.give_back(dsn)
    again = await clones.take()
    assert again == dsn
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
        "DO $$ BEGIN EXECUTE format("
        "'ALTER DATABASE %I SET work_mem = ''8MB''', current_database()); END $$",
    ],
    ids=["table", "column", "index", "truncate", "function", "index-option", "schema", "setting"],
)
async def test_a_database_whose_schema_a_test_changed_is_dropped(
    clones: DatabaseClones, kbcore_server_dsn: str, statement: str
) -> None:
    """The next take() is a new clone; the changed one no longer exists."""
    dsn = await clones.take()
    await on(dsn, statement)
    await clones.give_back(dsn)
    assert name_of(dsn) not in await databases(kbcore_server_dsn)
    again = await clones.take()
    assert again != dsn
    await clones.give_back(again)


async def test_sessions_left_open_are_ended_before_the_database_is_reused(
    clones: DatabaseClones,
) -> None:
    """A connection the test forgot cannot see, or write into, the next test's database."""
    dsn = await clones.take()
    forgotten = await asyncpg.connect(dsn)
    await clones.give_back(dsn)
    assert await clones.take() == dsn
    with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)):
        await forgotten.fetchval("SELECT 1")
    forgotten.terminate()
    await clones.give_back(dsn)


async def test_close_drops_every_database_kept(
    kbcore_server_dsn: str, kbcore_template: str
) -> None:
    """At the end of a session no clone is left on the server."""
    clones = DatabaseClones(kbcore_server_dsn, kbcore_template)
    first, second = await clones.take(), await clones.take()
    await clones.give_back(first)
    await clones.give_back(second)
    assert {name_of(first), name_of(second)} <= await databases(kbcore_server_dsn)
    await clones.close()
    assert not {name_of(first), name_of(second)} & await databases(kbcore_server_dsn)
