"""Which tools an assistant has, and the model that gives it others: pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kbcore.errors import VapiError
from kbcore.vapi._models import VapiAssistant

__all__ = ["ToolIdsChange", "change_tool_ids", "model_to_send"]


@attrs.frozen
class ToolIdsChange:
    """How an assistant's ``model.toolIds`` change to attach and detach some tools.

    ``model`` is the whole new model, or ``None`` when nothing changes. ``pinned``
    are ids to attach that the assistant pins in ``model.toolRefs``: a pin counts as
    attached, and Vapi drops a pinned id from ``toolIds`` on write, so adding it
    there would only make every sync send the same PATCH again.
    """

    model: dict[str, Any] | None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    pinned: tuple[str, ...] = ()


def change_tool_ids(
    assistant: VapiAssistant, attach: Iterable[str] = (), detach: Iterable[str] = ()
) -> ToolIdsChange:
    """The change that attaches ``attach`` and detaches ``detach``, keeping every other tool.

    An id in both ends up attached. Pins in ``toolRefs`` are left as they are:
    they are someone's decision to hold an assistant on one version of a tool.
    """
    to_attach = list(dict.fromkeys(attach))
    to_detach = set(detach) - set(to_attach)
    pinned_ids = {ref.tool_id for ref in assistant.tool_refs}
    current = assistant.tool_ids
    kept = [tool_id for tool_id in current if tool_id not in to_detach]
    pinned = tuple(tool_id for tool_id in to_attach if tool_id in pinned_ids)
    added = tuple(t for t in to_attach if t not in kept and t not in pinned_ids)
    removed = tuple(dict.fromkeys(t for t in current if t in to_detach))
    if not added and not removed:
        return ToolIdsChange(None, pinned=pinned)
    model = {**(assistant.model or {}), "toolIds": [*kept, *added]}
    return ToolIdsChange(model, added=added, removed=removed, pinned=pinned)


def model_to_send(
    assistant: VapiAssistant, model: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The model a PATCH of the assistant sends for ``model``; ``None`` when nothing changes.

    Raises ``VapiError`` for a change to an assistant that has no model to change.
    """
    if model is None or (assistant.model is not None and dict(model) == dict(assistant.model)):
        return None
    if assistant.model is None:
        raise VapiError(
            f"Vapi assistant {assistant.id} has no model; configure its model in Vapi first"
        )
    return dict(model)
