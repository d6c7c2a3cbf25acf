"""SyncSetup: an org's agents and Vapi key, on every store and on a host's richer tables."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import httpx
import pytest
import structlog

import kbcore.logging
from kbcore import HostTableError, NotFound, SyncSetup, ValidationError
from kbcore._ports import Store
from kbcore.postgres import PostgresStore, migrate
from kbcore.sync import VapiKeyCheck
from kbcore.testing import FakeVapi
from tests.test_migrations import RICHER_HOST_TABLES

pytestmark = pytest.mark.anyio

SECRET = "sk-live-7f3a9c-do-not-print"


@pytest.fixture
def setup(kbcore_store: Store, fake_vapi_http: httpx.AsyncClient) -> SyncSetup:
    return SyncSetup(kbcore_store, http_client=fake_vapi_http)


async def test_agents_are_added_listed_and_removed(
    setup: SyncSetup, kbcore_store: Store, org: UUID
) -> None:
    """What add_agent writes is what a sync reads; remove takes it away again."""
    inbound = await setup.add_agent(org, role="inbound", vapi_assistant_id="asst-1")
    outbound = await setup.add_agent(str(org), role="outbound")
    await setup.add_agent(uuid.uuid4(), role="inbound", vapi_assistant_id="asst-other")
    assert (inbound.org_id, inbound.role, inbound.vapi_assistant_id) == (org, "inbound", "asst-1")
    assert await setup.agents(org) == [inbound, outbound]
    assert list(await kbcore_store.assistants(org, ["inbound"])) == [inbound]

    assert await setup.remove_agent(org, inbound.agent_id) == inbound
    assert await setup.agents(org) == [outbound]
    with pytest.raises(NotFound):
        await setup.remove_agent(org, inbound.agent_id)
    with pytest.raises(NotFound):  # another org's agent is not this org's to remove
        await setup.remove_agent(uuid.uuid4(), outbound.agent_id)
    assert await setup.agents(org) == [outbound]


@pytest.mark.parametrize(
    ("role", "assistant_id", "field"),
    [
        ("", None, "role"),
        ("  ", None, "role"),
        ("in\nbound", None, "role"),
        ("x" * 65, None, "role"),
        (7, None, "role"),
        ("inbound", "", "vapi_assistant_id"),
        ("inbound", "asst 1", "vapi_assistant_id"),
        ("inbound", "asst-é", "vapi_assistant_id"),
    ],
)
async def test_a_bad_agent_is_refused_and_nothing_written(
    setup: SyncSetup, org: UUID, role: object, assistant_id: object, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        await setup.add_agent(org, role=role, vapi_assistant_id=assistant_id)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert await setup.agents(org) == []


async def test_the_vapi_key_is_set_replaced_and_never_shown(
    setup: SyncSetup, kbcore_store: Store, org: UUID
) -> None:
    await setup.set_vapi_key(org, "sk-first")
    await setup.set_vapi_key(org, SECRET)
    key = await kbcore_store.vapi_key(org)
    assert key is not None
    assert key.value == SECRET
    assert await kbcore_store.vapi_key(uuid.uuid4()) is None
    assert SECRET not in repr(setup)
    for unusable in ("", "sk-two\nlines", f"{SECRET} ", "sk-é"):
        with pytest.raises(ValidationError) as refused:
            await setup.set_vapi_key(org, unusable)
        assert refused.value.field == "api_key"
        assert SECRET not in str(refused.value)
        assert unusable.strip() not in str(refused.value) or not unusable.strip()
    key = await kbcore_store.vapi_key(org)
    assert key is not None
    assert key.value == SECRET


async def test_check_lists_what_the_key_can_see(
    setup: SyncSetup, fake_vapi: FakeVapi, org: UUID
) -> None:
    """One GET; it names the assistants and the org's agents whose assistant Vapi lacks."""
    seen = fake_vapi.add_assistant(name="Inbound sales")
    await setup.set_vapi_key(org, fake_vapi.api_key)
    await setup.add_agent(org, role="inbound", vapi_assistant_id=seen)
    await setup.add_agent(org, role="outbound", vapi_assistant_id="asst-deleted-in-vapi")
    await setup.add_agent(org, role="supervisor")
    check = await setup.check_vapi_key(org)
    assert check == VapiKeyCheck(
        works=True,
        key_source="the org's Vapi integration",
        assistants=check.assistants,
        missing=("asst-deleted-in-vapi",),
    )
    assert [(a.id, a.name) for a in check.assistants] == [(seen, "Inbound sales")]
    assert [(r.method, r.path, r.query) for r in fake_vapi.requests] == [
        ("GET", "/assistant", "limit=1000")
    ]


async def test_check_says_when_the_key_is_rejected(
    setup: SyncSetup, fake_vapi: FakeVapi, org: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup.set_vapi_key(org, SECRET)
    assert await setup.check_vapi_key(org) == VapiKeyCheck(
        works=False, key_source="the org's Vapi integration"
    )
    assert len(fake_vapi.requests) == 1  # a rejected key is not retried
    # With no key of its own, the org uses VAPI_API_KEY, as a sync would.
    other = uuid.uuid4()
    monkeypatch.delenv("VAPI_API_KEY", raising=False)
    with pytest.raises(NotFound, match="No Vapi API key"):
        await setup.check_vapi_key(other)
    monkeypatch.setenv("VAPI_API_KEY", fake_vapi.api_key)
    check = await setup.check_vapi_key(other)
    assert (check.works, check.key_source) == (True, "VAPI_API_KEY")


async def test_no_secret_in_logs(setup: SyncSetup, org: UUID) -> None:
    """Setting and checking a key logs the org, never the key, at every level."""
    stream = io.StringIO()
    kbcore.logging.configure("DEBUG", json=True, stream=stream)
    try:
        await setup.set_vapi_key(org, SECRET)
        await setup.check_vapi_key(org)
    finally:
        structlog.reset_defaults()
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert "kbcore.setup.vapi_key_set" in events
    assert "kbcore.setup.vapi_key_rejected" in events
    assert SECRET not in stream.getvalue()


@pytest.fixture
async def host_pool(kbcore_empty_database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A database whose host has its own agents and integrations, then kbcore's schema.

    Its agents have no default id and need a name: kbcore cannot fill either.
    """
    async with asyncpg.create_pool(kbcore_empty_database_dsn, min_size=1, max_size=3) as pool:
        await pool.execute(RICHER_HOST_TABLES)
        await migrate(pool)
        yield pool


async def test_a_hosts_richer_tables_take_kbcores_rows(host_pool: asyncpg.Pool, org: UUID) -> None:
    """Defaults fill the rest; an enum role works; the key lands without a unique key on
    (org_id, provider), replaces itself, and keeps the integration's other settings."""
    await host_pool.execute(
        "ALTER TABLE agents ALTER COLUMN id SET DEFAULT gen_random_uuid(),"
        " ALTER COLUMN name SET DEFAULT 'Agent'"
    )
    store = PostgresStore(host_pool)
    setup = SyncSetup(store)
    agent = await setup.add_agent(org, role="supervisor", vapi_assistant_id="asst-1")
    assert await setup.agents(org) == [agent]
    assert await host_pool.fetchval("SELECT name FROM agents WHERE id = $1", agent.agent_id) == (
        "Agent"
    )
    with pytest.raises(HostTableError, match='invalid input value for enum agent_role: "sales"'):
        await setup.add_agent(org, role="sales")

    await host_pool.execute(
        """INSERT INTO integrations (org_id, provider, config)
        VALUES ($1, 'vapi', '{"region": "eu"}')""",
        org,
    )
    await setup.set_vapi_key(org, "sk-first")
    await setup.set_vapi_key(org, SECRET)
    new_org = uuid.uuid4()
    await setup.set_vapi_key(new_org, SECRET)
    rows = await host_pool.fetch("SELECT org_id, config FROM integrations ORDER BY id")
    assert [(row["org_id"], json.loads(row["config"])) for row in rows] == [
        (org, {"region": "eu", "vapi_api_key": SECRET}),
        (new_org, {"vapi_api_key": SECRET}),
    ]
    assert await setup.remove_agent(org, agent.agent_id) == agent


async def test_a_host_table_that_needs_more_is_a_clear_error(
    host_pool: asyncpg.Pool, org: UUID
) -> None:
    """A column kbcore cannot fill: a HostTableError naming it, nothing written, no key
    in the error, its message, its cause or its context."""
    await host_pool.execute("ALTER TABLE agents ALTER COLUMN id SET DEFAULT gen_random_uuid()")
    await host_pool.execute("ALTER TABLE integrations ADD COLUMN label text NOT NULL")
    setup = SyncSetup(PostgresStore(host_pool))
    with pytest.raises(HostTableError) as agents_refused:
        await setup.add_agent(org, role="inbound")
    assert agents_refused.value.table == "agents"
    assert str(agents_refused.value).startswith(
        "The host's agents table needs a value for name, which kbcore does not set"
    )
    with pytest.raises(HostTableError) as key_refused:
        await setup.set_vapi_key(org, SECRET)
    error = key_refused.value
    assert error.table == "integrations"
    assert "needs a value for label" in str(error)
    assert (error.__cause__, error.__context__) == (None, None)
    assert SECRET not in f"{error!s} {error!r}"
    assert await host_pool.fetchval("SELECT count(*) FROM agents") == 0
    assert await host_pool.fetchval("SELECT count(*) FROM integrations") == 0


async def test_removing_an_agent_the_host_still_refers_to_is_refused(
    host_pool: asyncpg.Pool, org: UUID
) -> None:
    await host_pool.execute(
        "ALTER TABLE agents ALTER COLUMN id SET DEFAULT gen_random_uuid(),"
        " ALTER COLUMN name SET DEFAULT 'Agent';"
        "CREATE TABLE calls (id serial PRIMARY KEY, agent_id uuid REFERENCES agents (id))"
    )
    setup = SyncSetup(PostgresStore(host_pool))
    agent = await setup.add_agent(org, role="inbound")
    await host_pool.execute("INSERT INTO calls (agent_id) VALUES ($1)", agent.agent_id)
    with pytest.raises(HostTableError, match="calls_agent_id_fkey"):
        await setup.remove_agent(org, agent.agent_id)
    assert await setup.agents(org) == [agent]
