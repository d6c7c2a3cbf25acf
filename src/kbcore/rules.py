"""Input validation: pure functions that return clean values or raise ValidationError.

The messages are the existing system's where it had one, so that users see
the same words after a host adopts kbcore.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import attrs

from kbcore.domain import DEFAULT_CATEGORIES, DEFAULT_CATEGORY
from kbcore.errors import ValidationError

MAX_FILENAME_CHARS = 255
MAX_CONTENT_BYTES = 300_000
MAX_ACTOR_CHARS = 255
MAX_METADATA_BYTES = 16_384
MAX_PAGE_SIZE = 500
# From this magnitude on, Python writes an integral float with an exponent and jsonb
# reads it back as an integer.
_JSONB_EXACT_FLOATS = 1e16


def _require_text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, "must be valid Unicode text") from None
    return value


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def _category_set(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationError("categories", "must be a collection of category names")
    categories = frozenset(values)
    if not categories:
        raise ValidationError("categories", "must name at least one category")
    for category in categories:
        text = _require_text("categories", category)
        if text != text.strip() or not text or _has_control_characters(text):
            raise ValidationError("categories", f"{category!r} is not a usable category name")
    return categories


@attrs.frozen
class Rules:
    """The limits a KnowledgeBase enforces. A host may pass its own categories."""

    categories: frozenset[str] = attrs.field(default=DEFAULT_CATEGORIES, converter=_category_set)
    default_category: str = attrs.field(default=DEFAULT_CATEGORY)

    @default_category.validator
    def _default_is_allowed(self, _: attrs.Attribute[str], value: object) -> None:
        if not isinstance(value, str) or value not in self.categories:
            raise ValidationError(
                "default_category", f"{value!r} is not among the allowed categories"
            )

    def filename(self, value: object) -> str:
        text = _require_text("filename", value).strip()
        if not text:
            raise ValidationError("filename", "Filename cannot be empty")
        if len(text) > MAX_FILENAME_CHARS:
            raise ValidationError(
                "filename", f"Filename too long. Max {MAX_FILENAME_CHARS} characters."
            )
        # Without a separator no name can climb out of a folder: only "." and ".." name one.
        if text in {".", ".."} or "/" in text or "\\" in text:
            raise ValidationError(
                "filename", "Filename cannot contain path separators or traversal sequences"
            )
        if _has_control_characters(text):
            raise ValidationError("filename", "Filename cannot contain control characters")
        return text

    def content(self, value: object) -> str:
        text = _require_text("content", value)
        if not text.strip():
            raise ValidationError("content", "Content cannot be empty or whitespace-only")
        if len(text.encode("utf-8")) > MAX_CONTENT_BYTES:
            raise ValidationError("content", f"File too large. Max {MAX_CONTENT_BYTES} bytes.")
        if "\x00" in text:
            raise ValidationError("content", "Content cannot contain NUL characters")
        return text

    def category(self, value: object) -> str:
        if value is None:
            return self.default_category
        text = _require_text("category", value).strip()
        if text not in self.categories:
            allowed = ", ".join(sorted(self.categories))
            raise ValidationError("category", f"Invalid category. Must be one of: {allowed}")
        return text


def actor(value: object) -> str | None:
    """Who made a change: free text for the audit log, or None."""
    if value is None:
        return None
    text = _require_text("actor", value)
    if len(text) > MAX_ACTOR_CHARS:
        raise ValidationError("actor", f"Actor too long. Max {MAX_ACTOR_CHARS} characters.")
    if "\x00" in text:
        raise ValidationError("actor", "Actor cannot contain NUL characters")
    return text


def active(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("active", f"must be true or false, not {type(value).__name__}")
    return value


def version(value: object, field: str = "version") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an integer, not {type(value).__name__}")
    if value < 1 or value > 2**31 - 1:
        raise ValidationError(field, "must be a positive version number")
    return value


def uuid(value: object, field: str) -> UUID:
    """A UUID given as UUID or str; anything else is a ValidationError, never NotFound."""
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a UUID, not {type(value).__name__}")
    try:
        return UUID(value)
    except ValueError:
        raise ValidationError(field, "must be a valid UUID") from None


def metadata(value: object) -> Mapping[str, Any]:
    """Free-form JSON object kept with a document, returned in the form it will read back."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ValidationError("metadata", "must be a JSON object with string keys")
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        raise ValidationError("metadata", "must be JSON-serialisable") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValidationError("metadata", f"Metadata too large. Max {MAX_METADATA_BYTES} bytes.")
    # The decoded copy is what the database will hand back: tuples become lists, and
    # non-string keys of nested objects become strings, as JSON has them.
    canonical: dict[str, Any] = json.loads(encoded)
    _check_json_values(canonical)
    return canonical


def _check_json_values(value: object) -> None:
    """Refuse what PostgreSQL cannot keep exactly: NUL characters and huge floats."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json_values(key)
            _check_json_values(item)
    elif isinstance(value, list):
        for item in value:
            _check_json_values(item)
    elif isinstance(value, str) and "\x00" in value:
        raise ValidationError("metadata", "cannot contain NUL characters")
    elif isinstance(value, float) and value.is_integer() and abs(value) >= _JSONB_EXACT_FLOATS:
        # jsonb prints such a float as an integer (1e23 comes back as 10**23).
        raise ValidationError(
            "metadata",
            f"the number {value!r} cannot be stored exactly; send it as an integer or a string",
        )


def page_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("limit", f"must be an integer, not {type(value).__name__}")
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise ValidationError("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
    return value
