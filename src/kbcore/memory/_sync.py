"""The sync state in memory: claims, the audit log, host look-ups, the Vapi ledger.

What postgres/_sync.py does with its statements, done on the tables. Every write
takes the store's lock, so it never lands in the middle of a unit of work.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import anyio
import attrs

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
from kbcore.memory._tables import Claim, Clock, Tables


class MemorySyncState:
    """``SyncState`` for ``MemoryStore``."""

    __slots__ = ()
    #: The committed rows.
    _tables: Tables
    _clock: Clock
    #: Held by every write, so that writes run one at a time.
    _lock: anyio.Lock

    async def claim(
        self, org_id: UUID, *, min_interval: timedelta, lease: timedelta, actor: str | None
    ) -> ClaimOutcome:
        async with self._lock:
            now = self._clock.now()
            claim = self._tables.claims.setdefault(org_id, Claim())
            if claim.running is not None and claim.lease_expires_at is not None:
                if claim.lease_expires_at > now:
                    return Busy()
                self._close(claim.running, "failed", LEASE_EXPIRED_MESSAGE, {})
            if claim.last_success_at is not None and claim.last_success_at + min_interval > now:
                wait = claim.last_success_at + min_interval - now
                return TooSoon(retry_after=wait.total_seconds())
            run_id = uuid.uuid4()
            self._tables.runs.append(_run(run_id, org_id, "in_progress", None, now, actor=actor))
            claim.running, claim.lease_expires_at = run_id, now + lease
            return Claimed(run_id=run_id)

    async def reject(self, org_id: UUID, message: str, *, actor: str | None) -> UUID:
        async with self._lock:
            run = _run(uuid.uuid4(), org_id, "failed", message, self._clock.now(), actor=actor)
            self._tables.runs.append(attrs.evolve(run, duration_ms=0))
            return run.id

    async def renew(self, org_id: UUID, run_id: UUID, lease: timedelta) -> bool:
        async with self._lock:
            claim = self._tables.claims.get(org_id)
            if claim is None or claim.running != run_id:
                return False
            claim.lease_expires_at = self._clock.now() + lease
            return True

    async def finish(self, org_id: UUID, run_id: UUID, outcome: SyncOutcome) -> SyncRun:
        fields = {
            "warnings": outcome.warnings,
            "tool_id": outcome.tool_id,
            "docs_synced": outcome.docs_synced,
            "assistants_updated": outcome.assistants_updated,
            "files_uploaded": outcome.files_uploaded,
            "files_reused": outcome.files_reused,
            "files_deleted": outcome.files_deleted,
        }
        status = "success" if outcome.succeeded else "failed"
        async with self._lock:
            run = self._close(run_id, status, outcome.error_message, fields)
            claim = self._tables.claims.get(org_id)
            if claim is not None and claim.running == run_id:
                claim.running = claim.lease_expires_at = None
                if outcome.succeeded:
                    claim.last_success_at = self._clock.now()
            return run

    async def recent_runs(self, org_id: UUID, limit: int) -> Sequence[SyncRun]:
        """The org's latest audit rows, newest first."""
        runs = [run for run in self._tables.runs if run.org_id == org_id]
        return runs[::-1][:limit]

    async def vapi_key(self, org_id: UUID) -> Secret | None:
        value = self._tables.vapi_keys.get(org_id)
        return None if value is None else Secret(value)

    async def assistants(self, org_id: UUID, roles: Sequence[str]) -> Sequence[Assistant]:
        return [a for a in self._tables.agents if a.org_id == org_id and a.role in roles]

    async def sync_documents(self, org_id: UUID) -> Sequence[SyncDocument]:
        return [
            SyncDocument(
                id=document.id,
                filename=document.filename,
                category=document.category,
                content_sha256=hashlib.sha256(document.content.encode()).hexdigest(),
                version=document.version,
            )
            for document in self._tables.documents.values()
            if document.org_id == org_id and document.active
        ]

    async def contents(self, org_id: UUID, document_ids: Sequence[UUID]) -> Mapping[UUID, str]:
        documents = self._tables.documents
        found = (documents.get(document_id) for document_id in document_ids)
        return {doc.id: doc.content for doc in found if doc is not None and doc.org_id == org_id}

    async def ledger_files(self, org_id: UUID, tool_name: str) -> Sequence[LedgerFile]:
        return list(self._tables.files.get((org_id, tool_name), []))

    async def add_file(self, org_id: UUID, tool_name: str, file: LedgerFile) -> None:
        async with self._lock:
            self._tables.files.setdefault((org_id, tool_name), []).append(file)

    async def forget_files(self, org_id: UUID, tool_name: str, file_ids: Sequence[str]) -> None:
        gone = set(file_ids)
        key = (org_id, tool_name)
        async with self._lock:
            files = self._tables.files.get(key, [])
            self._tables.files[key] = [f for f in files if f.file_id not in gone]

    async def ledger_tools(self, org_id: UUID) -> Sequence[LedgerTool]:
        return list(self._tables.tools.get(org_id, []))

    async def set_current_tool(self, org_id: UUID, tool_name: str, tool_id: str) -> None:
        async with self._lock:
            tools = [
                attrs.evolve(tool, current=False) if tool.tool_name == tool_name else tool
                for tool in self._tables.tools.get(org_id, [])
                if tool.tool_id != tool_id
            ]
            tools.append(LedgerTool(tool_id=tool_id, tool_name=tool_name, current=True))
            self._tables.tools[org_id] = tools

    async def remember_tool(self, org_id: UUID, tool_name: str, tool_id: str) -> None:
        async with self._lock:
            tools = self._tables.tools.setdefault(org_id, [])
            if all(tool.tool_id != tool_id for tool in tools):
                tools.append(LedgerTool(tool_id=tool_id, tool_name=tool_name, current=False))

    async def mark_tool_deleted(self, org_id: UUID, tool_id: str) -> None:
        async with self._lock:
            tools = self._tables.tools.get(org_id, [])
            self._tables.tools[org_id] = [
                attrs.evolve(tool, deleted=True) if tool.tool_id == tool_id else tool
                for tool in tools
            ]

    async def add_tool_intent(self, org_id: UUID, intent: ToolIntent) -> None:
        async with self._lock:
            intents = self._tables.tool_intents.setdefault(org_id, [])
            if intent not in intents:
                intents.append(intent)

    async def tool_intents(self, org_id: UUID) -> Sequence[ToolIntent]:
        return list(self._tables.tool_intents.get(org_id, []))

    def _close(
        self, run_id: UUID, status: str, message: str | None, fields: Mapping[str, Any]
    ) -> SyncRun:
        """Close an in-progress run; a run closed already (taken over) stays as it was."""
        [(index, run)] = [(i, run) for i, run in enumerate(self._tables.runs) if run.id == run_id]
        if run.status == "in_progress":
            elapsed = self._clock.now() - run.created_at
            run = attrs.evolve(
                run,
                status=status,
                error_message=message,
                duration_ms=int(elapsed.total_seconds() * 1000),
                **fields,
            )
            self._tables.runs[index] = run
        return run


def _run(
    run_id: UUID,
    org_id: UUID,
    status: str,
    message: str | None,
    now: datetime,
    *,
    actor: str | None,
) -> SyncRun:
    return SyncRun(
        triggered_by=actor,
        id=run_id,
        org_id=org_id,
        status=status,
        error_message=message,
        tool_id=None,
        duration_ms=None,
        docs_synced=None,
        assistants_updated=None,
        created_at=now,
    )
