"""An org's agents and Vapi key in memory: what postgres/_setup.py does with the host's tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from uuid import UUID

import anyio

from kbcore._domain import Assistant, Secret
from kbcore.memory._requests import resume_parked
from kbcore.memory._tables import Clock, Tables


class MemorySetupState:
    """``SetupState`` for ``MemoryStore``; ``vapi_key`` is ``MemorySyncState``'s."""

    __slots__ = ()
    _tables: Tables
    _clock: Clock
    _lock: anyio.Lock

    async def agents(self, org_id: UUID) -> Sequence[Assistant]:
        mine = (agent for agent in self._tables.agents if agent.org_id == org_id)
        return sorted(mine, key=lambda agent: (agent.role, agent.agent_id))

    async def insert_agent(
        self, org_id: UUID, role: str, vapi_assistant_id: str | None
    ) -> Assistant:
        async with self._lock:
            resume_parked(self._tables, org_id, self._clock.now())
            return add_agent(self._tables, org_id, role, vapi_assistant_id)

    async def delete_agent(self, org_id: UUID, agent_id: UUID) -> Assistant | None:
        async with self._lock:
            agents = self._tables.agents
            found = [a for a in agents if a.org_id == org_id and a.agent_id == agent_id]
            self._tables.agents = [a for a in agents if a not in found]
            if not found:
                return None
            resume_parked(self._tables, org_id, self._clock.now())
            return found[0]

    async def store_vapi_key(self, org_id: UUID, key: Secret) -> None:
        async with self._lock:
            self._tables.vapi_keys[org_id] = key.value
            resume_parked(self._tables, org_id, self._clock.now())


def add_agent(
    tables: Tables,
    org_id: UUID,
    role: str,
    vapi_assistant_id: str | None,
    agent_id: UUID | None = None,
) -> Assistant:
    """Add a row to the agents table, with a new id unless one is given."""
    agent = Assistant(
        agent_id=uuid.uuid4() if agent_id is None else agent_id,
        org_id=org_id,
        role=role,
        vapi_assistant_id=vapi_assistant_id,
    )
    tables.agents.append(agent)
    return agent
