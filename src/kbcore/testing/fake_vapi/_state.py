"""What the fake holds: files with their bytes, tools and assistants as Vapi's JSON."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

__all__ = ["FakeFile", "FakeState", "timestamp"]


def timestamp(moment: datetime) -> str:
    """Vapi's timestamp format: ISO 8601 in UTC with milliseconds and a ``Z``."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@attrs.define
class FakeFile:
    """An uploaded file. Its bytes never change; only ``name`` can (PATCH renames)."""

    id: str
    org_id: str
    name: str
    original_name: str
    content: bytes = attrs.field(repr=False)
    mimetype: str
    purpose: str | None
    metadata: dict[str, Any] | None
    status: str
    created_at: datetime
    updated_at: datetime
    #: The fake clock's time at which ``processing`` ends.
    ready_at: float = 0.0
    #: What ``processing`` ends in: ``done``, or ``failed`` when a fault says so.
    outcome: str = "done"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "object": "file",
            "id": self.id,
            "orgId": self.org_id,
            "name": self.name,
            "originalName": self.original_name,
            "bytes": len(self.content),
            "mimetype": self.mimetype,
            "status": self.status,
            "createdAt": timestamp(self.created_at),
            "updatedAt": timestamp(self.updated_at),
        }
        if self.purpose is not None:
            data["purpose"] = self.purpose
        if self.metadata is not None:
            data["metadata"] = self.metadata
        return data


@attrs.define
class FakeState:
    """The objects of the fake's one org, and the clocks it reads."""

    org_id: str
    clock: Callable[[], float]
    wall_clock: Callable[[], datetime]
    #: How long a new file stays ``processing``, read when the file arrives.
    processing_seconds: Callable[[], float]
    files: dict[str, FakeFile] = attrs.field(factory=dict)
    tools: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    assistants: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    #: Credentials by id, as Vapi's JSON (``authenticationPlan`` holds how to sign).
    credentials: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    #: Tools whose PATCH and DELETE answer 409 ``tool_pinned`` (``FakeVapi.pin_tool``).
    pinned_tool_ids: set[str] = attrs.field(factory=set)
    #: How many of the next uploads end their processing ``failed``.
    failing_uploads: int = 0
    #: Whether ``GET /file`` needs ``purpose``, as the spec of 2026-08-18 says.
    file_list_needs_purpose: Callable[[], bool] = lambda: False

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def stamp(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` as a new object of this org: id, orgId, createdAt and updatedAt set."""
        now = timestamp(self.wall_clock())
        return {
            "id": self.new_id(),
            "orgId": self.org_id,
            **data,
            "createdAt": now,
            "updatedAt": now,
        }

    def touch(self, data: dict[str, Any]) -> None:
        data["updatedAt"] = timestamp(self.wall_clock())

    def file(self, file_id: str) -> FakeFile | None:
        """The file, its processing finished if its time has come."""
        stored = self.files.get(file_id)
        if stored is not None and stored.status == "processing" and self.clock() >= stored.ready_at:
            stored.status = stored.outcome
        return stored

    def pinning_assistants(self, tool_id: str) -> list[str]:
        """Ids of the assistants that pin a version of the tool in ``model.toolRefs``."""
        return [
            assistant_id
            for assistant_id, assistant in self.assistants.items()
            if any(
                isinstance(ref, dict) and ref.get("toolId") == tool_id
                for ref in (assistant.get("model") or {}).get("toolRefs") or ()
            )
        ]
