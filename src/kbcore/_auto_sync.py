"""AutoSync: how a store marks its orgs for a sync with every document write."""

from __future__ import annotations

import re
from datetime import timedelta

import attrs

from kbcore.errors import ValidationError

# Vapi tool function names follow OpenAI's rule for function names.
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _duration(instance: object, attribute: attrs.Attribute[timedelta], value: object) -> None:
    if not isinstance(value, timedelta):
        raise ValidationError(
            attribute.name, f"must be a datetime.timedelta, not {type(value).__name__}"
        )
    if value < timedelta(0):
        raise ValidationError(attribute.name, "must not be negative")


def _not_below_debounce(
    instance: AutoSync, attribute: attrs.Attribute[timedelta], value: timedelta
) -> None:
    if value < instance.debounce:
        raise ValidationError(attribute.name, "must not be shorter than the debounce")


def _tool_name(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not _TOOL_NAME.fullmatch(value):
        raise ValidationError(
            attribute.name, "must be 1 to 64 letters, digits, underscores or dashes"
        )


@attrs.frozen
class AutoSync:
    """Every effective document write marks its org as needing a sync of ``tool_name``.

    The mark is written in the write's own transaction. An org has one pending request
    however many edits arrive; it is due at the later of the last edit plus ``debounce``
    (but no later than its first waiting edit plus ``max_wait``, so that a steady stream
    of edits still syncs) and the last successful sync plus ``min_interval`` (keep it
    equal to ``SyncPolicy.min_interval``). Pass ``auto_sync=None`` to a store to turn
    marks off.
    """

    debounce: timedelta = attrs.field(default=timedelta(seconds=10), validator=_duration)
    min_interval: timedelta = attrs.field(default=timedelta(minutes=5), validator=_duration)
    tool_name: str = attrs.field(default="knowledge-search", validator=_tool_name)
    max_wait: timedelta = attrs.field(
        default=timedelta(minutes=1), validator=[_duration, _not_below_debounce]
    )


def is_auto_sync(
    instance: object, attribute: attrs.Attribute[AutoSync | None], value: object
) -> None:
    """An attrs validator of a store's ``auto_sync``: an ``AutoSync``, or None for off."""
    if value is not None and not isinstance(value, AutoSync):
        raise ValidationError(
            "auto_sync", f"must be a kbcore.AutoSync or None, not {type(value).__name__}"
        )
