"""Rows of the host's own tables (agents, the Vapi integration), for tests on any store.

kbcore only reads ``agents`` and ``integrations``; a test that needs an org with
agents or a Vapi key writes them here, the way the host application would.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

import asyncpg
import attrs

from kbcore._ports import Store
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore

__all__ = [
    "HostTables",
    "MemoryHostTables",
    "PostgresHostTables",
    "host_tables_for",
]


class HostTables(Protocol):
    """Where a test writes an org's agents and Vapi key, as the host application would."""

    async def add_agent(self, org_id: UUID, role: str, vapi_assistant_id: str | None) -> UUID:
        """Add an agent of the org; return its id."""
        ...

    async def set_vapi_key(self, org_id: UUID, key: str) -> None:
        """Configure (or replace) the org's Vapi private key."""
        ...


@attrs.frozen
class MemoryHostTables:
    """A ``MemoryStore``'s stand-ins for the host's tables (``add_agent``, ``set_vapi_key``)."""

    store: MemoryStore

    async def add_agent(self, org_id: UUID, role: str, vapi_assistant_id: str | None) -> UUID:
        agent = self.store.add_agent(org_id, role=role, vapi_assistant_id=vapi_assistant_id)
        return agent.agent_id

    async def set_vapi_key(self, org_id: UUID, key: str) -> None:
        self.store.set_vapi_key(org_id, key)


@attrs.frozen
class PostgresHostTables:
    """Plain SQL on kbcore's minimal tables (created by ``migrate`` when the host has none)."""

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


def host_tables_for(store: Store, pool: asyncpg.Pool | None = None) -> HostTables:
    """The host tables ``store`` reads: its own for a MemoryStore, ``pool``'s otherwise."""
    if isinstance(store, MemoryStore):
        return MemoryHostTables(store)
    if isinstance(store, PostgresStore) and pool is not None:
        return PostgresHostTables(pool)
    raise TypeError(f"No host tables for {type(store).__name__} without its pool")
