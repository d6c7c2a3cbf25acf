"""One claimed sync, step by step: load, plan, upload, point the tool, attach, clean up.

The order is what keeps Vapi and the database consistent when a step fails:
uploads are recorded as they land; the tool is only repointed once every
upload succeeded; superseded files are only deleted once the tool and every
assistant point at their replacements.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from uuid import UUID

import attrs
import structlog

from kbcore.domain import (
    Assistant,
    LedgerFile,
    LedgerTool,
    Secret,
    SyncDocument,
    SyncOutcome,
)
from kbcore.errors import SyncFailed, VapiError
from kbcore.ports import SyncStore
from kbcore.sync.assistants import update_assistants
from kbcore.sync.context import SyncContext
from kbcore.sync.failures import vapi_step
from kbcore.sync.files import delete_files, upload_documents, uploaded_by
from kbcore.sync.planner import SyncPlan, deletable, files_by_category, plan_sync
from kbcore.sync.result import PinnedTool
from kbcore.sync.strays import find_strays
from kbcore.sync.tool import point_tool, retire_tools, wanted_groups
from kbcore.vapi import QueryTool

log = structlog.get_logger("kbcore")


@attrs.frozen
class SyncInputs:
    """Everything a sync reads from the database before its first Vapi call."""

    api_key: Secret
    documents: Sequence[SyncDocument]
    assistant_ids: Sequence[str]
    ledger: Sequence[LedgerFile]
    tools: Sequence[LedgerTool]


async def load_inputs(
    store: SyncStore, org_id: UUID, tool_name: str, roles: Sequence[str]
) -> SyncInputs:
    """Read the key, documents, agents and ledger; fail early with what to fix."""
    async with store.transaction() as tx:
        api_key = await tx.integrations.vapi_key(org_id) or _environment_key()
        documents = await tx.sync_documents.active(org_id)
        agents = await tx.agents.assistants(org_id, roles)
        ledger = await tx.ledger.files(org_id, tool_name)
        tools = await tx.ledger.tools(org_id)
    if api_key is None:
        raise SyncFailed(
            "No Vapi API key is configured; add the org's Vapi integration or set VAPI_API_KEY"
        )
    if not documents:
        raise SyncFailed("No active documents to sync; add a document first")
    if not agents:
        raise SyncFailed(f"No agents with role {' or '.join(roles)}; create the org's agents first")
    assistant_ids = _assistant_ids(agents)
    if not assistant_ids:
        raise SyncFailed("No agents have a Vapi assistant id; save the agent configuration first")
    return SyncInputs(api_key, documents, assistant_ids, ledger, tools)


def _environment_key() -> Secret | None:
    value = os.environ.get("VAPI_API_KEY", "").strip()
    return Secret(value) if value else None


def _assistant_ids(agents: Sequence[Assistant]) -> list[str]:
    ids = (agent.vapi_assistant_id for agent in agents if agent.vapi_assistant_id)
    return list(dict.fromkeys(ids))


@attrs.frozen
class RunReport:
    """How a run ended, for the audit log, and the pins it found, for the caller."""

    outcome: SyncOutcome
    pins: tuple[PinnedTool, ...] = ()


@attrs.define
class SyncRunner:
    """Carries one sync from a plan to its outcome.

    ``reconcile`` asks Vapi for its file list, to repair files it lost or failed;
    ``instruction`` is the line kept in every assistant's system prompt, or ``None``.
    """

    _ctx: SyncContext
    _reconcile: bool
    _instruction: str | None = None

    async def run(self, inputs: SyncInputs) -> RunReport:
        ctx = self._ctx
        plan = await self._plan(inputs)
        uploaded = await upload_documents(ctx, plan.uploads)
        files = files_by_category(inputs.documents, {**plan.reuse, **uploaded})
        pointed = await point_tool(ctx, inputs.tools, wanted_groups(files))
        if pointed.created:
            await self._retire_strays(pointed.tool)
        stale = [t.tool_id for t in await self._tools() if not t.current]
        assistants = await update_assistants(
            ctx, inputs.assistant_ids, pointed.tool, stale, self._instruction
        )
        superseded = deletable(plan.superseded, pointed.tool.file_ids)
        # An assistant pinned to an earlier version still searches the files it listed.
        keep = any(pin.outdated for pin in assistants.pins)
        deleted = 0 if keep else await delete_files(ctx, superseded)
        await retire_tools(ctx, stale)
        warnings = [*_failed_files(plan), *assistants.warnings]
        if keep and superseded:
            warnings.append(_kept_files(len(superseded)))
        outcome = SyncOutcome(
            succeeded=True,
            tool_id=pointed.tool.id,
            docs_synced=len(inputs.documents),
            assistants_updated=assistants.updated,
            files_uploaded=len(uploaded),
            files_reused=len(plan.reuse),
            files_deleted=deleted,
            warnings=tuple(warnings),
        )
        return RunReport(outcome, assistants.pins)

    async def _plan(self, inputs: SyncInputs) -> SyncPlan:
        ctx = self._ctx
        remote = None
        strays: set[str] = set()
        if self._reconcile:
            files = await vapi_step("list the org's files", ctx.client.list_files())
            remote = {file.id: file.status or "done" for file in files}
            recorded = {entry.file_id for entry in inputs.ledger}
            strays = {f.id for f in files if uploaded_by(ctx, f) and f.id not in recorded}
        plan = plan_sync(inputs.documents, inputs.ledger, remote, strays)
        if plan.lost:
            log.warning("kbcore.sync.files_lost", org_id=str(ctx.org_id), lost=len(plan.lost))
            async with ctx.store.autocommit() as tx:
                await tx.ledger.forget_files(ctx.org_id, ctx.tool_name, sorted(plan.lost))
        return plan

    async def _retire_strays(self, created: QueryTool) -> None:
        """Delete copies of the tool that kbcore made but never recorded (see ``strays``)."""
        ctx = self._ctx
        try:
            tools = await ctx.client.list_query_tools()
        except VapiError as error:
            log.warning("kbcore.sync.tool_list_failed", org_id=str(ctx.org_id), error=str(error))
            return
        async with ctx.store.read() as tx:
            known = await tx.ledger.tools(ctx.org_id)
            intents = await tx.ledger.tool_intents(ctx.org_id)
        recorded = {tool.tool_id for tool in known} | {created.id}
        strays = find_strays(tools, recorded, intents)
        await retire_tools(ctx, [stray.tool.id for stray in strays])

    async def _tools(self) -> Sequence[LedgerTool]:
        async with self._ctx.store.read() as tx:
            return await tx.ledger.tools(self._ctx.org_id)


def _failed_files(plan: SyncPlan) -> list[str]:
    if not plan.failed:
        return []
    names = ", ".join(sorted(document.filename for document in plan.failed))
    return [f"Vapi could not process the files of {names}; they were uploaded again"]


def _kept_files(count: int) -> str:
    files = "1 superseded file stays" if count == 1 else f"{count} superseded files stay"
    return f"{files} on Vapi while assistants pin earlier versions of the knowledge-base tool"
