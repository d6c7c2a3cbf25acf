"""The rules of a document's fields: pure checks that return clean values or raise.

The messages are the existing system's where it had one, so that users see
the same words after a host adopts kbcore.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kbcore._validators import text
from kbcore.errors import ValidationError

#: Categories of the existing system; a host may configure its own set.
DEFAULT_CATEGORIES: frozenset[str] = frozenset(
    {"products_services", "operations", "ai_guidelines", "general"}
)
DEFAULT_CATEGORY = "general"

MAX_FILENAME_CHARS = 255
MAX_CONTENT_BYTES = 300_000
MAX_METADATA_BYTES = 16_384
#: Levels of nested objects and arrays in metadata, the metadata object being the first.
MAX_METADATA_DEPTH = 64
MAX_PAGE_SIZE = 500
#: Versions are PostgreSQL integers.
MAX_VERSION = 2**31 - 1
# From this magnitude on, Python writes an integral float with an exponent and jsonb
# reads it back as an integer.
_JSONB_EXACT_FLOATS = 1e16


def _has_control_characters(text: str) -> bool:
    # A control character is never printable: most names are settled without the loop.
    return not text.isprintable() and any(unicodedata.category(char) == "Cc" for char in text)


def _category_set(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationError("categories", "must be a collection of category names")
    categories = frozenset(values)
    if not categories:
        raise ValidationError("categories", "must name at least one category")
    for category in categories:
        name = text("categories", category)
        if name != name.strip() or not name or _has_control_characters(name):
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
        name = text("filename", value).strip()
        if not name:
            raise ValidationError("filename", "Filename cannot be empty")
        if len(name) > MAX_FILENAME_CHARS:
            raise ValidationError(
                "filename", f"Filename too long. Max {MAX_FILENAME_CHARS} characters."
            )
        # Without a separator no name can climb out of a folder: only "." and ".." name one.
        if name in {".", ".."} or "/" in name or "\\" in name:
            raise ValidationError(
                "filename", "Filename cannot contain path separators or traversal sequences"
            )
        if _has_control_characters(name):
            raise ValidationError("filename", "Filename cannot contain control characters")
        return name

    def content(self, value: object) -> str:
        content = text("content", value)
        if not content.strip():
            raise ValidationError("content", "Content cannot be empty or whitespace-only")
        if len(content.encode("utf-8")) > MAX_CONTENT_BYTES:
            raise ValidationError("content", f"File too large. Max {MAX_CONTENT_BYTES} bytes.")
        if "\x00" in content:
            raise ValidationError("content", "Content cannot contain NUL characters")
        return content

    def category(self, value: object) -> str:
        if value is None:
            return self.default_category
        name = text("category", value).strip()
        if name not in self.categories:
            allowed = ", ".join(sorted(self.categories))
            raise ValidationError("category", f"Invalid category. Must be one of: {allowed}")
        return name


def metadata(value: object) -> Mapping[str, Any]:
    """Free-form JSON object kept with a document, returned in the form it will read back."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ValidationError("metadata", "must be a JSON object with string keys")
    # Before anything recursive (json itself) meets it, and without recursing.
    if _deeper_than(value, MAX_METADATA_DEPTH):
        raise ValidationError(
            "metadata", f"Metadata nested too deeply. Max {MAX_METADATA_DEPTH} levels."
        )
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


def _deeper_than(value: object, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (a cycle nests forever)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children: Iterable[object] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


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
