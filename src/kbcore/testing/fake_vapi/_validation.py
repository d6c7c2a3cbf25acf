"""Vapi's request validation, with class-validator's messages.

Vapi (NestJS with a whitelist) rejects unknown properties and missing required
ones with a 400 whose ``message`` lists every problem. These checks return that
list; an empty list means the body is accepted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "FILE_NAME_LIMIT",
    "validate_assistant_update",
    "validate_file_update",
    "validate_query_tool",
    "validate_upload_fields",
]

FILE_NAME_LIMIT = 40
METADATA_LIMIT = 4096
FILE_PURPOSES = ("assistant", "composer-attachment", "knowledge-base-v2")
KNOWLEDGE_BASE_MODELS = (
    "gemini-3.5-flash",
    "gemini-3.1-flash-lite",
    "gemini-3-flash-preview",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash-thinking-exp",
    "gemini-2.0-pro-exp-02-05",
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "gemini-2.0-flash-exp",
    "gemini-2.0-flash-realtime-exp",
    "gemini-1.5-flash",
    "gemini-1.5-flash-002",
    "gemini-1.5-pro",
    "gemini-1.5-pro-002",
    "gemini-1.0-pro",
)
_TOOL_FIELDS = frozenset({"type", "knowledgeBases", "function", "messages", "rejectionPlan"})
_KNOWLEDGE_BASE_FIELDS = frozenset({"name", "provider", "model", "description", "fileIds"})
_READ_ONLY_ASSISTANT_FIELDS = frozenset({"id", "orgId", "createdAt", "updatedAt"})


def _unknown(body: Mapping[str, Any], allowed: frozenset[str], prefix: str = "") -> list[str]:
    return [f"{prefix}property {key} should not exist" for key in body if key not in allowed]


def _one_of(field: str, allowed: tuple[str, ...]) -> str:
    return f"{field} must be one of the following values: {', '.join(allowed)}"


def _not_object(body: Any) -> list[str] | None:
    return None if isinstance(body, dict) else ["body must be an object"]


def validate_query_tool(body: Any) -> list[str]:
    """``CreateQueryToolDTO`` and ``UpdateQueryToolDTO``.

    ``type`` picks the schema upstream, so a PATCH needs it as much as a POST.
    """
    if (problem := _not_object(body)) is not None:
        return problem
    errors = _unknown(body, _TOOL_FIELDS)
    if body.get("type") != "query":
        errors.append(_one_of("type", ("query",)))
    if "function" in body and not isinstance(body["function"], dict):
        errors.append("function must be an object")
    if "messages" in body and not isinstance(body["messages"], list):
        errors.append("messages must be an array")
    if "rejectionPlan" in body and not isinstance(body["rejectionPlan"], dict):
        errors.append("rejectionPlan must be an object")
    if "knowledgeBases" in body:
        knowledge_bases = body["knowledgeBases"]
        if not isinstance(knowledge_bases, list):
            errors.append("knowledgeBases must be an array")
        else:
            for index, kb in enumerate(knowledge_bases):
                errors.extend(_knowledge_base(kb, f"knowledgeBases.{index}."))
    return errors


def _knowledge_base(kb: Any, prefix: str) -> list[str]:
    if not isinstance(kb, dict):
        return [f"{prefix[:-1]} must be an object"]
    errors = _unknown(kb, _KNOWLEDGE_BASE_FIELDS, prefix)
    if kb.get("provider") != "google":
        errors.append(_one_of(f"{prefix}provider", ("google",)))
    for field in ("name", "description"):
        if not isinstance(kb.get(field), str):
            errors.append(f"{prefix}{field} must be a string")
    file_ids = kb.get("fileIds")
    if not isinstance(file_ids, list):
        errors.append(f"{prefix}fileIds must be an array")
    elif not all(isinstance(file_id, str) for file_id in file_ids):
        errors.append(f"each value in {prefix}fileIds must be a string")
    if "model" in kb and kb["model"] not in KNOWLEDGE_BASE_MODELS:
        errors.append(_one_of(f"{prefix}model", KNOWLEDGE_BASE_MODELS))
    return errors


def validate_file_update(body: Any) -> list[str]:
    """``UpdateFileDTO``: only the name can change."""
    if (problem := _not_object(body)) is not None:
        return problem
    errors = _unknown(body, frozenset({"name"}))
    if "name" in body:
        errors.extend(_name_problems(body["name"]))
    return errors


def _name_problems(name: Any) -> list[str]:
    if not isinstance(name, str):
        return ["name must be a string"]
    if len(name) > FILE_NAME_LIMIT:
        return [f"name must be shorter than or equal to {FILE_NAME_LIMIT} characters"]
    if not name:
        return ["name must be longer than or equal to 1 characters"]
    return []


def validate_upload_fields(
    fields: Mapping[str, str], filename: str | None, has_file: bool
) -> list[str]:
    """``CreateFileDTO``: a ``file`` part, and optional ``purpose`` and ``metadata`` fields."""
    errors = _unknown(fields, frozenset({"purpose", "metadata"}))
    if not has_file:
        errors.append("file should not be empty")
    elif filename is not None:
        errors.extend(_name_problems(filename))
    if "purpose" in fields and fields["purpose"] not in FILE_PURPOSES:
        errors.append(_one_of("purpose", FILE_PURPOSES))
    if "metadata" in fields:
        metadata = fields["metadata"]
        if len(metadata) > METADATA_LIMIT:
            errors.append(f"metadata must be shorter than or equal to {METADATA_LIMIT} characters")
        else:
            try:
                json.loads(metadata)
            except ValueError:
                errors.append("metadata must be a json string")
    return errors


def validate_assistant_update(body: Any) -> list[str]:
    """``UpdateAssistantDTO``: any top-level field; a ``model`` must be a whole model."""
    if (problem := _not_object(body)) is not None:
        return problem
    errors = [
        f"property {key} should not exist" for key in body if key in _READ_ONLY_ASSISTANT_FIELDS
    ]
    if "name" in body:
        errors.extend(_name_problems(body["name"]))
    if "model" in body:
        model = body["model"]
        if not isinstance(model, dict):
            return [*errors, "model must be an object"]
        for field in ("provider", "model"):
            if not isinstance(model.get(field), str) or not model[field]:
                errors.append(f"model.{field} should not be empty")
        tool_ids = model.get("toolIds", [])
        if not isinstance(tool_ids, list) or not all(isinstance(i, str) for i in tool_ids):
            errors.append("model.each value in toolIds must be a string")
    return errors
