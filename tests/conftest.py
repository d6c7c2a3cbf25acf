"""Shared fixtures: stores (memory and PostgreSQL), throwaway databases, hypothesis profiles.

PostgreSQL comes from ``KBCORE_TEST_DSN`` (or ``DATABASE_URL``) when set, otherwise from
an embedded server started once per session. Every test that touches it gets a fresh
database cloned from a template migrated once, and is marked ``database`` so that CI
can rerun exactly those tests against another server version with ``-m database``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Protocol
from uuid import UUID

import asyncpg
import attrs
import pytest
from hypothesis import HealthCheck, settings

from kbcore import KnowledgeBase
from kbcore.memory import MemoryStore
from kbcore.ports import Store
from kbcore.postgres import PostgresStore
from kbcore.testing import database

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


class HostTables(Protocol):
    """The host's ``agents`` and ``integrations`` rows, written behind the store's back."""

    async def add_agent(self, org_id: UUID, role: str, vapi_assistant_id: str | None) -> UUID: ...

    async def set_vapi_key(self, org_id: UUID, key: str) -> None: ...


@attrs.frozen
class MemoryHostTables:
    store: MemoryStore

    async def add_agent(self, org_id: UUID, role: str, vapi_assistant_id: str | None) -> UUID:
        return self.store.add_agent(org_id, role=role, vapi_assistant_id=vapi_assistant_id).agent_id

    async def set_vapi_key(self, org_id: UUID, key: str) -> None:
        self.store.set_vapi_key(org_id, key)


@attrs.frozen
class PostgresHostTables:
    pool: asyncpg.Pool

    async def add_agent(self, org_id: UUID, role: str, vapi_assistant_id: str | None) -> UUID:
        agent_id: UUID = await self.pool.fetchval(
            "INSERT INTO agents (org_id, role, vapi_assistant_id) VALUES ($1, $2, $3) RETURNING id",
            org_id,
            role,
            vapi_assistant_id,
        )
        return agent_id

    async def set_vapi_key(self, org_id: UUID, key: str) -> None:
        await self.pool.execute(
            """
            INSERT INTO integrations (org_id, provider, config)
            VALUES ($1, 'vapi', jsonb_build_object('vapi_api_key', $2::text))
            ON CONFLICT (org_id, provider) DO UPDATE SET config = excluded.config
            """,
            org_id,
            key,
        )


@pytest.fixture
def host_tables(store: Store, request: pytest.FixtureRequest) -> HostTables:
    """Writes agents and Vapi keys where the ``store`` fixture's store reads them."""
    if isinstance(store, MemoryStore):
        return MemoryHostTables(store)
    return PostgresHostTables(request.getfixturevalue("pg_pool"))
