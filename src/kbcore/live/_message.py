"""Vapi's ``knowledge-base-request``, read as the server needs it: the caller's last turns.

Vapi POSTs ``{"message": {"type": "knowledge-base-request", "messagesOpenAIFormatted":
[...], "messages": [...], "call": {...}, ...}}``. The caller's words are the last
``user`` item of ``messagesOpenAIFormatted`` (``content``), else of ``messages``
(``message``, or ``content`` as Vapi's guide shows it). Unknown keys are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import attrs

KNOWLEDGE_BASE_REQUEST = "knowledge-base-request"

#: The most characters of a turn that are read: a turn is a sentence or two, and
#: a query keeps its first twelve terms anyway.
MAX_TURN_CHARS = 2000


class BadMessage(Exception):
    """The body is not a knowledge-base request; the message says why, for the sender."""


@attrs.frozen
class KnowledgeRequest:
    """What a caller just said (``turn``), what they said before it, and the call's ids."""

    turn: str | None = attrs.field(repr=False)
    previous: str | None = attrs.field(repr=False, default=None)
    assistant_id: str | None = None
    call_id: str | None = None


def read_message(body: bytes) -> KnowledgeRequest:
    """The request in a body Vapi sent; ``BadMessage`` when it is not one."""
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        raise BadMessage("The body is not JSON") from None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise BadMessage('Expected a Vapi server message: {"message": {"type": ...}}')
    kind = message.get("type")
    if kind != KNOWLEDGE_BASE_REQUEST:
        shown = kind[:60] if isinstance(kind, str) else type(kind).__name__
        raise BadMessage(f"This server answers knowledge-base-request messages, not {shown!r}")
    turns = list(_user_turns(message))
    call = message.get("call")
    call = call if isinstance(call, dict) else {}
    return KnowledgeRequest(
        turn=turns[-1] if turns else None,
        previous=turns[-2] if len(turns) > 1 else None,
        assistant_id=_text(call.get("assistantId")),
        call_id=_text(call.get("id")),
    )


#: Where a message list keeps the caller's words: the lists in the order they are read,
#: each with the fields of an item that may hold the text.
_TURN_FIELDS = (("messagesOpenAIFormatted", ("content",)), ("messages", ("message", "content")))


def _user_turns(message: dict[str, Any]) -> Iterator[str]:
    """What the caller said, oldest first, from the first list that has any of it."""
    for key, fields in _TURN_FIELDS:
        items = message.get(key)
        said = [_said(item, fields) for item in items] if isinstance(items, list) else []
        turns = [text[:MAX_TURN_CHARS] for text in said if text is not None]
        if turns:
            yield from turns
            return


def _said(item: object, fields: tuple[str, ...]) -> str | None:
    if not isinstance(item, dict) or item.get("role") != "user":
        return None
    return next((text for field in fields if (text := _text(item.get(field)))), None)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
