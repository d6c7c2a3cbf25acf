"""An org's agents and Vapi key in PostgreSQL: rows of the host's own tables.

``agents`` and ``integrations`` belong to the host; kbcore's migrations create minimal
ones only where a database has none. So every write names only the columns kbcore
knows and relies on nothing but those: no ``ON CONFLICT`` (a host's ``integrations``
may have no unique key on org and provider), no cast of a role or a provider to text
on the way in (a host may have made them enum types, which take a literal or a typed
parameter alike). A host table that refuses the row is a ``HostTableError`` that names
the column or constraint, never the row's values: an integration's row holds the key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar
from uuid import UUID

import asyncpg

from kbcore._domain import Assistant, Secret
from kbcore.errors import HostTableError, NotSaved
from kbcore.postgres._connection import Db, transaction
from kbcore.postgres._failures import server_error
from kbcore.postgres._requests import RESUME_PARKED

T = TypeVar("T")

_AGENT_COLUMNS = "id, org_id, role::text AS role, vapi_assistant_id"

_AGENTS = f"""
SELECT {_AGENT_COLUMNS} FROM agents WHERE org_id = $1 ORDER BY role::text, id
"""  # noqa: S608

_INSERT_AGENT = f"""
INSERT INTO agents (org_id, role, vapi_assistant_id) VALUES ($1, $2, $3)
RETURNING {_AGENT_COLUMNS}
"""  # noqa: S608

_DELETE_AGENT = f"""
DELETE FROM agents WHERE org_id = $1 AND id = $2 RETURNING {_AGENT_COLUMNS}
"""  # noqa: S608

# Two statements that must not interleave with another process's: without a unique key
# on (org_id, provider), two first-time writers would each insert a row. The lock is
# the transaction's, per org ("kbvk" in ASCII, and the org's hash).
_LOCK_ORG_KEY = "SELECT pg_advisory_xact_lock(1801615979, hashtext($1::text))"

_UPDATE_KEY = """
UPDATE integrations
SET config = coalesce(config, '{}'::jsonb) || jsonb_build_object('vapi_api_key', $2::text)
WHERE org_id = $1 AND provider::text = 'vapi'
"""

_INSERT_KEY = """
INSERT INTO integrations (org_id, provider, config)
VALUES ($1, 'vapi', jsonb_build_object('vapi_api_key', $2::text))
"""


class PostgresSetupState:
    """``SetupState`` for ``PostgresStore``; ``vapi_key`` is ``PostgresSyncState``'s."""

    __slots__ = ()
    _pool: asyncpg.Pool
    _read: Db
    _write: Db

    async def agents(self, org_id: UUID) -> Sequence[Assistant]:
        return [_assistant(row) for row in await self._read.fetch(_AGENTS, org_id)]

    async def insert_agent(
        self, org_id: UUID, role: str, vapi_assistant_id: str | None
    ) -> Assistant:
        row = await _host_write(
            "agents", self._write.fetchrow(_INSERT_AGENT, org_id, role, vapi_assistant_id)
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        await self._write.execute(RESUME_PARKED, org_id)
        return _assistant(row)

    async def delete_agent(self, org_id: UUID, agent_id: UUID) -> Assistant | None:
        row = await _host_write("agents", self._write.fetchrow(_DELETE_AGENT, org_id, agent_id))
        if row is None:
            return None
        await self._write.execute(RESUME_PARKED, org_id)
        return _assistant(row)

    async def store_vapi_key(self, org_id: UUID, key: Secret) -> None:
        async with transaction(self._pool) as db:
            await db.execute(_LOCK_ORG_KEY, str(org_id))
            updated = await _host_write("integrations", db.execute(_UPDATE_KEY, org_id, key.value))
            if updated == "UPDATE 0":
                await _host_write("integrations", db.execute(_INSERT_KEY, org_id, key.value))
            await db.execute(RESUME_PARKED, org_id)


def _assistant(row: asyncpg.Record) -> Assistant:
    return Assistant(
        agent_id=row["id"],
        org_id=row["org_id"],
        role=row["role"],
        vapi_assistant_id=row["vapi_assistant_id"],
    )


async def _host_write(table: str, write: Awaitable[T]) -> T:
    """Await a write to a host table; a refusal becomes a ``HostTableError``.

    The server's error is left out altogether (raised after the ``except``, so not even
    its context is kept): for a refused integration row its detail quotes the row, key
    included. Its message is kept for ``agents`` only, where it names a value the caller
    gave (a role the host's enum lacks, say).
    """
    try:
        return await write
    except NotSaved as error:
        # ``Db`` maps every server error to ``NotSaved``; the server's own is its cause.
        refused = server_error(error)
        if isinstance(refused, asyncpg.NotNullViolationError):
            refusal = (
                f"The host's {table} table needs a value for "
                f"{refused.column_name or 'a column'}, which kbcore does not set; give the "
                f"column a default, or write {table} rows from the host application"
            )
        elif isinstance(refused, asyncpg.IntegrityConstraintViolationError):
            constraint = refused.constraint_name or "one of its constraints"
            refusal = f"The host's {table} table refused the row: it breaks {constraint}"
        elif isinstance(refused, asyncpg.DataError):
            why = f": {refused.message}" if table == "agents" else ""
            refusal = f"The host's {table} table does not take a value kbcore wrote{why}"
        else:
            raise
    raise HostTableError(table, refusal)
