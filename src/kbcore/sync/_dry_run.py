"""A dry run: what the next sync would do, found with Vapi GETs alone, nothing written.

It walks the sync's own steps with the sync's own pure parts: the file plan
(``plan_files``), the tool listing and its strays (``list_tools``), the tool as Vapi
holds it (``read_tool``), the change each assistant gets (``ModelChange``), the review
of pins and prompts, and the rule of which superseded files may be deleted. Where the
sync writes, the dry run only says what it would write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from kbcore._domain import LedgerTool, SyncDocument
from kbcore.errors import VapiError
from kbcore.sync._assistants import ModelChange, left_behind, not_updated, review
from kbcore.sync._context import SyncContext
from kbcore.sync._failures import failure
from kbcore.sync._files import plan_files
from kbcore.sync._parallel import for_each
from kbcore.sync._planner import SyncPlan, deletable, files_by_category
from kbcore.sync._preview import (
    PlannedAssistant,
    PlannedTool,
    PlannedUpload,
    ReusedFile,
    SyncPreview,
    ToolAction,
    UploadReason,
)
from kbcore.sync._run import SyncInputs, failed_files, kept_files
from kbcore.sync._strays import ToolSurvey, list_tools
from kbcore.sync._tool import current_tool, read_tool, wanted_groups
from kbcore.vapi import QueryTool, VapiAssistant


@attrs.frozen
class NewTool:
    """The tool a sync would create: no id and no version until Vapi makes it."""

    id: str = ""
    latest_version: str | None = None


@attrs.frozen
class _ToolStep:
    """The tool step as the sync would take it, and kbcore's tools it would detach."""

    planned: PlannedTool
    tool: QueryTool | NewTool
    stale: tuple[str, ...]


@attrs.define
class DryRun:
    """Carries one dry run from the loaded inputs to a ``SyncPreview``."""

    _ctx: SyncContext
    _reconcile: bool
    _instruction: str | None = None

    async def preview(self, inputs: SyncInputs) -> SyncPreview:
        ctx = self._ctx
        plan = await plan_files(ctx, inputs.documents, inputs.ledger, reconcile=self._reconcile)
        survey = await list_tools(ctx, inputs.tools, inputs.intents)
        # A stray is remembered by the sync as one of kbcore's earlier tools.
        strays = (LedgerTool(s.tool.id, s.intent.tool_name, current=False) for s in survey.strays)
        step = await self._tool_step(inputs, plan, survey, (*inputs.tools, *strays))
        change = ModelChange(step.tool.id, step.stale, self._instruction)
        assistants, after = await self._assistants(inputs.assistant_ids, change)
        findings = review(after.values(), step.tool, step.stale, ctx.tool_name)
        # Files a tool still lists after the sync are never deleted: the tool's reused ones,
        # and those of tools the sync leaves alone.
        excluding = {*step.planned.retire, step.tool.id}
        listed = survey.listed_files(excluding=excluding) | set(plan.reuse.values())
        superseded = deletable(plan.superseded, listed)
        # A pin on the tool's latest version is outdated once the sync updates the tool.
        updating = step.planned.action == "update"
        behind = [pin for pin in findings.pins if updating and pin.current and not pin.outdated]
        keep = bool(behind) or any(pin.outdated for pin in findings.pins)
        warnings = [*failed_files(plan), *findings.warnings, *map(left_behind, behind)]
        if keep and superseded:
            warnings.append(kept_files(len(superseded)))
        return SyncPreview(
            org_id=ctx.org_id,
            tool_name=ctx.tool_name,
            uploads=_uploads(inputs, plan),
            reused=_reused(inputs, plan),
            delete=() if keep else tuple(sorted(superseded)),
            lost=tuple(sorted(plan.lost)),
            tool=step.planned,
            assistants=assistants,
            pins=findings.pins,
            warnings=tuple(warnings),
        )

    async def _tool_step(
        self,
        inputs: SyncInputs,
        plan: SyncPlan,
        survey: ToolSurvey,
        known: Sequence[LedgerTool],
    ) -> _ToolStep:
        """Update in place when Vapi has the current tool, else create: as ``point_tool``."""
        ctx = self._ctx
        current = current_tool(known, ctx.tool_name)
        live = None
        if current is not None and not current.deleted:
            try:
                live = await read_tool(ctx, current, survey)
            except VapiError as error:
                raise failure(
                    ctx, "Could not update the knowledge-base tool on Vapi", [error]
                ) from error
        earlier = [tool for tool in known if not tool.current]
        if current is not None and live is None:
            earlier.append(current)  # replaced by the tool the sync creates
        stale = tuple(tool.tool_id for tool in earlier)
        retire = tuple(tool.tool_id for tool in earlier if not tool.deleted)
        if live is None:
            return _ToolStep(
                PlannedTool(action="create", tool_id=None, retire=retire), NewTool(), stale
            )
        # With an upload to make, the tool's files change: only the sync learns the new ids.
        same = not plan.uploads and live.knowledge_bases == wanted_groups(
            files_by_category(inputs.documents, plan.reuse)
        )
        action: ToolAction = "unchanged" if same else "update"
        return _ToolStep(PlannedTool(action=action, tool_id=live.id, retire=retire), live, stale)

    async def _assistants(
        self, assistant_ids: Sequence[str], change: ModelChange
    ) -> tuple[tuple[PlannedAssistant, ...], Mapping[str, VapiAssistant]]:
        """Read every assistant (GETs) and work out the change the sync would PATCH."""
        ctx = self._ctx

        async def read(assistant_id: str) -> tuple[PlannedAssistant, VapiAssistant]:
            async with ctx.limiter:
                assistant = await ctx.client.get_assistant(assistant_id)
            return change.planned(assistant)

        outcomes = await for_each(assistant_ids, read)
        if outcomes.failed:
            raise not_updated(ctx, outcomes.failed, len(assistant_ids))
        by_id = dict(outcomes.succeeded)
        planned = tuple(by_id[assistant_id][0] for assistant_id in assistant_ids)
        return planned, {assistant_id: after for assistant_id, (_, after) in by_id.items()}


def _uploads(inputs: SyncInputs, plan: SyncPlan) -> tuple[PlannedUpload, ...]:
    uploaded_before = {entry.document_id for entry in inputs.ledger}
    # The same bytes uploaded before: Vapi lost the file, or could not process it.
    same_bytes = {(entry.document_id, entry.content_sha256) for entry in inputs.ledger}

    def reason(document: SyncDocument) -> UploadReason:
        if (document.id, document.content_sha256) in same_bytes:
            return "repair"
        return "changed" if document.id in uploaded_before else "new"

    return tuple(
        PlannedUpload(
            document_id=document.id,
            filename=document.filename,
            version=document.version,
            category=document.category,
            reason=reason(document),
        )
        for document in sorted(plan.uploads, key=lambda document: document.filename)
    )


def _reused(inputs: SyncInputs, plan: SyncPlan) -> tuple[ReusedFile, ...]:
    return tuple(
        ReusedFile(
            document_id=document.id,
            filename=document.filename,
            version=document.version,
            file_id=plan.reuse[document.id],
        )
        for document in sorted(inputs.documents, key=lambda document: document.filename)
        if document.id in plan.reuse
    )
