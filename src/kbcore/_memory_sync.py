"""MemoryStore's sync state: the claims and audit log of syncs, and the Vapi ledger."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from kbcore.domain import (
    LEASE_EXPIRED_MESSAGE,
    Busy,
    Claimed,
    ClaimOutcome,
    LedgerFile,
    LedgerTool,
    SyncDocument,
    SyncOutcome,
    SyncRun,
    ToolIntent,
    TooSoon,
)

if TYPE_CHECKING:
    from kbcore.memory import _Clock, _Tables


@attrs.define
class MemoryLedger:
    _tables: _Tables

    async def files(self, org_id: UUID, tool_name: str) -> Sequence[LedgerFile]:
        return list(self._tables.files.get((org_id, tool_name), []))

    async def add_file(self, org_id: UUID, tool_name: str, file: LedgerFile) -> None:
        self._tables.files.setdefault((org_id, tool_name), []).append(file)

    async def forget_files(self, org_id: UUID, tool_name: str, file_ids: Sequence[str]) -> None:
        gone = set(file_ids)
        key = (org_id, tool_name)
        self._tables.files[key] = [
            f for f in self._tables.files.get(key, []) if f.file_id not in gone
        ]

    async def tools(self, org_id: UUID) -> Sequence[LedgerTool]:
        return list(self._tables.tools.get(org_id, []))

    async def set_current_tool(self, org_id: UUID, tool_name: str, tool_id: str) -> None:
        tools = [
            attrs.evolve(tool, current=False) if tool.tool_name == tool_name else tool
            for tool in self._tables.tools.get(org_id, [])
            if tool.tool_id != tool_id
        ]
        tools.append(LedgerTool(tool_id=tool_id, tool_name=tool_name, current=True))
        self._tables.tools[org_id] = tools

    async def remember_tool(self, org_id: UUID, tool_name: str, tool_id: str) -> None:
        tools = self._tables.tools.setdefault(org_id, [])
        if all(tool.tool_id != tool_id for tool in tools):
            tools.append(LedgerTool(tool_id=tool_id, tool_name=tool_name, current=False))

    async def mark_tool_deleted(self, org_id: UUID, tool_id: str) -> None:
        tools = self._tables.tools.get(org_id, [])
        self._tables.tools[org_id] = [
            attrs.evolve(tool, deleted=True) if tool.tool_id == tool_id else tool for tool in tools
        ]

    async def add_tool_intent(self, org_id: UUID, intent: ToolIntent) -> None:
        intents = self._tables.tool_intents.setdefault(org_id, [])
        if intent not in intents:
            intents.append(intent)

    async def tool_intents(self, org_id: UUID) -> Sequence[ToolIntent]:
        return list(self._tables.tool_intents.get(org_id, []))


@attrs.define
class Claim:
    """An org's sync claim and rate-limit window, as kb_sync_claims holds them."""

    running: UUID | None = None
    lease_expires_at: datetime | None = None
    last_success_at: datetime | None = None


@attrs.define
class MemorySyncDocuments:
    _tables: _Tables

    async def active(self, org_id: UUID) -> Sequence[SyncDocument]:
        return [
            SyncDocument(
                id=document.id,
                filename=document.filename,
                category=document.category,
                content_sha256=hashlib.sha256(document.content.encode()).hexdigest(),
            )
            for document in self._tables.documents.values()
            if document.org_id == org_id and document.active
        ]

    async def contents(self, org_id: UUID, document_ids: Sequence[UUID]) -> Mapping[UUID, str]:
        found = (self._tables.documents.get(document_id) for document_id in document_ids)
        return {doc.id: doc.content for doc in found if doc is not None and doc.org_id == org_id}


@attrs.define
class MemorySyncRuns:
    _tables: _Tables
    _clock: _Clock

    async def claim(
        self, org_id: UUID, *, min_interval: timedelta, lease: timedelta, actor: str | None
    ) -> ClaimOutcome:
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
        run = _run(uuid.uuid4(), org_id, "failed", message, self._clock.now(), actor=actor)
        self._tables.runs.append(attrs.evolve(run, duration_ms=0))
        return run.id

    async def renew(self, org_id: UUID, run_id: UUID, lease: timedelta) -> bool:
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
        run = self._close(run_id, status, outcome.error_message, fields)
        claim = self._tables.claims.get(org_id)
        if claim is not None and claim.running == run_id:
            claim.running = claim.lease_expires_at = None
            if outcome.succeeded:
                claim.last_success_at = self._clock.now()
        return run

    async def recent(self, org_id: UUID, limit: int) -> Sequence[SyncRun]:
        runs = [run for run in self._tables.runs if run.org_id == org_id]
        return runs[::-1][:limit]

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
