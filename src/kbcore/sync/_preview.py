"""What a dry run reports: the next sync's uploads, deletes, tool and assistants, in values."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import attrs

from kbcore.sync._result import PinnedTool

#: Why a document would be uploaded: never uploaded, edited since, or its file lost or failed.
UploadReason = Literal["new", "changed", "repair"]
#: What would happen to the org's query tool.
ToolAction = Literal["create", "update", "unchanged"]
#: What would happen to kbcore's marked line in an assistant's system prompt.
InstructionChange = Literal["add", "remove"]


@attrs.frozen(kw_only=True)
class PlannedUpload:
    """A document the next sync would upload, and why."""

    document_id: UUID
    filename: str
    version: int
    category: str
    reason: UploadReason


@attrs.frozen(kw_only=True)
class ReusedFile:
    """A document whose file on Vapi already holds its current bytes."""

    document_id: UUID
    filename: str
    version: int
    file_id: str


@attrs.frozen(kw_only=True)
class PlannedTool:
    """The org's query tool: created, updated in place, or left as it is.

    ``tool_id`` is ``None`` when the tool would be created (Vapi gives the id).
    ``retire`` are kbcore's earlier tools (and strays) that would be detached and deleted.
    """

    action: ToolAction
    tool_id: str | None
    retire: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PlannedAssistant:
    """What the next sync would do to one assistant.

    ``attach``: the tool would be added to ``model.toolIds``; ``pinned``: the assistant
    pins the tool in ``model.toolRefs``, which counts as attached; ``detach``: kbcore's
    earlier tools it would remove; ``instruction``: kbcore's prompt line added or removed.
    ``patched`` says whether the assistant would be PATCHed at all.
    """

    assistant_id: str
    attach: bool
    pinned: bool
    detach: tuple[str, ...] = ()
    instruction: InstructionChange | None = None
    patched: bool = False

    @property
    def status(self) -> Literal["attach", "pinned", "attached"]:
        """``attach`` (it would get the tool), ``pinned``, or ``attached`` (it has it)."""
        if self.attach:
            return "attach"
        return "pinned" if self.pinned else "attached"


@attrs.frozen(kw_only=True)
class SyncPreview:
    """What the next sync of the org would do, as read from the database and Vapi now.

    Made by ``SyncCoordinator.plan`` from the same planner as the sync itself, with
    Vapi GETs only: nothing is written, on Vapi or in the database. ``delete`` are
    the superseded Vapi files the sync would delete (none while an assistant pins an
    earlier tool), ``lost`` the recorded files Vapi no longer has (forgotten, nothing
    to delete). ``warnings`` are those the sync would give; ``pins`` those it would report.
    """

    org_id: UUID
    tool_name: str
    uploads: tuple[PlannedUpload, ...]
    reused: tuple[ReusedFile, ...]
    delete: tuple[str, ...]
    lost: tuple[str, ...]
    tool: PlannedTool
    assistants: tuple[PlannedAssistant, ...]
    pins: tuple[PinnedTool, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def nothing_to_do(self) -> bool:
        """Whether the sync would write nothing to Vapi: no upload, delete, tool or PATCH."""
        return not (
            self.uploads
            or self.delete
            or self.tool.action != "unchanged"
            or self.tool.retire
            or any(assistant.patched for assistant in self.assistants)
        )
