"""Shared fixtures: stores (memory and PostgreSQL), throwaway databases, hypothesis profiles.

The database fixtures come from kbcore's own pytest plugin, the one downstream projects
use; the ``pg_*`` names below are this suite's aliases of the plugin's ``kbcore_*`` ones.
PostgreSQL comes from ``KBCORE_TEST_DSN`` (or ``DATABASE_URL``) when set, otherwise from
an embedded server started once per session. Every test that touches it gets a fresh
database cloned from a template migrated once, and is marked ``database`` so that CI
can rerun exactly those tests against another server version with ``-m database``.

Hypothesis runs the ``ci`` profile unless ``HYPOTHESIS_PROFILE`` names another
(``thorough`` for long local runs).
"""

from __future__ import annotations

import os

import asyncpg
import pytest
from hypothesis import HealthCheck, settings

from kbcore import KnowledgeBase
from kbcore._ports import Store
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore
from kbcore.testing.host_tables import HostTables

pytest_plugins = ["kbcore.testing.pytest_plugin"]

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

#: This suite's aliases of the plugin's fixtures that reach PostgreSQL.
_DATABASE_ALIASES = frozenset({"pg_server_dsn", "pg_template", "pg_dsn", "pg_empty_dsn", "pg_pool"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``database`` every test that uses a fixture reaching PostgreSQL."""
    # Imported here, not at the top: pytest imports the plugin itself (from
    # pytest_plugins, after this module) and cannot prepare a module imported earlier.
    from kbcore.testing.pytest_plugin import DATABASE_FIXTURES

    wanted = DATABASE_FIXTURES | _DATABASE_ALIASES
    for item in items:
        if wanted.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.database)


@pytest.fixture(scope="session")
def pg_server_dsn(kbcore_server_dsn: str) -> str:
    """DSN of the session's PostgreSQL server (its maintenance database)."""
    return kbcore_server_dsn


@pytest.fixture(scope="session")
def pg_template(kbcore_template: str) -> str:
    """Name of a database migrated once per session, cloned for each test."""
    return kbcore_template


@pytest.fixture
def pg_dsn(kbcore_database_dsn: str) -> str:
    """DSN of a fresh, migrated database of this test's own, dropped afterwards."""
    return kbcore_database_dsn


@pytest.fixture
def pg_empty_dsn(kbcore_empty_database_dsn: str) -> str:
    """DSN of a fresh database with no schema at all, dropped afterwards."""
    return kbcore_empty_database_dsn


@pytest.fixture
def pg_pool(kbcore_pool: asyncpg.Pool) -> asyncpg.Pool:
    """A pool on this test's migrated database."""
    return kbcore_pool


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
def kbcore_store(store: Store) -> Store:
    """In this suite the plugin's fixtures (``kbcore_kb``, ...) run on each store in turn."""
    return store


@pytest.fixture
def kb(kbcore_kb: KnowledgeBase) -> KnowledgeBase:
    return kbcore_kb


@pytest.fixture
def host_tables(kbcore_host_tables: HostTables) -> HostTables:
    """Writes agents and Vapi keys where the ``store`` fixture's store reads them."""
    return kbcore_host_tables
