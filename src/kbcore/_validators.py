"""Checks of input values: each returns the clean value or raises ``ValidationError``.

Every helper takes the name of the field it checks first, as attrs validators take
the attribute, so that the error names what the caller got wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from kbcore.errors import ValidationError

MAX_ACTOR_CHARS = 255


def text(field: str, value: object) -> str:
    """A ``str`` that encodes as UTF-8 (no lone surrogates), as it was given."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, "must be valid Unicode text") from None
    return value


def flag(field: str, value: object) -> bool:
    """``True`` or ``False``; not 1, not "yes"."""
    if not isinstance(value, bool):
        raise ValidationError(field, f"must be true or false, not {type(value).__name__}")
    return value


def integer(
    field: str, value: object, *, low: int, high: int, out_of_range: str | None = None
) -> int:
    """An ``int`` (not a ``bool``) from ``low`` to ``high``; ``out_of_range`` says why not."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValidationError(field, out_of_range or f"must be between {low} and {high}")
    return value


def uuid(field: str, value: object) -> UUID:
    """A UUID given as ``UUID`` or ``str``; anything else is a ValidationError, never NotFound."""
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a UUID, not {type(value).__name__}")
    try:
        return UUID(value)
    except ValueError:
        raise ValidationError(field, "must be a valid UUID") from None


def actor(value: object) -> str | None:
    """Who made a change: free text for the audit log, or None."""
    if value is None:
        return None
    checked = text("actor", value)
    if len(checked) > MAX_ACTOR_CHARS:
        raise ValidationError("actor", f"Actor too long. Max {MAX_ACTOR_CHARS} characters.")
    if "\x00" in checked:
        raise ValidationError("actor", "Actor cannot contain NUL characters")
    return checked


class _Above:
    """An attrs validator: a number (not a ``bool``) above ``bound``, or from it on."""

    __slots__ = ("_bound", "_inclusive")

    def __init__(self, bound: object, *, inclusive: bool) -> None:
        self._bound = bound
        self._inclusive = inclusive

    def __call__(self, instance: object, attribute: Any, value: object) -> None:
        bound = self._bound
        kind = type(bound) if isinstance(bound, timedelta) else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            wanted = "a timedelta" if isinstance(bound, timedelta) else "a number"
            raise ValidationError(attribute.name, f"must be {wanted}, not {type(value).__name__}")
        if value < bound or (value == bound and not self._inclusive):  # type: ignore[operator]
            relation = "at least" if self._inclusive else "greater than"
            raise ValidationError(attribute.name, f"must be {relation} {bound}, not {value}")


def greater_than(bound: float | timedelta) -> _Above:
    """An attrs validator whose failure is a ``ValidationError`` naming the attribute."""
    return _Above(bound, inclusive=False)


def at_least(bound: float | timedelta) -> _Above:
    """An attrs validator whose failure is a ``ValidationError`` naming the attribute."""
    return _Above(bound, inclusive=True)


def instance_of(kind: type) -> Callable[[object, Any, object], None]:
    """An attrs validator: ``value`` is a ``kind``, or a ``ValidationError`` naming the field."""

    def check(instance: object, attribute: Any, value: object) -> None:
        if not isinstance(value, kind):
            raise ValidationError(
                attribute.name, f"must be a {kind.__name__}, not {type(value).__name__}"
            )

    return check
