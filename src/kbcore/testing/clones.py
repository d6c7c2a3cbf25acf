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
id and the row count of each catalog noted; when it comes back, a catalog row written
since (a younger ``xmin``), or a count that differs (a DROP deletes rows and writes none),
means the test changed the schema. Statistics that VACUUM and ANALYZE keep in the catalog
are written in place, without a new id, so they do not count. The tables that the template
holds rows in (kbcore's migration ledger; a host's seed rows) are kept, and compared with
the template's: a test that changed them gets its clone dropped too. A clone handed out
again has a new name, so that nothing left over from the last test (a process, a pool
that reconnects) can reach it.
"""

from __future__ import annotations

import graphlib

import asyncpg
import attrs

from kbcore.testing.database import create_database, drop_database, unique_name, with_database

__all__ = ["DatabaseClones"]

# The catalogs that DDL writes, per database. (pg_database and pg_db_role_setting are
# shared by every database: the database's own rows are asked about apart.)
_CATALOGS = (
    "pg_class",
    "pg_attribute",
    "pg_attrdef",
    "pg_constraint",
    "pg_index",
    "pg_inherits",
    "pg_trigger",
    "pg_proc",
    "pg_type",
    "pg_enum",
    "pg_sequence",
    "pg_namespace",
    "pg_rewrite",
    "pg_policy",
    "pg_depend",
    "pg_description",
    "pg_default_acl",
    "pg_extension",
    "pg_event_trigger",
    "pg_publication",
    "pg_statistic_ext",
    "pg_ts_config_map",
    "pg_largeobject_metadata",
)

# Noted when a clone is handed out: the transaction id (32 bits, as xmin) and the row
# count of each catalog.
_COUNTS = ", ".join(f"(SELECT count(*) FROM pg_catalog.{c})" for c in _CATALOGS)  # noqa: S608
_MARK = f"""
SELECT (pg_catalog.txid_current() % 4294967296)::text AS xid, ARRAY[{_COUNTS}] AS counts
"""

# A row written since the transaction ``$1`` is younger than it; age() stays right across
# the wraparound of 32-bit transaction ids, and frozen rows are the oldest of all.
_WRITTEN_SINCE = " OR ".join(
    f"EXISTS (SELECT FROM pg_catalog.{c} WHERE age(xmin) <= age($1::text::xid))" for c in _CATALOGS
)

# True when the database must not be handed out again: a catalog row written since ``$1``
# (the transaction id noted when it was handed out), a change to the database itself or
# its settings, or a prepared transaction still holding its locks.
_SPOILED = f"""
SELECT {_WRITTEN_SINCE}
    OR EXISTS (
        SELECT FROM pg_catalog.pg_database
        WHERE datname = current_database() AND age(xmin) <= age($1::text::xid)
    )
    OR EXISTS (
        SELECT FROM pg_catalog.pg_db_role_setting AS s
        JOIN pg_catalog.pg_database AS d ON d.oid = s.setdatabase
        WHERE d.datname = current_database()
    )
    OR EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts WHERE database = current_database())
"""  # noqa: S608

# Ends every other session on the database, waiting up to 5 s for each to go
# (PostgreSQL 14 and later; on older servers the call fails and the clone is dropped).
_END_SESSIONS = """
SELECT count(*) FILTER (WHERE NOT pg_catalog.pg_terminate_backend(pid, 5000))
FROM pg_catalog.pg_stat_activity
WHERE datname = current_database() AND pid <> pg_catalog.pg_backend_pid()
"""

# The user tables, and the foreign keys between them.
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
# Every sequence back at its start (the template's are unused: every table it holds rows
# in, the ledger, is keyed by its own columns).
_RESTART_SEQUENCES = (
    "SELECT pg_catalog.setval(seqrelid, seqstart, false) FROM pg_catalog.pg_sequence;"
)


@attrs.frozen
class _Layout:
    """What emptying a clone takes, read from a new clone: the DELETEs of the tables the
    template holds no rows in (referencing tables first) and the sequences' restarts, in
    one script; and a query giving a digest of the tables it holds rows in."""

    emptying: str
    kept_rows: str


@attrs.frozen
class _Handout:
    name: str
    xid: str
    counts: list[int]


@attrs.define
class DatabaseClones:
    """Databases cloned from ``template`` on the server of ``server_dsn``, reused when clean.

    ``take()`` gives the DSN of a database with the template's schema and rows: a new
    clone, or one given back, emptied and renamed. ``give_back(dsn)`` ends the sessions
    still on it, and keeps it for the next ``take()`` or drops it (see the module's
    docstring). ``close()`` drops every database kept. One instance serves one event loop
    at a time, as a test session does.
    """

    server_dsn: str
    template: str
    _free: list[str] = attrs.field(factory=list, init=False)
    _taken: dict[str, _Handout] = attrs.field(factory=dict, init=False)
    _layout: _Layout | None = attrs.field(default=None, init=False)
    _template_rows: str | None = attrs.field(default=None, init=False)

    async def take(self) -> str:
        """The DSN of a database of the caller's own, with the template's schema and rows."""
        new = not self._free
        name = unique_name() if new else self._free.pop()
        if new:
            await create_database(self.server_dsn, name, template=self.template)
        dsn = with_database(self.server_dsn, name)
        try:
            conn = await asyncpg.connect(dsn)
            try:
                if new and self._layout is None:
                    self._layout = await _layout(conn)
                    self._template_rows = await conn.fetchval(self._layout.kept_rows)
                mark = await conn.fetchrow(_MARK)
            finally:
                await conn.close()
        except BaseException:
            await drop_database(self.server_dsn, name)
            raise
        assert mark is not None
        self._taken[dsn] = _Handout(name, mark["xid"], list(mark["counts"]))
        return dsn

    async def give_back(self, dsn: str) -> None:
        """Empty the database for the next ``take()``, or drop it if the test changed it."""
        handout = self._taken.pop(dsn)
        name = handout.name
        try:
            reusable = await self._emptied(dsn, handout)
            if reusable:
                name = await self._renamed(name)
        except Exception:
            reusable = False  # whatever stood in the way, a drop gets past it
        if reusable:
            self._free.append(name)
        else:
            await drop_database(self.server_dsn, name)

    async def close(self) -> None:
        """Drop every database kept for reuse."""
        while self._free:
            await drop_database(self.server_dsn, self._free.pop())

    async def _emptied(self, dsn: str, handout: _Handout) -> bool:
        """Whether the database is as the template was, now: no session left on it, its
        schema and the template's rows unchanged, every other row deleted."""
        if self._layout is None:
            return False
        conn = await asyncpg.connect(dsn)
        try:
            if await conn.fetchval(_END_SESSIONS) or await conn.fetchval(_SPOILED, handout.xid):
                return False
            mark = await conn.fetchrow(_MARK)
            assert mark is not None
            if list(mark["counts"]) != handout.counts:
                return False
            if await conn.fetchval(self._layout.kept_rows) != self._template_rows:
                return False
            await conn.execute(self._layout.emptying)
        finally:
            await conn.close()
        return True

    async def _renamed(self, name: str) -> str:
        """The database under a new name: a session that reconnects by the old one fails."""
        new_name = unique_name()
        conn = await asyncpg.connect(self.server_dsn)
        try:
            await conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{new_name}"')
        finally:
            await conn.close()
        return new_name


async def _layout(conn: asyncpg.Connection) -> _Layout:
    """The emptying script and the digest query of a clone no test has touched yet."""
    tables = [row["name"] for row in await conn.fetch(_TABLES)]
    order: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for table in tables:
        order.add(table)
    for row in await conn.fetch(_REFERENCES):
        # A referenced table is emptied after the tables that reference it.
        order.add(row["referenced"], row["referencing"])
    kept = [t for t in tables if await conn.fetchval(f"SELECT EXISTS (SELECT FROM {t})")]  # noqa: S608
    deletes = [
        f"DELETE FROM {table};"  # noqa: S608 (names the server gave, as regclass quotes them)
        for table in order.static_order()
        if table in tables and table not in kept
    ]
    digests = [
        f"(SELECT md5(string_agg(r::text, ',' ORDER BY r::text)) FROM {t} AS r)"  # noqa: S608
        for t in kept
    ]
    kept_rows = "SELECT concat_ws('/', " + (", ".join(digests) or "''") + ")"
    return _Layout("\n".join([*deletes, _RESTART_SEQUENCES]), kept_rows)
