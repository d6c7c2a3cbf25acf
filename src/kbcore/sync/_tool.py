"""The org's query tool: updated in place, created when there is none, retired when replaced.

Vapi may refuse a tool write with 409: ``tool_write_conflict`` (another write got in
the way) is worth reading the tool again and deciding anew, a few times;
``tool_pinned`` is not, and fails the sync with what to do about it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from kbcore._domain import LedgerTool, ToolIntent
from kbcore.errors import SyncFailed, VapiError
from kbcore.logging import get_logger
from kbcore.sync._context import SyncContext
from kbcore.sync._failures import failure, vapi_step
from kbcore.sync._strays import ToolSurvey, fingerprint
from kbcore.vapi import KnowledgeBaseGroup, QueryTool, VapiConflict, VapiNotFound

log = get_logger()

#: How many times a tool write refused with ``tool_write_conflict`` is read and tried again.
WRITE_CONFLICT_TRIES = 3

_PINNED_REASON = (
    "Vapi refused to update the knowledge-base tool because it is pinned (tool_pinned); "
    "move or remove the pins on it in Vapi, then sync again"
)
_CONFLICT_REASON = (
    f"Vapi refused to update the knowledge-base tool {WRITE_CONFLICT_TRIES} times because "
    "other writes to it got in the way (tool_write_conflict); sync again later"
)


@attrs.frozen
class PointedTool:
    """The org's tool as the sync left it, and whether the sync created it."""

    tool: QueryTool
    created: bool = False
    written: bool = False


def wanted_groups(groups: Mapping[str, Sequence[str]]) -> tuple[KnowledgeBaseGroup, ...]:
    """One knowledge base per category, sorted: an unchanged tool compares equal, so no PATCH."""
    return tuple(
        KnowledgeBaseGroup.for_category(category, file_ids)
        for category, file_ids in sorted(groups.items())
    )


async def point_tool(
    ctx: SyncContext,
    known: Sequence[LedgerTool],
    survey: ToolSurvey,
    wanted: tuple[KnowledgeBaseGroup, ...],
) -> PointedTool:
    """Update the org's query tool in place, or create it when there is none (any more).

    The survey's listing is the tool as Vapi holds it: no read of its own unless the
    listing was cut short by its limit.
    """
    current = current_tool(known, ctx.tool_name)
    if current is not None and not current.deleted:
        try:
            live = await read_tool(ctx, current, survey)
            if live is not None:
                return await _update(ctx, live, wanted)
        except VapiNotFound:
            pass
        except VapiError as error:
            raise failure(
                ctx, "Could not update the knowledge-base tool on Vapi", [error]
            ) from error
        log.warning("kbcore.sync.tool_missing", org_id=str(ctx.org_id), tool_id=current.tool_id)
    return PointedTool(await _create(ctx, wanted), created=True, written=True)


def current_tool(known: Sequence[LedgerTool], tool_name: str) -> LedgerTool | None:
    """The ledger's current tool of this name, if any (it may be deleted)."""
    return next((t for t in known if t.current and t.tool_name == tool_name), None)


async def read_tool(ctx: SyncContext, current: LedgerTool, survey: ToolSurvey) -> QueryTool | None:
    """The current tool as Vapi holds it, ``None`` when Vapi no longer has it.

    The survey's listing is read first; a GET only when the listing was cut short.
    """
    live = survey.find(current.tool_id)
    if live is None and not survey.complete:
        try:
            live = await ctx.client.get_query_tool(current.tool_id)
        except VapiNotFound:
            return None
    return live


async def _update(
    ctx: SyncContext, live: QueryTool, wanted: tuple[KnowledgeBaseGroup, ...]
) -> PointedTool:
    """Write the tool when it differs; never retry a 409 without reading the tool first."""
    for attempt in range(1, WRITE_CONFLICT_TRIES + 1):
        if attempt > 1:
            live = await ctx.client.get_query_tool(live.id)
        if live.knowledge_bases == wanted:
            return PointedTool(live)
        try:
            return PointedTool(await ctx.client.update_query_tool(live.id, wanted), written=True)
        except VapiConflict as conflict:
            if conflict.error == "tool_pinned":
                raise SyncFailed(_PINNED_REASON, provider_message=conflict.vapi_message) from None
            if conflict.error != "tool_write_conflict":
                raise
            if attempt == WRITE_CONFLICT_TRIES:
                raise SyncFailed(_CONFLICT_REASON, provider_message=conflict.vapi_message) from None
            log.info(
                "kbcore.sync.tool_write_conflict",
                org_id=str(ctx.org_id),
                tool_id=live.id,
                attempt=attempt,
            )
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _create(ctx: SyncContext, wanted: tuple[KnowledgeBaseGroup, ...]) -> QueryTool:
    # The intent goes first: if the answer is lost, the copy Vapi made is still known as ours.
    await ctx.store.add_tool_intent(ctx.org_id, ToolIntent(ctx.tool_name, fingerprint(wanted)))
    tool = await vapi_step(
        ctx, "create the knowledge-base tool", ctx.client.create_query_tool(wanted)
    )
    await ctx.store.set_current_tool(ctx.org_id, ctx.tool_name, tool.id)
    return tool


async def retire_tools(ctx: SyncContext, tool_ids: Sequence[str]) -> list[str]:
    """Delete kbcore's earlier tools, now detached; the ids that are gone from Vapi.

    A pinned tool is kept for later. A deleted tool stays in the ledger, marked so:
    kbcore still detaches its id wherever a late write puts it back.
    """
    gone = []
    for tool_id in tool_ids:
        try:
            await ctx.client.delete_tool(tool_id)
        except VapiConflict as error:
            log.info(
                "kbcore.sync.tool_kept", org_id=str(ctx.org_id), tool_id=tool_id, reason=error.error
            )
            continue
        except VapiError as error:
            log.warning(
                "kbcore.sync.tool_delete_failed",
                org_id=str(ctx.org_id),
                tool_id=tool_id,
                error=str(error),
            )
            continue
        await ctx.store.mark_tool_deleted(ctx.org_id, tool_id)
        gone.append(tool_id)
    return gone
