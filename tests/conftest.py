"""Shared fixtures: stores (memory and PostgreSQL), throwaway databases, hypothesis profiles.

PostgreSQL comes from ``KBCORE_TEST_DSN`` (or ``DATABASE_URL``) when set, otherwise from
an embedded server started once per session. Every test that touches it gets a fresh
database cloned from a template migrated once, and is marked ``database`` so that CI
can rerun exactly those tests against another server version with ``-m database``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from hypothesis import HealthCheck, settings

from kbcore import KnowledgeBase
from kbcore.memory import MemoryStore
from kbcore.ports import Store
from kbcore.postgres import PostgresStore
from kbcore.testing import database
from kbcore.testing.host_tables import HostTables, host_tables_for

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("thorough", settings.get_profile("ci"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: Fixtures that reach PostgreSQL; a test that uses any of them is a ``database`` test.
_DATABASE_FIXTURES = frozenset(
    {"pg_server_dsn", "pg_template", "pg_dsn", "pg_empty_dsn", "pg_pool"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.database)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # asyncpg runs on asyncio only.
    return "asyncio"


@pytest.fixture(scope="session")
def pg_server_dsn() -> Iterator[str]:
    """DSN of the session's PostgreSQL server (its maintenance database)."""
    with database.postgres_server() as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def pg_template(pg_server_dsn: str) -> AsyncIterator[str]:
    """Name of a database migrated once per session, cloned for each test."""
    name = await database.create_template(pg_server_dsn)
    yield name
    await database.drop_database(pg_server_dsn, name)


@pytest.fixture
async def pg_dsn(pg_server_dsn: str, pg_template: str) -> AsyncIterator[str]:
    """DSN of a fresh, migrated database of this test's own, dropped afterwards."""
    async with database.temporary_database(pg_server_dsn, template=pg_template) as dsn:
        yield dsn


@pytest.fixture
async def pg_empty_dsn(pg_server_dsn: str) -> AsyncIterator[str]:
    """DSN of a fresh database with no schema at all, dropped afterwards."""
    async with database.temporary_database(pg_server_dsn) as dsn:
        yield dsn


@pytest.fixture
async def pg_pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this test's migrated database."""
    async with asyncpg.create_pool(pg_dsn, min_size=1, max_size=5) as pool:
        yield pool


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.database),
    ]
)
def store(request: pytest.FixtureRequest) -> Store:
    """Each store implementation in turn, empty."""
    if request.param == "memory":
        return MemoryStore()
    pool: asyncpg.Pool = request.getfixturevalue("pg_pool")
    return PostgresStore(pool)


@pytest.fixture
def kb(store: Store) -> KnowledgeBase:
    return KnowledgeBase(store)


@pytest.fixture
def host_tables(store: Store, request: pytest.FixtureRequest) -> HostTables:
    """Writes agents and Vapi keys where the ``store`` fixture's store reads them."""
    pool = None if isinstance(store, MemoryStore) else request.getfixturevalue("pg_pool")
    return host_tables_for(store, pool)
