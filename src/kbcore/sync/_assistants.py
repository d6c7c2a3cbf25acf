"""The sync's assistant step: attach the tool, detach kbcore's others, mind the prompt and pins.

Each assistant is read and, when something must change, PATCHed once with its whole
model: the tool attached (a pin in ``toolRefs`` counts), kbcore's other tools
detached, and kbcore's instruction line kept or removed as the policy says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from kbcore._progress import Tally
from kbcore.errors import KbError, SyncFailed
from kbcore.sync._context import SyncContext
from kbcore.sync._failures import failure
from kbcore.sync._parallel import for_each
from kbcore.sync._preview import PlannedAssistant
from kbcore.sync._prompt import (
    has_instruction,
    mentions_knowledge_base,
    with_instruction,
    without_instruction,
)
from kbcore.sync._result import PinnedTool
from kbcore.vapi import QueryTool, VapiAssistant
from kbcore.vapi._assistant_tools import change_tool_ids, model_to_send


@attrs.frozen
class AssistantUpdates:
    """The assistants as the step left them, by id, and the ids it PATCHed."""

    assistants: Mapping[str, VapiAssistant]
    changed: frozenset[str]


class ToolVersion(Protocol):
    """A tool's id and newest version: a ``QueryTool``, or a tool a dry run would create."""

    @property
    def id(self) -> str: ...

    @property
    def latest_version(self) -> str | None: ...


@attrs.frozen
class Review:
    """What the assistants' final state says: kbcore's pinned tools, and what to warn about."""

    pins: tuple[PinnedTool, ...]
    warnings: tuple[str, ...]


@attrs.frozen
class ModelChange:
    """The change every assistant gets: the tool attached, kbcore's others detached."""

    tool_id: str
    stale: tuple[str, ...]
    instruction: str | None

    def model_for(self, assistant: VapiAssistant) -> dict[str, Any] | None:
        tools = change_tool_ids(assistant, [self.tool_id], self.stale)
        if assistant.model is None:
            return tools.model  # the client refuses to PATCH a model that is not there
        model = tools.model if tools.model is not None else dict(assistant.model)
        attached = self.tool_id in model.get("toolIds", ()) or bool(tools.pinned)
        if self.instruction is not None and attached:
            return with_instruction(model, self.instruction)
        return without_instruction(model)

    def planned(self, assistant: VapiAssistant) -> tuple[PlannedAssistant, VapiAssistant]:
        """What the change would do to the assistant, and the assistant after it; no I/O.

        Raises ``VapiError`` as the sync's PATCH would, for an assistant without a model.
        """
        model = model_to_send(assistant, self.model_for(assistant))
        after = assistant if model is None else attrs.evolve(assistant, model=model)
        tools = change_tool_ids(assistant, [self.tool_id], self.stale)
        had, has = has_instruction(assistant.model), has_instruction(after.model)
        plan = PlannedAssistant(
            assistant_id=assistant.id,
            attach=bool(tools.added),
            pinned=bool(tools.pinned),
            detach=tools.removed,
            instruction="add" if has and not had else "remove" if had and not has else None,
            patched=model is not None,
        )
        return plan, after


async def update_assistants(
    ctx: SyncContext,
    assistant_ids: Sequence[str],
    tool: QueryTool,
    stale: Sequence[str],
    instruction: str | None,
    *,
    tally: Tally | None = None,
) -> AssistantUpdates:
    """Give every assistant the tool; fail, naming them, if any could not be updated.

    ``tally`` counts the assistants done, for the sync's progress.
    """
    change = ModelChange(tool.id, tuple(stale), instruction)

    async def update(assistant_id: str) -> tuple[VapiAssistant, bool]:
        async with ctx.limiter:
            update = await ctx.client.update_assistant_model(assistant_id, change.model_for)
        if tally is not None:
            tally.advance()
        return update.after, update.changed

    outcomes = await for_each(assistant_ids, update)
    if outcomes.failed:
        raise not_updated(ctx, outcomes.failed, len(assistant_ids))
    return AssistantUpdates(
        assistants={assistant_id: after for assistant_id, (after, _) in outcomes.succeeded},
        changed=frozenset(a for a, (_, changed) in outcomes.succeeded if changed),
    )


def not_updated(ctx: SyncContext, failed: Sequence[tuple[str, KbError]], total: int) -> SyncFailed:
    """The failure of a sync that could not update (or read) some of its assistants."""
    names = ", ".join(sorted(assistant_id for assistant_id, _ in failed))
    return failure(
        ctx,
        f"Could not update {len(failed)} of {total} Vapi "
        f"assistants ({names}); check that they exist and have a model",
        [error for _, error in failed],
    )


def review(
    assistants: Iterable[VapiAssistant],
    tool: ToolVersion,
    stale: Sequence[str],
    tool_name: str,
) -> Review:
    """kbcore's tools the assistants pin, and warnings for silent prompts and outdated pins."""
    ordered = sorted(assistants, key=lambda assistant: assistant.id)
    pins = tuple(pin for a in ordered for pin in _pins(a, tool, stale))
    silent = [a for a in ordered if not mentions_knowledge_base(a.model, tool_name)]
    warnings = [_silent_prompt(assistant) for assistant in silent]
    warnings += [_pin_warning(pin, tool.id) for pin in pins if pin.outdated]
    return Review(pins, tuple(warnings))


def _pins(assistant: VapiAssistant, tool: ToolVersion, stale: Sequence[str]) -> list[PinnedTool]:
    ours = {tool.id, *stale}
    return [
        PinnedTool(
            assistant_id=assistant.id,
            tool_id=ref.tool_id,
            version=ref.version,
            current=ref.tool_id == tool.id,
            latest_version=tool.latest_version if ref.tool_id == tool.id else None,
        )
        for ref in assistant.tool_refs
        if ref.tool_id in ours
    ]


def _silent_prompt(assistant: VapiAssistant) -> str:
    return (
        f"Assistant {assistant.id}: its system prompt never mentions the knowledge base, "
        "so it may never search it; say in the prompt when to search the knowledge base"
    )


def left_behind(pin: PinnedTool) -> str:
    """The warning for a pin on the current tool's latest version, which a sync would update."""
    return (
        f"Assistant {pin.assistant_id} pins version {pin.version} of the knowledge-base "
        "tool, which the sync would update: it will not see new documents until the pin "
        "is moved"
    )


def _pin_warning(pin: PinnedTool, tool_id: str) -> str:
    if pin.current:
        return (
            f"Assistant {pin.assistant_id} pins version {pin.version} of the knowledge-base "
            f"tool, whose latest version is {pin.latest_version}: it will not see new "
            "documents until the pin is moved"
        )
    return (
        f"Assistant {pin.assistant_id} pins version {pin.version} of an earlier "
        f"knowledge-base tool ({pin.tool_id}): it will not see new documents until the pin "
        f"is moved to tool {tool_id}"
    )
