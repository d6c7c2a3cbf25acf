"""Shared fixtures: stores (memory and PostgreSQL), throwaway databases, hypothesis profiles.

The fixtures come from kbcore's own pytest plugin, the one downstream projects use;
this suite overrides only ``kbcore_store``, so that the plugin's fixtures run on each store.
PostgreSQL comes from ``KBCORE_TEST_DSN`` (or ``DATABASE_URL``) when set, otherwise from
an embedded server started once per session. Every test that touches it gets a fresh
database cloned from a template migrated once, and is marked ``database`` so that CI
can rerun exactly those tests against another server version with ``-m database``.

Hypothesis runs the ``ci`` profile unless ``HYPOTHESIS_PROFILE`` names another
(``thorough`` for long local runs).
"""

from __future__ import annotations

import os
import uuid
from uuid import UUID

import asyncpg
import pytest
from hypothesis import HealthCheck, settings

from kbcore._ports import Store
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore
from tests.stores import EACH_STORE

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``database`` every test that uses a fixture reaching PostgreSQL."""
    # Imported here, not at the top: pytest imports the plugin itself (from
    # pytest_plugins, after this module) and cannot prepare a module imported earlier.
    from kbcore.testing.pytest_plugin import DATABASE_FIXTURES

    for item in items:
        if DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.database)


@pytest.fixture(params=EACH_STORE)
def kbcore_store(request: pytest.FixtureRequest) -> Store:
    """Each store in turn, empty, instead of the plugin's PostgreSQL only.

    The plugin's fixtures built on it (``kbcore_kb``, ``kbcore_host_tables``,
    ``kbcore_coordinator``, ...) run on each store in turn too.
    """
    if request.param == "memory":
        return MemoryStore()
    pool: asyncpg.Pool = request.getfixturevalue("kbcore_pool")
    return PostgresStore(pool)


@pytest.fixture
def org() -> UUID:
    """A new org, with nothing in it yet."""
    return uuid.uuid4()
