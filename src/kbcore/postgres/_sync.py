"""The sync state in PostgreSQL: claims, the audit log, host look-ups, the Vapi ledger.

The claim per org keeps syncs apart; the audit log is ``kb_sync_log``; the agents and
the Vapi key come from the host's own ``agents`` and ``integrations`` tables; the
ledger says what kbcore put on Vapi, so a sync can be incremental.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from uuid import UUID

import asyncpg

from kbcore._domain import (
    LEASE_EXPIRED_MESSAGE,
    Assistant,
    Busy,
    Claimed,
    ClaimOutcome,
    LedgerFile,
    LedgerTool,
    Secret,
    SyncDocument,
    SyncOutcome,
    SyncRun,
    ToolIntent,
    TooSoon,
)
from kbcore.postgres._connection import Db, transaction

_ACTIVE = """
SELECT id, filename, category, content_sha256, version
FROM knowledge_base
WHERE org_id = $1 AND active
"""

_CONTENTS = "SELECT id, content FROM knowledge_base WHERE org_id = $1 AND id = ANY($2::uuid[])"

# The no-op DO UPDATE makes sure the row exists and locks it, so concurrent claims of one
# org queue here and each sees the previous one's outcome (READ COMMITTED re-reads the row).
_LOCK_CLAIM = """
INSERT INTO kb_sync_claims AS c (org_id) VALUES ($1)
ON CONFLICT (org_id) DO UPDATE SET org_id = excluded.org_id
RETURNING c.run_id,
          c.run_id IS NOT NULL AND c.lease_expires_at > now() AS busy,
          extract(epoch FROM c.last_success_at + $2::interval - now())::float8 AS wait
"""

_DURATION = "greatest(0, round(extract(epoch FROM clock_timestamp() - created_at) * 1000))::int"

_TAKE_CLAIM = f"""
WITH claim AS (
    UPDATE kb_sync_claims SET run_id = $2, lease_expires_at = now() + $3::interval
    WHERE org_id = $1
), lapsed AS (
    UPDATE kb_sync_log
    SET status = 'failed', error_message = $5, duration_ms = {_DURATION},
        finished_at = clock_timestamp()
    WHERE org_id = $1 AND id = $4 AND status = 'in_progress'
)
INSERT INTO kb_sync_log (id, org_id, status, triggered_by, created_at)
VALUES ($2, $1, 'in_progress', $6, now())
"""  # noqa: S608

_REJECT = """
INSERT INTO kb_sync_log (id, org_id, status, error_message, duration_ms, triggered_by,
                         created_at, finished_at)
VALUES ($1, $2, 'failed', $3, 0, $4, now(), now())
"""

_RENEW = """
UPDATE kb_sync_claims SET lease_expires_at = now() + $3::interval
WHERE org_id = $1 AND run_id = $2
RETURNING true
"""

_RUN_COLUMNS = """
    id, org_id, status, error_message, tool_id, duration_ms, docs_synced, assistants_updated,
    created_at, files_uploaded, files_reused, files_deleted, triggered_by, warnings
"""

_FINISH = f"""
WITH run AS (
    UPDATE kb_sync_log
    SET status = $3, error_message = $4, tool_id = $5, docs_synced = $6,
        assistants_updated = $7, files_uploaded = $8, files_reused = $9, files_deleted = $10,
        warnings = $11::text[], duration_ms = {_DURATION}, finished_at = clock_timestamp()
    WHERE org_id = $1 AND id = $2 AND status = 'in_progress'
    RETURNING {_RUN_COLUMNS}
), released AS (
    UPDATE kb_sync_claims
    SET run_id = NULL, lease_expires_at = NULL,
        last_success_at = CASE WHEN $3 = 'success' THEN clock_timestamp() ELSE last_success_at END
    WHERE org_id = $1 AND run_id = $2 AND EXISTS (SELECT FROM run)
)
SELECT * FROM run
"""  # noqa: S608

_RUN = f"SELECT {_RUN_COLUMNS} FROM kb_sync_log WHERE org_id = $1 AND id = $2"  # noqa: S608

_RECENT = f"""
SELECT {_RUN_COLUMNS} FROM kb_sync_log WHERE org_id = $1 ORDER BY created_at DESC LIMIT $2
"""  # noqa: S608


_FILES = """
SELECT file_id, knowledge_base_id, content_sha256 FROM kb_vapi_files
WHERE org_id = $1 AND tool_name = $2
"""

_ADD_FILE = """
INSERT INTO kb_vapi_files (file_id, org_id, tool_name, knowledge_base_id, content_sha256)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (file_id) DO NOTHING
"""

_FORGET_FILES = """
DELETE FROM kb_vapi_files WHERE org_id = $1 AND tool_name = $2 AND file_id = ANY($3::text[])
"""

_TOOLS = """
SELECT tool_id, tool_name, current, deleted_at IS NOT NULL AS deleted
FROM kb_vapi_tools WHERE org_id = $1
"""

_RETIRE_TOOLS = """
UPDATE kb_vapi_tools SET current = false
WHERE org_id = $1 AND tool_name = $2 AND current AND tool_id <> $3
"""

_CURRENT_TOOL = """
INSERT INTO kb_vapi_tools (tool_id, org_id, tool_name, current) VALUES ($3, $1, $2, true)
ON CONFLICT (tool_id) DO UPDATE SET current = true
"""

_REMEMBER_TOOL = """
INSERT INTO kb_vapi_tools (tool_id, org_id, tool_name, current) VALUES ($3, $1, $2, false)
ON CONFLICT (tool_id) DO NOTHING
"""

_TOOL_DELETED = """
UPDATE kb_vapi_tools SET deleted_at = coalesce(deleted_at, now())
WHERE org_id = $1 AND tool_id = $2
"""

_ADD_TOOL_INTENT = """
INSERT INTO kb_vapi_tool_intents (org_id, tool_name, fingerprint) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
"""

_TOOL_INTENTS = """
SELECT tool_name, fingerprint FROM kb_vapi_tool_intents WHERE org_id = $1 ORDER BY created_at
"""


# role and provider are compared as text: a host may have made them enum types.
_ASSISTANTS = """
SELECT id, org_id, role::text AS role, vapi_assistant_id
FROM agents
WHERE org_id = $1 AND role::text = ANY($2::text[])
ORDER BY role::text, id
"""

# An empty key is no key: the service then falls back to the environment.
_VAPI_KEY = """
SELECT nullif(config->>'vapi_api_key', '')
FROM integrations
WHERE org_id = $1 AND provider::text = 'vapi' AND nullif(config->>'vapi_api_key', '') IS NOT NULL
LIMIT 1
"""


class PostgresSyncState:
    """``SyncState`` for ``PostgresStore``: each call one statement, but for the claim."""

    __slots__ = ()
    _pool: asyncpg.Pool
    #: Runs each statement on a pooled connection of its own.
    _read: Db
    #: As ``_read``, for writes: a lost answer leaves the outcome unknown.
    _write: Db

    async def claim(
        self, org_id: UUID, *, min_interval: timedelta, lease: timedelta, actor: str | None
    ) -> ClaimOutcome:
        async with transaction(self._pool) as db:
            state = await db.fetchrow(_LOCK_CLAIM, org_id, min_interval)
            assert state is not None  # the upsert always returns its row
            if state["busy"]:
                return Busy()
            if state["wait"] is not None and state["wait"] > 0:
                return TooSoon(retry_after=state["wait"])
            run_id = uuid.uuid4()
            await db.execute(
                _TAKE_CLAIM, org_id, run_id, lease, state["run_id"], LEASE_EXPIRED_MESSAGE, actor
            )
        return Claimed(run_id=run_id)

    async def reject(self, org_id: UUID, message: str, *, actor: str | None) -> UUID:
        run_id = uuid.uuid4()
        await self._write.execute(_REJECT, run_id, org_id, message, actor)
        return run_id

    async def renew(self, org_id: UUID, run_id: UUID, lease: timedelta) -> bool:
        return bool(await self._write.fetchval(_RENEW, org_id, run_id, lease))

    async def finish(self, org_id: UUID, run_id: UUID, outcome: SyncOutcome) -> SyncRun:
        row = await self._write.fetchrow(
            _FINISH,
            org_id,
            run_id,
            "success" if outcome.succeeded else "failed",
            outcome.error_message,
            outcome.tool_id,
            outcome.docs_synced,
            outcome.assistants_updated,
            outcome.files_uploaded,
            outcome.files_reused,
            outcome.files_deleted,
            list(outcome.warnings),
        )
        if row is None:
            # Another process took the claim over after this run's lease lapsed.
            row = await self._read.fetchrow(_RUN, org_id, run_id)
        assert row is not None, f"sync run {run_id} has no audit row"
        return _sync_run(row)

    async def recent_runs(self, org_id: UUID, limit: int) -> Sequence[SyncRun]:
        """The org's latest audit rows, newest first."""
        return [_sync_run(row) for row in await self._read.fetch(_RECENT, org_id, limit)]

    async def vapi_key(self, org_id: UUID) -> Secret | None:
        value = await self._read.fetchval(_VAPI_KEY, org_id)
        return None if value is None else Secret(value)

    async def assistants(self, org_id: UUID, roles: Sequence[str]) -> Sequence[Assistant]:
        rows = await self._read.fetch(_ASSISTANTS, org_id, list(roles))
        return [
            Assistant(
                agent_id=row["id"],
                org_id=row["org_id"],
                role=row["role"],
                vapi_assistant_id=row["vapi_assistant_id"],
            )
            for row in rows
        ]

    async def sync_documents(self, org_id: UUID) -> Sequence[SyncDocument]:
        rows = await self._read.fetch(_ACTIVE, org_id)
        return [
            SyncDocument(
                id=row["id"],
                filename=row["filename"],
                category=row["category"],
                content_sha256=row["content_sha256"],
                version=row["version"],
            )
            for row in rows
        ]

    async def contents(self, org_id: UUID, document_ids: Sequence[UUID]) -> Mapping[UUID, str]:
        rows = await self._read.fetch(_CONTENTS, org_id, list(document_ids))
        return {row["id"]: row["content"] for row in rows}

    async def ledger_files(self, org_id: UUID, tool_name: str) -> Sequence[LedgerFile]:
        rows = await self._read.fetch(_FILES, org_id, tool_name)
        return [
            LedgerFile(
                file_id=row["file_id"],
                document_id=row["knowledge_base_id"],
                content_sha256=row["content_sha256"],
            )
            for row in rows
        ]

    async def add_file(self, org_id: UUID, tool_name: str, file: LedgerFile) -> None:
        await self._write.execute(
            _ADD_FILE, file.file_id, org_id, tool_name, file.document_id, file.content_sha256
        )

    async def forget_files(self, org_id: UUID, tool_name: str, file_ids: Sequence[str]) -> None:
        await self._write.execute(_FORGET_FILES, org_id, tool_name, list(file_ids))

    async def ledger_tools(self, org_id: UUID) -> Sequence[LedgerTool]:
        rows = await self._read.fetch(_TOOLS, org_id)
        return [
            LedgerTool(
                tool_id=row["tool_id"],
                tool_name=row["tool_name"],
                current=row["current"],
                deleted=row["deleted"],
            )
            for row in rows
        ]

    async def set_current_tool(self, org_id: UUID, tool_name: str, tool_id: str) -> None:
        # Two statements: the partial unique index must see the old one retired first.
        async with transaction(self._pool) as db:
            await db.execute(_RETIRE_TOOLS, org_id, tool_name, tool_id)
            await db.execute(_CURRENT_TOOL, org_id, tool_name, tool_id)

    async def remember_tool(self, org_id: UUID, tool_name: str, tool_id: str) -> None:
        await self._write.execute(_REMEMBER_TOOL, org_id, tool_name, tool_id)

    async def mark_tool_deleted(self, org_id: UUID, tool_id: str) -> None:
        await self._write.execute(_TOOL_DELETED, org_id, tool_id)

    async def add_tool_intent(self, org_id: UUID, intent: ToolIntent) -> None:
        await self._write.execute(_ADD_TOOL_INTENT, org_id, intent.tool_name, intent.fingerprint)

    async def tool_intents(self, org_id: UUID) -> Sequence[ToolIntent]:
        rows = await self._read.fetch(_TOOL_INTENTS, org_id)
        return [ToolIntent(row["tool_name"], row["fingerprint"]) for row in rows]


def _sync_run(row: asyncpg.Record) -> SyncRun:
    return SyncRun(**dict(row.items()))
