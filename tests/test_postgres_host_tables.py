"""PostgresStore's reads of the host's tables: agents and the Vapi integration."""

from __future__ import annotations

import json
import uuid
from uuid import UUID

import asyncpg
import pytest

from kbcore.postgres import PostgresStore

pytestmark = [pytest.mark.anyio, pytest.mark.database]


async def add_integration(pool: asyncpg.Pool, org: UUID, provider: str, config: object) -> None:
    await pool.execute(
        "INSERT INTO integrations (org_id, provider, config) VALUES ($1, $2, $3::text::jsonb)",
        org,
        provider,
        json.dumps(config),
    )


async def test_vapi_key_comes_from_the_orgs_vapi_integration(
    kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """The key is config->>'vapi_api_key' of the org's vapi row; other rows do not count."""
    other_org = uuid.uuid4()
    await add_integration(kbcore_pool, org, "vapi", {"vapi_api_key": "sk-org"})
    await add_integration(kbcore_pool, org, "twilio", {"vapi_api_key": "sk-wrong-provider"})
    await add_integration(kbcore_pool, other_org, "vapi", {"vapi_api_key": "sk-other"})
    key = await PostgresStore(kbcore_pool).vapi_key(org)
    assert key is not None
    assert key.value == "sk-org"
    assert "sk-org" not in repr(key)


@pytest.mark.parametrize(
    "config",
    [None, {}, {"vapi_api_key": ""}, {"other": "x"}],
    ids=["none", "empty", "blank", "other"],
)
async def test_no_usable_vapi_key_is_none(
    kbcore_pool: asyncpg.Pool, org: UUID, config: dict[str, str] | None
) -> None:
    """No vapi row, or one without a non-empty key, means no key (the service falls back)."""
    if config is not None:
        await add_integration(kbcore_pool, org, "vapi", config)
    assert await PostgresStore(kbcore_pool).vapi_key(org) is None


async def test_assistants_are_the_orgs_agents_of_the_wanted_roles(
    kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """Agents of other roles and other orgs are left out; a missing Vapi id is kept."""
    rows = [
        (org, "inbound", "asst-in"),
        (org, "outbound", None),
        (org, "supervisor", "asst-sup"),
        (uuid.uuid4(), "inbound", "asst-other-org"),
    ]
    await kbcore_pool.executemany(
        "INSERT INTO agents (org_id, role, vapi_assistant_id) VALUES ($1, $2, $3)", rows
    )
    found = await PostgresStore(kbcore_pool).assistants(org, ["inbound", "outbound"])
    assert sorted((a.org_id, a.role, a.vapi_assistant_id) for a in found) == [
        (org, "inbound", "asst-in"),
        (org, "outbound", None),
    ]
