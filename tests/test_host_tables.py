"""Agents and Vapi keys written as a host would are read back the same by every store."""

from __future__ import annotations

import uuid

import pytest

from kbcore._ports import Store
from kbcore.testing.host_tables import HostTables

pytestmark = pytest.mark.anyio


async def test_agents_written_by_the_host_are_the_orgs_assistants(
    kbcore_store: Store, kbcore_host_tables: HostTables
) -> None:
    """Only the org's agents of the wanted roles come back, with their ids and Vapi ids."""
    org = uuid.uuid4()
    inbound = await kbcore_host_tables.add_agent(org, "inbound", "asst-1")
    outbound = await kbcore_host_tables.add_agent(org, "outbound", None)
    await kbcore_host_tables.add_agent(org, "supervisor", "asst-2")
    await kbcore_host_tables.add_agent(uuid.uuid4(), "inbound", "asst-3")
    found = await kbcore_store.assistants(org, ["inbound", "outbound"])
    assert sorted((a.agent_id, a.role, a.vapi_assistant_id) for a in found) == sorted(
        [(inbound, "inbound", "asst-1"), (outbound, "outbound", None)]
    )


async def test_the_last_vapi_key_set_is_the_orgs_key(
    kbcore_store: Store, kbcore_host_tables: HostTables
) -> None:
    """Setting a key twice replaces it; another org has none."""
    org = uuid.uuid4()
    await kbcore_host_tables.set_vapi_key(org, "sk-old")
    await kbcore_host_tables.set_vapi_key(org, "sk-new")
    key = await kbcore_store.vapi_key(org)
    other = await kbcore_store.vapi_key(uuid.uuid4())
    assert key is not None
    assert (key.value, other) == ("sk-new", None)
