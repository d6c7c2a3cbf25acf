"""Vapi's request validation, with class-validator's messages.

Vapi (NestJS with a whitelist) rejects unknown properties and missing required
ones with a 400 whose ``message`` lists every problem. These checks return that
list; an empty list means the body is accepted. Assistants, with their models
per provider, are checked in ``assistant_validation``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "FILE_NAME_LIMIT",
    "FILE_PURPOSES",
    "LIST_LIMIT",
    "is_uuid",
    "name_problems",
    "one_of",
    "parse_date",
    "unknown",
    "validate_file_list_query",
    "validate_file_update",
    "validate_list_query",
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
# CreateQueryToolDTO and UpdateQueryToolDTO: no ``function`` since the spec of 2025-07-08.
_TOOL_FIELDS = frozenset({"type", "knowledgeBases", "messages", "rejectionPlan"})
_KNOWLEDGE_BASE_FIELDS = frozenset({"name", "provider", "model", "description", "fileIds"})
#: The most ``GET /tool`` and ``GET /assistant`` return, whatever ``limit`` asks.
LIST_LIMIT = 1000
_LIST_DATES = tuple(
    f"{field}{bound}" for field in ("createdAt", "updatedAt") for bound in ("Gt", "Lt", "Ge", "Le")
)


def unknown(body: Mapping[str, Any], allowed: frozenset[str], prefix: str = "") -> list[str]:
    """class-validator's whitelist: one message per property the DTO does not declare."""
    return [f"{prefix}property {key} should not exist" for key in body if key not in allowed]


def one_of(field: str, allowed: tuple[str, ...]) -> str:
    return f"{field} must be one of the following values: {', '.join(allowed)}"


def is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _not_object(body: Any) -> list[str] | None:
    return None if isinstance(body, dict) else ["body must be an object"]


def validate_query_tool(body: Any) -> list[str]:
    """``CreateQueryToolDTO`` and ``UpdateQueryToolDTO``.

    ``type`` picks the schema upstream, so a PATCH needs it as much as a POST.
    """
    if (problem := _not_object(body)) is not None:
        return problem
    errors = unknown(body, _TOOL_FIELDS)
    if body.get("type") != "query":
        errors.append(one_of("type", ("query",)))
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
    errors = unknown(kb, _KNOWLEDGE_BASE_FIELDS, prefix)
    if kb.get("provider") != "google":
        errors.append(one_of(f"{prefix}provider", ("google",)))
    for field in ("name", "description"):
        if not isinstance(kb.get(field), str):
            errors.append(f"{prefix}{field} must be a string")
    file_ids = kb.get("fileIds")
    if not isinstance(file_ids, list):
        errors.append(f"{prefix}fileIds must be an array")
    elif not all(isinstance(file_id, str) for file_id in file_ids):
        errors.append(f"each value in {prefix}fileIds must be a string")
    if "model" in kb and kb["model"] not in KNOWLEDGE_BASE_MODELS:
        errors.append(one_of(f"{prefix}model", KNOWLEDGE_BASE_MODELS))
    return errors


def validate_file_update(body: Any) -> list[str]:
    """``UpdateFileDTO``: only the name can change."""
    if (problem := _not_object(body)) is not None:
        return problem
    errors = unknown(body, frozenset({"name"}))
    if "name" in body:
        errors.extend(name_problems(body["name"]))
    return errors


def name_problems(name: Any) -> list[str]:
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
    errors = unknown(fields, frozenset({"purpose", "metadata"}))
    if not has_file:
        errors.append("file should not be empty")
    elif filename is not None:
        errors.extend(name_problems(filename))
    if "purpose" in fields and fields["purpose"] not in FILE_PURPOSES:
        errors.append(one_of("purpose", FILE_PURPOSES))
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


def validate_file_list_query(query: Mapping[str, list[str]], *, required: bool) -> list[str]:
    """``GET /file``'s query: an optional ``purpose`` (required by the spec of 2026-08-18)."""
    errors = unknown(query, frozenset({"purpose"}))
    purposes = query.get("purpose")
    if purposes is None and not required:
        return errors
    if purposes is None or len(purposes) != 1 or purposes[0] not in FILE_PURPOSES:
        errors.append(one_of("purpose", FILE_PURPOSES))
    return errors


def validate_list_query(query: Mapping[str, list[str]]) -> list[str]:
    """``GET /tool``'s and ``GET /assistant``'s query: ``limit`` (a number, so ``10.0``
    too) and date bounds."""
    errors = unknown(query, frozenset({"limit", *_LIST_DATES}))
    for value in query.get("limit", ()):
        limit = _number(value)
        if limit is None:
            errors.append("limit must be a number conforming to the specified constraints")
        elif limit < 0:
            errors.append("limit must not be less than 0")
        elif limit > LIST_LIMIT:
            errors.append(f"limit must not be greater than {LIST_LIMIT}")
    for field in _LIST_DATES:
        if any(parse_date(value) is None for value in query.get(field, ())):
            errors.append(f"{field} must be a Date instance")
    return errors


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_date(value: str) -> datetime | None:
    """An ISO 8601 date-time as the SDK sends it (``Z`` or an offset); naive means UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
