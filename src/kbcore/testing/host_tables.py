"""Rows of the host's own tables (agents, the Vapi integration), for tests on any store.

A test that needs an org with agents or a Vapi key writes them here, the way the host
application (or ``kbcore.SyncSetup``) would.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

import asyncpg
import attrs

from kbcore._domain import Secret
from kbcore._ports import SetupState, Store
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


class _ThroughTheStore:
    """Writes the rows through the store's own ``SetupState``, as ``kbcore.SyncSetup`` does."""

    __slots__ = ()

    def _setup_state(self) -> SetupState:
        raise NotImplementedError

    async def add_agent(self, org_id: UUID, role: str, vapi_assistant_id: str | None) -> UUID:
        agent = await self._setup_state().insert_agent(org_id, role, vapi_assistant_id)
        return agent.agent_id

    async def set_vapi_key(self, org_id: UUID, key: str) -> None:
        await self._setup_state().store_vapi_key(org_id, Secret(key))


@attrs.frozen
class MemoryHostTables(_ThroughTheStore):
    """A ``MemoryStore``'s stand-ins for the host's tables (``add_agent``, ``set_vapi_key``)."""

    store: MemoryStore

    def _setup_state(self) -> SetupState:
        return self.store


@attrs.frozen
class PostgresHostTables(_ThroughTheStore):
    """Rows of the host's tables (kbcore's minimal ones, created by ``migrate`` when the
    host has none, or the host's own)."""

    pool: asyncpg.Pool

    def _setup_state(self) -> SetupState:
        return PostgresStore(self.pool)


def host_tables_for(store: Store, pool: asyncpg.Pool | None = None) -> HostTables:
    """The host tables ``store`` reads: its own for a MemoryStore, ``pool``'s otherwise."""
    if isinstance(store, MemoryStore):
        return MemoryHostTables(store)
    if isinstance(store, PostgresStore) and pool is not None:
        return PostgresHostTables(pool)
    raise TypeError(f"No host tables for {type(store).__name__} without its pool")
