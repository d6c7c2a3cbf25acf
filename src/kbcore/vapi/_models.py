"""Vapi's objects as kbcore reads them: frozen values built from Vapi's JSON."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

__all__ = [
    "AssistantModelUpdate",
    "AssistantToolsUpdate",
    "KnowledgeBaseGroup",
    "QueryTool",
    "ToolRef",
    "VapiAssistant",
    "VapiFile",
]

Json = Mapping[str, Any]


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _json_copy(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    # A deep copy: the caller's dict may change after the value is built.
    return None if value is None else copy.deepcopy(dict(value))


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    return datetime.fromisoformat(value)


def _optional_str(data: Json, key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


@attrs.frozen
class VapiFile:
    """A file uploaded to Vapi. Files are immutable: new content means a new file."""

    id: str
    org_id: str
    name: str | None
    original_name: str | None
    size: int | None
    mimetype: str | None
    status: str | None
    created_at: datetime
    updated_at: datetime
    metadata: Mapping[str, Any] | None = attrs.field(default=None, repr=False, converter=_json_copy)

    @classmethod
    def from_json(cls, data: Json) -> VapiFile:
        size = data.get("bytes")
        metadata = data.get("metadata")
        return cls(
            id=str(data["id"]),
            org_id=str(data["orgId"]),
            name=_optional_str(data, "name"),
            original_name=_optional_str(data, "originalName"),
            size=int(size) if isinstance(size, int | float) else None,
            mimetype=_optional_str(data, "mimetype"),
            status=_optional_str(data, "status"),
            created_at=_timestamp(data["createdAt"]),
            updated_at=_timestamp(data["updatedAt"]),
            metadata=metadata if isinstance(metadata, Mapping) else None,
        )


@attrs.frozen
class KnowledgeBaseGroup:
    """One entry of a query tool's ``knowledgeBases``: a named set of files."""

    name: str
    description: str
    file_ids: tuple[str, ...] = attrs.field(converter=_strings)
    provider: str = "google"

    @classmethod
    def for_category(cls, category: str, file_ids: Iterable[str]) -> KnowledgeBaseGroup:
        """The group of one document category, named and described as the existing system did."""
        return cls(
            name=category,
            description=f"Contains {category} information",
            file_ids=sorted(set(file_ids)),
        )

    @classmethod
    def from_json(cls, data: Json) -> KnowledgeBaseGroup:
        return cls(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            file_ids=[str(file_id) for file_id in data.get("fileIds", [])],
            provider=str(data.get("provider", "google")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "name": self.name,
            "description": self.description,
            "fileIds": list(self.file_ids),
        }


@attrs.frozen
class QueryTool:
    """A Vapi query tool: what an assistant searches during a call.

    Vapi's query tools have no name and no ``function``: kbcore knows its tools by id.
    ``latest_version`` is the newest published version (``"v3"``), when Vapi says.
    """

    id: str
    org_id: str
    knowledge_bases: tuple[KnowledgeBaseGroup, ...]
    created_at: datetime
    updated_at: datetime
    latest_version: str | None = None

    @property
    def file_ids(self) -> tuple[str, ...]:
        """Every file id the tool lists, once each, in the order the groups list them."""
        return tuple(dict.fromkeys(i for kb in self.knowledge_bases for i in kb.file_ids))

    @classmethod
    def from_json(cls, data: Json) -> QueryTool:
        return cls(
            id=str(data["id"]),
            org_id=str(data["orgId"]),
            knowledge_bases=tuple(
                KnowledgeBaseGroup.from_json(kb) for kb in data.get("knowledgeBases") or ()
            ),
            created_at=_timestamp(data["createdAt"]),
            updated_at=_timestamp(data["updatedAt"]),
            latest_version=_optional_str(data, "latestVersion"),
        )


@attrs.frozen
class ToolRef:
    """An assistant's pin on one version of a tool (an entry of ``model.toolRefs``)."""

    tool_id: str
    version: str

    @classmethod
    def from_json(cls, data: Json) -> ToolRef:
        return cls(tool_id=str(data["toolId"]), version=str(data["version"]))


@attrs.frozen
class VapiAssistant:
    """A Vapi assistant, with its ``model`` kept whole: a PATCH must send all of it back."""

    id: str
    org_id: str
    name: str | None
    model: Mapping[str, Any] | None = attrs.field(repr=False, converter=_json_copy)
    created_at: datetime
    updated_at: datetime

    @property
    def tool_ids(self) -> tuple[str, ...]:
        """The ids in ``model.toolIds``, in Vapi's order."""
        if self.model is None:
            return ()
        return tuple(str(tool_id) for tool_id in self.model.get("toolIds") or ())

    @property
    def tool_refs(self) -> tuple[ToolRef, ...]:
        """The version pins in ``model.toolRefs``: a pinned tool is attached too."""
        if self.model is None:
            return ()
        refs = self.model.get("toolRefs") or ()
        return tuple(ToolRef.from_json(ref) for ref in refs if isinstance(ref, Mapping))

    def uses_tool(self, tool_id: str) -> bool:
        """Whether the assistant has the tool, in ``toolIds`` or pinned in ``toolRefs``."""
        return tool_id in self.tool_ids or any(ref.tool_id == tool_id for ref in self.tool_refs)

    @classmethod
    def from_json(cls, data: Json) -> VapiAssistant:
        model = data.get("model")
        return cls(
            id=str(data["id"]),
            org_id=str(data["orgId"]),
            name=_optional_str(data, "name"),
            model=model if isinstance(model, Mapping) else None,
            created_at=_timestamp(data["createdAt"]),
            updated_at=_timestamp(data["updatedAt"]),
        )


@attrs.frozen
class AssistantModelUpdate:
    """What ``VapiClient.update_assistant_model`` did: the assistant before and after."""

    before: VapiAssistant
    after: VapiAssistant
    #: Whether a PATCH was sent.
    changed: bool = False


@attrs.frozen
class AssistantToolsUpdate:
    """What ``VapiClient.update_assistant_tools`` did to one assistant.

    ``pinned`` are ids asked for that the assistant already pins in ``toolRefs``:
    attached, so not added to ``toolIds`` (Vapi would drop them there anyway).
    """

    assistant: VapiAssistant
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    pinned: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the assistant's tool ids were changed."""
        return bool(self.added or self.removed)
