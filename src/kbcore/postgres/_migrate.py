"""Versioned schema migrations: plain ``.sql`` files shipped inside the package."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources

import asyncpg
import attrs
from asyncpg.pool import PoolConnectionProxy

from kbcore.postgres._connection import transaction
from kbcore.postgres._passages import fill_passages

#: Serialises concurrent ``migrate`` calls on one database ("kbcore" in ASCII).
_LOCK_KEY = 0x6B62636F7265

_FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS kbcore_schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


#: What follows a migration's SQL, in its transaction, where SQL alone cannot do the job:
#: 0007's passages of the documents already stored come from the splitter, in Python.
_DATA_STEPS: Mapping[int, Callable[[PoolConnectionProxy], Awaitable[None]]] = {
    7: fill_passages,
}


@attrs.frozen
class Migration:
    version: int
    name: str
    sql: str = attrs.field(repr=False)


def migrations() -> list[Migration]:
    """The migrations shipped with this version of kbcore, oldest first."""
    found = []
    for entry in resources.files("kbcore.postgres").joinpath("migrations").iterdir():
        match = _FILENAME.match(entry.name)
        if match is None:
            continue
        found.append(
            Migration(
                version=int(match["version"]),
                name=match["name"],
                sql=entry.read_text(encoding="utf-8"),
            )
        )
    return sorted(found, key=lambda migration: migration.version)


async def migrate(pool: asyncpg.Pool) -> list[int]:
    """Apply the migrations this database lacks, in order; return the versions applied.

    Idempotent, and safe when many processes call it at once: the advisory lock is
    taken before anything else (the version table included), so callers run one
    after another and all but the first find nothing to do. Everything pending is
    applied in one transaction, so a failure (``NotSaved``, or ``OutcomeUnknown`` when
    the answer to COMMIT was lost) leaves the schema as it was or fully migrated: run
    it again. Versions may have gaps: each is applied once, whenever it arrives, lowest
    pending first.
    """
    async with transaction(pool) as db:
        await db.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await db.execute(_CREATE_VERSION_TABLE)
        done = {
            row["version"] for row in await db.fetch("SELECT version FROM kbcore_schema_migrations")
        }
        applied = []
        for migration in migrations():
            if migration.version in done:
                continue
            await db.execute(migration.sql)
            step = _DATA_STEPS.get(migration.version)
            if step is not None:
                await step(db.conn)
            await db.execute(
                "INSERT INTO kbcore_schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied.append(migration.version)
    return applied
