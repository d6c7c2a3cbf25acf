"""One claimed sync, step by step: load, plan, upload, point the tool, attach, clean up.

The order is what keeps Vapi and the database consistent when a step fails:
uploads are recorded as they land; the tool is only repointed once every
upload succeeded; superseded files are only deleted once the tool and every
assistant point at their replacements, as read back after the last write, and
never while any listed tool still lists them.

Every sync reconciles what Vapi actually holds, whatever an earlier sync (or a
write of one that Vapi applied late) left: the tool's files against the documents,
every assistant's tools against every tool kbcore ever made for the org, and the
org's tools against kbcore's ledger and intents.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from uuid import UUID

import attrs

from kbcore._domain import (
    Assistant,
    LedgerFile,
    LedgerTool,
    Secret,
    SyncDocument,
    SyncOutcome,
    ToolIntent,
)
from kbcore._ports import SetupState, SyncState
from kbcore.errors import SyncFailed
from kbcore.logging import get_logger
from kbcore.sync._assistants import review, update_assistants
from kbcore.sync._context import KEY_IN_ENVIRONMENT, KEY_IN_INTEGRATION, SyncContext
from kbcore.sync._files import delete_files, plan_files, upload_documents
from kbcore.sync._planner import SyncPlan, deletable, files_by_category
from kbcore.sync._result import PinnedTool
from kbcore.sync._strays import ToolSurvey, survey_tools
from kbcore.sync._tool import point_tool, retire_tools, wanted_groups
from kbcore.vapi import KnowledgeBaseGroup, QueryTool, VapiAssistant

log = get_logger()

#: How many rounds of writes and read-backs a sync makes before it gives up on Vapi settling.
PASSES = 3


@attrs.frozen
class SyncInputs:
    """Everything a sync reads from the database before its first Vapi call."""

    api_key: Secret
    documents: Sequence[SyncDocument]
    assistant_ids: Sequence[str]
    ledger: Sequence[LedgerFile]
    tools: Sequence[LedgerTool]
    intents: Sequence[ToolIntent] = ()
    key_source: str = KEY_IN_INTEGRATION


async def load_inputs(
    store: SyncState, org_id: UUID, tool_name: str, roles: Sequence[str]
) -> SyncInputs:
    """Read the key, documents, agents and ledger; fail early with what to fix."""
    api_key, key_source = await vapi_key(store, org_id)
    documents = await store.sync_documents(org_id)
    agents = await store.assistants(org_id, roles)
    ledger = await store.ledger_files(org_id, tool_name)
    tools = await store.ledger_tools(org_id)
    intents = await store.tool_intents(org_id)
    if api_key is None:
        raise SyncFailed(
            "No Vapi API key is configured; add the org's Vapi integration or set VAPI_API_KEY",
            kind="permanent",
        )
    if not documents:
        raise SyncFailed("No active documents to sync; add a document first", kind="permanent")
    if not agents:
        raise SyncFailed(
            f"No agents with role {' or '.join(roles)}; create the org's agents first",
            kind="permanent",
        )
    assistant_ids = _assistant_ids(agents)
    if not assistant_ids:
        raise SyncFailed(
            "No agents have a Vapi assistant id; save the agent configuration first",
            kind="permanent",
        )
    return SyncInputs(api_key, documents, assistant_ids, ledger, tools, intents, key_source)


async def vapi_key(store: SyncState | SetupState, org_id: UUID) -> tuple[Secret | None, str]:
    """The org's Vapi key and where it comes from: its integration, else ``VAPI_API_KEY``."""
    stored = await store.vapi_key(org_id)
    if stored:
        return stored, KEY_IN_INTEGRATION
    value = os.environ.get("VAPI_API_KEY", "").strip()
    return (Secret(value) if value else None), KEY_IN_ENVIRONMENT


def _assistant_ids(agents: Sequence[Assistant]) -> list[str]:
    ids = (agent.vapi_assistant_id for agent in agents if agent.vapi_assistant_id)
    return list(dict.fromkeys(ids))


@attrs.frozen
class RunReport:
    """How a run ended, for the audit log, and the pins it found, for the caller."""

    outcome: SyncOutcome
    pins: tuple[PinnedTool, ...] = ()


@attrs.frozen
class Converged:
    """Vapi as the sync left it, read back after its last write.

    ``known`` is every tool kbcore ever made for the org (strays found included);
    ``assistants`` the last state read of each assistant, ``updated`` how many were PATCHed.
    """

    tool: QueryTool
    survey: ToolSurvey
    known: tuple[LedgerTool, ...]
    assistants: Mapping[str, VapiAssistant]
    updated: int

    @property
    def stale(self) -> list[str]:
        return [tool.tool_id for tool in self.known if not tool.current]


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
        state = await self._converge(inputs, wanted_groups(files))
        findings = review(state.assistants.values(), state.tool, state.stale, ctx.tool_name)
        # Earlier tools go first: then the files only they listed are no longer listed.
        retired = await retire_tools(
            ctx, [t.tool_id for t in state.known if not t.current and not t.deleted]
        )
        listed = state.survey.listed_files(excluding=retired) | set(state.tool.file_ids)
        superseded = deletable(plan.superseded, listed)
        # An assistant pinned to an earlier version still searches the files it listed.
        keep = any(pin.outdated for pin in findings.pins)
        deleted = 0 if keep else await delete_files(ctx, superseded)
        warnings = [*failed_files(plan), *findings.warnings]
        if keep and superseded:
            warnings.append(kept_files(len(superseded)))
        outcome = SyncOutcome(
            succeeded=True,
            tool_id=state.tool.id,
            docs_synced=len(inputs.documents),
            assistants_updated=state.updated,
            files_uploaded=len(uploaded),
            files_reused=len(plan.reuse),
            files_deleted=deleted,
            warnings=tuple(warnings),
        )
        return RunReport(outcome, findings.pins)

    async def _plan(self, inputs: SyncInputs) -> SyncPlan:
        ctx = self._ctx
        plan = await plan_files(ctx, inputs.documents, inputs.ledger, reconcile=self._reconcile)
        if plan.lost:
            log.warning("kbcore.sync.files_lost", org_id=str(ctx.org_id), lost=len(plan.lost))
            await ctx.store.forget_files(ctx.org_id, ctx.tool_name, sorted(plan.lost))
        return plan

    async def _converge(
        self, inputs: SyncInputs, wanted: tuple[KnowledgeBaseGroup, ...]
    ) -> Converged:
        """Point the tool and the assistants at what is wanted, until a read shows it so.

        Each pass lists the tools (finding strays), writes the tool if it differs, and
        reads (and writes, if need be) the assistants: all of them first, then those
        the pass before wrote. A pass that writes nothing has verified the last one.
        """
        ctx = self._ctx
        known, intents = tuple(inputs.tools), tuple(inputs.intents)
        assistant_ids = list(inputs.assistant_ids)
        assistants: dict[str, VapiAssistant] = {}
        updated: set[str] = set()
        for round_ in range(PASSES):
            survey = await survey_tools(ctx, known, intents)
            if survey.strays:
                known, intents = await self._ledger()
            pointed = await point_tool(ctx, known, survey, wanted)
            if pointed.created:
                known, intents = await self._ledger()
            stale = [tool.tool_id for tool in known if not tool.current]
            # Progress counts the first round's assistants; later rounds verify its writes.
            counted = ctx.tally("assistants", len(assistant_ids)) if round_ == 0 else None
            updates = await update_assistants(
                ctx, assistant_ids, pointed.tool, stale, self._instruction, tally=counted
            )
            assistants.update(updates.assistants)
            updated |= updates.changed
            if not pointed.written and not updates.changed:
                return Converged(pointed.tool, survey, known, assistants, len(updated))
            assistant_ids = sorted(updates.changed)
        raise SyncFailed(
            f"Vapi's tool or assistants kept changing while the sync ran ({PASSES} rounds of "
            "writes); no file was deleted; run the sync again"
        )

    async def _ledger(self) -> tuple[tuple[LedgerTool, ...], tuple[ToolIntent, ...]]:
        store, org_id = self._ctx.store, self._ctx.org_id
        tools = await store.ledger_tools(org_id)
        intents = await store.tool_intents(org_id)
        return tuple(tools), tuple(intents)


def failed_files(plan: SyncPlan) -> list[str]:
    """The warning about documents whose files Vapi could not process, if any."""
    if not plan.failed:
        return []
    names = ", ".join(sorted(document.filename for document in plan.failed))
    return [f"Vapi could not process the files of {names}; they were uploaded again"]


def kept_files(count: int) -> str:
    """The warning about superseded files kept for assistants that pin earlier tools."""
    files = "1 superseded file stays" if count == 1 else f"{count} superseded files stay"
    return f"{files} on Vapi while assistants pin earlier versions of the knowledge-base tool"
