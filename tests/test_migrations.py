"""migrate(): versioned, idempotent, safe to run concurrently, and kind to a host's tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import asyncpg
import pytest

from kbcore import DuplicateFilename, KnowledgeBase
from kbcore.postgres import PostgresStore, migrate
from kbcore.postgres._migrate import migrations

pytestmark = [pytest.mark.anyio, pytest.mark.database]

# The existing system's tables with exactly the columns SPEC section 1 lists.
LEGACY_SCHEMA = """
CREATE TABLE knowledge_base (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    filename text,
    content text,
    category text DEFAULT 'general',
    version int DEFAULT 1,
    active boolean DEFAULT true,
    metadata jsonb DEFAULT '{}',
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);
CREATE TABLE knowledge_base_changelog (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    knowledge_base_id uuid REFERENCES knowledge_base (id),
    org_id uuid,
    version_from int,
    version_to int,
    change_type text,
    changed_by text,
    change_summary text,
    previous_content text,
    new_content text,
    created_at timestamptz DEFAULT now()
);
CREATE TABLE kb_sync_log (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    created_at timestamptz DEFAULT now(),
    tool_id text,
    status text,
    error_message text,
    duration_ms int,
    docs_synced int,
    assistants_updated int
);
CREATE INDEX kb_sync_log_org_id_idx ON kb_sync_log (org_id);
CREATE INDEX kb_sync_log_org_id_created_at_idx ON kb_sync_log (org_id, created_at DESC);
"""

# A host whose own agents and integrations carry more than kbcore reads.
RICHER_HOST_TABLES = """
CREATE TYPE agent_role AS ENUM ('inbound', 'outbound', 'supervisor');
CREATE TABLE agents (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL,
    name text NOT NULL,
    role agent_role NOT NULL,
    vapi_assistant_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE integrations (
    id bigserial PRIMARY KEY,
    org_id uuid NOT NULL,
    provider text NOT NULL,
    config jsonb,
    enabled boolean NOT NULL DEFAULT true
);
"""

SCHEMA_COLUMNS = """
SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity
FROM information_schema.columns
WHERE table_schema = 'public'
ORDER BY table_name, column_name
"""

SCHEMA_INDEXES = """
SELECT tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public'
ORDER BY tablename, indexname
"""


@pytest.fixture
async def empty_pool(kbcore_empty_database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a database with no tables at all."""
    async with asyncpg.create_pool(kbcore_empty_database_dsn, min_size=1, max_size=2) as pool:
        yield pool


async def schema(pool: asyncpg.Pool, *tables: str) -> list[tuple[Any, ...]]:
    """Columns and indexes of the public schema (or of ``tables``), as comparable rows."""
    rows = [*await pool.fetch(SCHEMA_COLUMNS), *await pool.fetch(SCHEMA_INDEXES)]
    return [tuple(row) for row in rows if not tables or row[0] in tables]


def test_shipped_migrations_are_numbered_from_one_in_order() -> None:
    """The package ships its .sql files from version 1, each number once, in order.

    A gap is harmless (each applied version is recorded), so work done on several
    migrations at once may reserve its numbers.
    """
    versions = [migration.version for migration in migrations()]
    assert versions[0] == 1
    assert versions == sorted(set(versions))


async def test_a_version_that_arrives_after_a_higher_one_is_applied_then(
    empty_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gap in the numbers is harmless: the missing version is applied when it ships."""
    shipped = migrations()
    # 0006 stands alone; 0009 builds on 0007's passages, so 0007 always comes first.
    [held_back] = [migration for migration in shipped if migration.version == 6]
    monkeypatch.setattr(
        "kbcore.postgres._migrate.migrations", lambda: [m for m in shipped if m is not held_back]
    )
    applied_first = await migrate(empty_pool)
    monkeypatch.setattr("kbcore.postgres._migrate.migrations", lambda: shipped)
    assert held_back.version not in applied_first
    assert await migrate(empty_pool) == [held_back.version]
    assert await migrate(empty_pool) == []


async def test_existing_documents_get_their_passages_and_counts(empty_pool: asyncpg.Pool) -> None:
    """Migration 0007 splits the active documents already stored; inactive ones get none."""
    org = uuid.uuid4()
    await empty_pool.execute(LEGACY_SCHEMA)
    await empty_pool.execute(
        "INSERT INTO knowledge_base (org_id, filename, content, active) VALUES"
        " ($1, 'pricing.md', '# Plans\n\nPro costs $99.\n\n# Trial\n\nFourteen days.', true),"
        " ($1, 'old.md', '# Old\n\nGone.', false)",
        org,
    )

    await migrate(empty_pool)

    rows = await empty_pool.fetch(
        "SELECT context, content FROM knowledge_passages WHERE org_id = $1 ORDER BY position", org
    )
    assert [(row["context"], row["content"]) for row in rows] == [
        ("pricing.md > Plans", "Pro costs $99."),
        ("pricing.md > Trial", "Fourteen days."),
    ]
    counted = "SELECT passages FROM knowledge_passage_orgs WHERE org_id = $1"
    assert await empty_pool.fetchval(counted, org) == 2


async def test_migrating_twice_applies_nothing_the_second_time(empty_pool: asyncpg.Pool) -> None:
    """The first run applies every migration and records it; the second finds nothing to do."""
    every = [migration.version for migration in migrations()]
    assert await migrate(empty_pool) == every
    assert await migrate(empty_pool) == []
    recorded = await empty_pool.fetch("SELECT version, name FROM kbcore_schema_migrations")
    assert [(row["version"], row["name"]) for row in recorded] == [
        (migration.version, migration.name) for migration in migrations()
    ]


async def test_concurrent_migrations_on_an_empty_database(
    kbcore_empty_database_dsn: str, kbcore_pool: asyncpg.Pool
) -> None:
    """Eight processes migrating at once: one applies, the rest wait, the schema is as usual."""
    results: list[list[int]] = []

    async def run() -> None:
        async with asyncpg.create_pool(kbcore_empty_database_dsn, min_size=1, max_size=1) as pool:
            results.append(await migrate(pool))

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(run)

    every = [migration.version for migration in migrations()]
    assert sorted(results) == [[]] * 7 + [every]
    async with asyncpg.create_pool(kbcore_empty_database_dsn, min_size=1, max_size=1) as migrated:
        # kbcore_pool's database was migrated once, by a single caller.
        assert await schema(migrated) == await schema(kbcore_pool)


async def test_a_host_with_the_legacy_tables_keeps_its_rows(empty_pool: asyncpg.Pool) -> None:
    """Adopting kbcore adds its columns to the existing tables, and the old rows read back."""
    org, doc_id = uuid.uuid4(), uuid.uuid4()
    await empty_pool.execute(LEGACY_SCHEMA)
    await empty_pool.execute(
        "INSERT INTO knowledge_base (id, org_id, filename, content)"
        " VALUES ($1, $2, 'faq.md', 'Q&A')",
        doc_id,
        org,
    )
    await empty_pool.execute(
        "INSERT INTO knowledge_base_changelog (knowledge_base_id, org_id, version_to, change_type,"
        " changed_by, change_summary, new_content)"
        " VALUES ($1, $2, 1, 'created', 'legacy-user', 'Created: faq.md', 'Q&A')",
        doc_id,
        org,
    )
    await empty_pool.execute(
        "INSERT INTO kb_sync_log (org_id, status, duration_ms) VALUES ($1, 'success', 1200)", org
    )

    await migrate(empty_pool)

    kb = KnowledgeBase(PostgresStore(empty_pool))
    doc = await kb.get(org, doc_id)
    assert (doc.filename, doc.content, doc.version, doc.active) == ("faq.md", "Q&A", 1, True)
    [change] = await kb.history(org, doc_id)
    assert (change.change_type, change.changed_by) == ("created", "legacy-user")
    assert await empty_pool.fetchval("SELECT count(*) FROM kb_sync_log") == 1
    updated = await kb.update(org, doc_id, content="Q&A v2")
    assert updated.updated_at > doc.updated_at
    assert [c.change_type for c in await kb.history(org, doc_id)] == ["created", "updated"]


async def test_a_hosts_own_agents_and_integrations_are_left_untouched(
    empty_pool: asyncpg.Pool,
) -> None:
    """Richer host tables keep their columns and indexes, and kbcore still reads them."""
    await empty_pool.execute(RICHER_HOST_TABLES)
    before = await schema(empty_pool, "agents", "integrations")

    await migrate(empty_pool)

    assert await schema(empty_pool, "agents", "integrations") == before
    org, agent_id = uuid.uuid4(), uuid.uuid4()
    await empty_pool.execute(
        "INSERT INTO agents (id, org_id, name, role, vapi_assistant_id)"
        " VALUES ($1, $2, 'Ana', 'inbound', 'asst-1')",
        agent_id,
        org,
    )
    await empty_pool.execute(
        "INSERT INTO integrations (org_id, provider, config)"
        """ VALUES ($1, 'vapi', '{"vapi_api_key": "sk-host"}')""",
        org,
    )
    store = PostgresStore(empty_pool)
    [assistant] = await store.assistants(org, ["inbound", "outbound"])
    key = await store.vapi_key(org)
    assert (assistant.agent_id, assistant.role, assistant.vapi_assistant_id) == (
        agent_id,
        "inbound",
        "asst-1",
    )
    assert key is not None
    assert key.value == "sk-host"


async def test_missing_agents_and_integrations_are_created(empty_pool: asyncpg.Pool) -> None:
    """On a database without them, kbcore creates minimal agents and integrations tables."""
    await migrate(empty_pool)
    columns = await empty_pool.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_name IN ('agents', 'integrations') ORDER BY table_name, ordinal_position"
    )
    assert [tuple(row) for row in columns] == [
        ("agents", "id"),
        ("agents", "org_id"),
        ("agents", "role"),
        ("agents", "vapi_assistant_id"),
        ("integrations", "org_id"),
        ("integrations", "provider"),
        ("integrations", "config"),
    ]


async def test_active_duplicates_are_resolved_newest_first(empty_pool: asyncpg.Pool) -> None:
    """Migration 0009: of each org's active documents of one name the newest stays active;
    the older are deleted with a changelog row that says why; then the rule holds."""
    await empty_pool.execute(LEGACY_SCHEMA)
    org, other = uuid.uuid4(), uuid.uuid4()
    rows = [
        # (org, filename, days ago, active)
        (org, "script.md", 3, True),
        (org, "script.md", 1, True),  # the newest: stays
        (org, "script.md", 2, True),
        (org, "script.md", 4, False),  # deleted already: untouched
        (org, "pricing.md", 5, True),  # no namesake: untouched
        (other, "script.md", 6, True),  # another org's: untouched
    ]
    ids = [uuid.uuid4() for _ in rows]
    await empty_pool.executemany(
        "INSERT INTO knowledge_base (id, org_id, filename, content, active, created_at)"
        " VALUES ($1, $2, $3, 'x', $4, now() - make_interval(days => $5))",
        [
            (id_, o, name, active, days)
            for id_, (o, name, days, active) in zip(ids, rows, strict=True)
        ],
    )

    await migrate(empty_pool)

    kb = KnowledgeBase(PostgresStore(empty_pool))
    states = [(await kb.get(o, id_)).active for id_, (o, *_) in zip(ids, rows, strict=True)]
    assert states == [False, True, False, False, True, True]
    for retired in (ids[0], ids[2]):
        [change] = await kb.history(org, retired)
        assert (change.change_type, change.changed_by) == ("deleted", "kbcore migrate")
        assert change.summary is not None
        assert change.summary.startswith("Deleted: script.md (a newer active document")
    assert await kb.history(org, ids[3]) == []
    # Migration 0007 split every active document; the retired ones lost their passages.
    split = await empty_pool.fetch("SELECT DISTINCT document_id FROM knowledge_passages")
    assert {row["document_id"] for row in split} == {ids[1], ids[4], ids[5]}
    with pytest.raises(DuplicateFilename):
        await kb.create(org, filename="script.md", content="y")
