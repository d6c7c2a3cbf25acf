"""Agents and Vapi keys written as a host would are read back the same by every store."""

from __future__ import annotations

import uuid

import pytest

from kbcore._ports import Store
from kbcore.testing.host_tables import HostTables

pytestmark = pytest.mark.anyio


async def test_agents_written_by_the_host_are_the_orgs_assistants(
    store: Store, host_tables: HostTables
) -> None:
    """Only the org's agents of the wanted roles come back, with their ids and Vapi ids."""
    org = uuid.uuid4()
    inbound = await host_tables.add_agent(org, "inbound", "asst-1")
    outbound = await host_tables.add_agent(org, "outbound", None)
    await host_tables.add_agent(org, "supervisor", "asst-2")
    await host_tables.add_agent(uuid.uuid4(), "inbound", "asst-3")
    found = await store.assistants(org, ["inbound", "outbound"])
    assert sorted((a.agent_id, a.role, a.vapi_assistant_id) for a in found) == sorted(
        [(inbound, "inbound", "asst-1"), (outbound, "outbound", None)]
    )


async def test_the_last_vapi_key_set_is_the_orgs_key(store: Store, host_tables: HostTables) -> None:
    """Setting a key twice replaces it; another org has none."""
    org = uuid.uuid4()
    await host_tables.set_vapi_key(org, "sk-old")
    await host_tables.set_vapi_key(org, "sk-new")
    key = await store.vapi_key(org)
    other = await store.vapi_key(uuid.uuid4())
    assert key is not None
    assert (key.value, other) == ("sk-new", None)
