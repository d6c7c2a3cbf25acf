"""The org's query tools as Vapi lists them, and the strays among them.

A create whose answer was lost (and was retried), or applied late, or a process that
died between creating a tool and recording it, leaves a tool on Vapi that no ledger
row names. Vapi's query tools carry no name, so kbcore records an intent before every
create: the tool name and the fingerprint of the knowledge bases it is about to send.
A tool nobody recorded whose knowledge bases have a recorded fingerprint is such a
copy. Every sync lists the tools, remembers the strays it finds as kbcore's (not
current) tools, and so detaches and deletes them like any tool it replaced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Sequence

import attrs

from kbcore._domain import LedgerTool, ToolIntent
from kbcore.logging import get_logger
from kbcore.sync._context import SyncContext
from kbcore.sync._failures import vapi_step
from kbcore.vapi import KnowledgeBaseGroup, QueryTool

log = get_logger()

#: How many tools one listing asks for; Vapi's list has no pages.
TOOL_LIST_LIMIT = 1000


def fingerprint(knowledge_bases: Iterable[KnowledgeBaseGroup]) -> str:
    """A SHA-256 of the knowledge bases, whatever order they and their files come in."""
    canonical = sorted(
        ({**group.to_json(), "fileIds": sorted(group.file_ids)} for group in knowledge_bases),
        key=lambda group: json.dumps(group, sort_keys=True),
    )
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


@attrs.frozen
class Stray:
    """A copy of one of kbcore's tools that no ledger row names, and the intent it matches."""

    tool: QueryTool
    intent: ToolIntent


def find_strays(
    tools: Sequence[QueryTool], recorded: Collection[str], intents: Iterable[ToolIntent]
) -> list[Stray]:
    """The tools not in ``recorded`` whose knowledge bases match an intent of the org."""
    by_fingerprint = {intent.fingerprint: intent for intent in intents}
    strays = []
    for tool in tools:
        if tool.id in recorded:
            continue
        intent = by_fingerprint.get(fingerprint(tool.knowledge_bases))
        if intent is not None:
            strays.append(Stray(tool, intent))
    return strays


@attrs.frozen
class ToolSurvey:
    """One listing of the org's query tools, and the strays found in it.

    ``complete`` is false when the listing hit its limit: a tool missing from it
    may still exist.
    """

    tools: tuple[QueryTool, ...]
    complete: bool
    strays: tuple[Stray, ...] = ()

    def find(self, tool_id: str) -> QueryTool | None:
        return next((tool for tool in self.tools if tool.id == tool_id), None)

    def listed_files(self, *, excluding: Collection[str] = ()) -> frozenset[str]:
        """Every file some listed tool (other than ``excluding``) lists."""
        return frozenset(
            file_id for tool in self.tools if tool.id not in excluding for file_id in tool.file_ids
        )


async def list_tools(
    ctx: SyncContext, known: Sequence[LedgerTool], intents: Iterable[ToolIntent]
) -> ToolSurvey:
    """List the org's query tools and find the strays among them; one GET, nothing written."""
    tools = await vapi_step(
        ctx, "list the org's query tools", ctx.client.list_query_tools(limit=TOOL_LIST_LIMIT)
    )
    strays = find_strays(tools, {tool.tool_id for tool in known}, intents)
    return ToolSurvey(tuple(tools), len(tools) < TOOL_LIST_LIMIT, tuple(strays))


async def survey_tools(
    ctx: SyncContext, known: Sequence[LedgerTool], intents: Iterable[ToolIntent]
) -> ToolSurvey:
    """List the org's query tools; remember the strays among them as kbcore's own."""
    survey = await list_tools(ctx, known, intents)
    if survey.strays:
        log.warning(
            "kbcore.sync.stray_tools",
            org_id=str(ctx.org_id),
            tool_ids=[stray.tool.id for stray in survey.strays],
        )
        for stray in survey.strays:
            await ctx.store.remember_tool(ctx.org_id, stray.intent.tool_name, stray.tool.id)
    return survey
