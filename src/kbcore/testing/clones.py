"""Migrated databases for tests, cloned from a template once and emptied between tests.

Cloning a database is the dear part of a test that needs one: ``CREATE DATABASE ...
TEMPLATE`` copies the template's every page (system catalogs included, about 8 MB) and
``DROP DATABASE`` removes them again, some 130 ms for the pair on an idle server, and a
server does only about seven pairs a second however many test processes ask. Most tests
change only rows, so ``DatabaseClones`` hands a database given back to the next test
after deleting its rows, when the test left its schema as the template has it. A test
that changed the schema (created a table, altered a column, ran ``TRUNCATE``, set a
database option) or left a prepared transaction gets its database dropped, as before.

How a schema change is seen: every catalog row that DDL writes carries the id of the
transaction that wrote it (``xmin``). A clone is handed out with the current transaction
id noted; when it comes back, a catalog row with a later id means the test changed the
schema. Statistics that VACUUM and ANALYZE keep in the catalog are written in place,
without a new id, so they do not count.
"""

from __future__ import annotations

import graphlib

import asyncpg
import attrs

from kbcore.testing.database import create_database, drop_database, unique_name, with_database

__all__ = ["DatabaseClones"]

# The catalogs that DDL writes, per database. (pg_database and pg_db_role_setting are
# shared by every database: they are asked about apart.)
_CATALOGS = (
    "pg_class",
    "pg_attribute",
    "pg_attrdef",
    "pg_constraint",
    "pg_index",
    "pg_trigger",
    "pg_proc",
    "pg_type",
    "pg_namespace",
    "pg_rewrite",
    "pg_policy",
    "pg_extension",
    "pg_event_trigger",
    "pg_publication",
    "pg_statistic_ext",
)

_CHANGED = " OR ".join(
    f"EXISTS (SELECT FROM pg_catalog.{catalog} WHERE xmin::text::bigint >= $1)"
    for catalog in _CATALOGS
)

# True when the database must not be handed out again: its schema changed since ``$1``
# (the transaction id noted when it was handed out), a database-level setting was made,
# or a prepared transaction still holds its locks.
_SPOILED = f"""
SELECT {_CHANGED}
    OR EXISTS (
        SELECT FROM pg_catalog.pg_db_role_setting AS s
        JOIN pg_catalog.pg_database AS d ON d.oid = s.setdatabase
        WHERE d.datname = current_database()
    )
    OR EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts WHERE database = current_database())
"""  # noqa: S608

# The transaction ids of the catalogs' rows, 32 bits wide like xmin.
_NOW = "SELECT (pg_catalog.txid_current() % 4294967296)::bigint"

# Ends every other session on the database, waiting up to 5 s for each to go.
_END_SESSIONS = """
SELECT count(*) FILTER (WHERE NOT pg_catalog.pg_terminate_backend(pid, 5000))
FROM pg_catalog.pg_stat_activity
WHERE datname = current_database() AND pid <> pg_catalog.pg_backend_pid()
"""

# The user tables with rows to delete, and the foreign keys between them.
_TABLES = """
SELECT c.oid::regclass::text AS name
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
"""
_REFERENCES = """
SELECT conrelid::regclass::text AS referencing, confrelid::regclass::text AS referenced
FROM pg_catalog.pg_constraint WHERE contype = 'f' AND conrelid <> confrelid
"""
# Every sequence back at its start, as the template has it (none of them used yet).
_RESTART_SEQUENCES = (
    "SELECT pg_catalog.setval(seqrelid, seqstart, false) FROM pg_catalog.pg_sequence;"
)


@attrs.define
class DatabaseClones:
    """Databases cloned from ``template`` on the server of ``server_dsn``, reused when clean.

    ``take()`` gives the DSN of a database with the template's schema and rows: a new
    clone, or one given back and emptied. ``give_back(dsn)`` ends the sessions still on
    it, and keeps it for the next ``take()`` or drops it (see the module's docstring).
    ``close()`` drops every database kept. The template's rows (kbcore's migration
    ledger) are kept as they are; every other table is emptied and every sequence
    restarted. One instance serves one event loop at a time, as a test session does.
    """

    server_dsn: str
    template: str
    _free: list[str] = attrs.field(factory=list, init=False)
    # DSN -> the database's name and the transaction id noted when it was handed out.
    _taken: dict[str, tuple[str, int]] = attrs.field(factory=dict, init=False)
    _emptying: str | None = attrs.field(default=None, init=False)

    async def take(self) -> str:
        """The DSN of a database of the caller's own, with the template's schema and rows."""
        if self._free:
            name = self._free.pop()
            dsn = with_database(self.server_dsn, name)
        else:
            name = unique_name()
            dsn = await create_database(self.server_dsn, name, template=self.template)
        conn = await asyncpg.connect(dsn)
        try:
            self._taken[dsn] = (name, await conn.fetchval(_NOW))
        finally:
            await conn.close()
        return dsn

    async def give_back(self, dsn: str) -> None:
        """Empty the database for the next ``take()``, or drop it if its schema changed."""
        name, since = self._taken.pop(dsn)
        if await self._emptied(dsn, since):
            self._free.append(name)
        else:
            await drop_database(self.server_dsn, name)

    async def _emptied(self, dsn: str, since: int) -> bool:
        """Whether the database is as the template was, now: no session left on it, its
        schema unchanged, its rows deleted."""
        conn = await asyncpg.connect(dsn)
        try:
            if await conn.fetchval(_END_SESSIONS) or await conn.fetchval(_SPOILED, since):
                return False
            if self._emptying is None:
                self._emptying = await _emptying_script(conn)
            await conn.execute(self._emptying)
        except asyncpg.PostgresError:
            return False  # whatever stood in the way, dropping the database gets past it
        else:
            return True
        finally:
            await conn.close()

    async def close(self) -> None:
        """Drop every database kept for reuse."""
        while self._free:
            await drop_database(self.server_dsn, self._free.pop())


async def _emptying_script(conn: asyncpg.Connection) -> str:
    """DELETEs of every table but the ledger, referencing tables first, then the sequences'
    restarts: one script, one round trip. DELETE, not TRUNCATE: TRUNCATE gives a table new
    files, a catalog change, and costs more than the few rows a test leaves."""
    tables = [row["name"] for row in await conn.fetch(_TABLES)]
    order: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for table in tables:
        order.add(table)
    for row in await conn.fetch(_REFERENCES):
        # A referenced table is emptied after the tables that reference it.
        order.add(row["referenced"], row["referencing"])
    deletes = [
        f"DELETE FROM {table};"  # noqa: S608 (names the server gave, as regclass quotes them)
        for table in order.static_order()
        if table in tables and table != _LEDGER
    ]
    return "\n".join([*deletes, _RESTART_SEQUENCES])


_LEDGER = "kbcore_schema_migrations"
