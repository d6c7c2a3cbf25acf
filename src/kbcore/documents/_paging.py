"""Keyset pages of a newest-first listing, and their opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar
from uuid import UUID

from kbcore._domain import Page, PageKey, PageRequest
from kbcore.errors import ValidationError


class _Keyed(Protocol):
    """What a listing is ordered by: the newest first by (created_at, id)."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> UUID: ...


K = TypeVar("K", bound=_Keyed)


def page_request(
    org_id: UUID, *, category: str | None, include_inactive: bool, size: int, after: PageKey | None
) -> PageRequest:
    """What to read for a page of ``size`` items: one row more, to tell whether more follow."""
    return PageRequest(
        org_id=org_id,
        category=category,
        include_inactive=include_inactive,
        limit=size + 1,
        after=after,
    )


def page_of(rows: Sequence[K], request: PageRequest) -> Page[K]:
    """The page that ``page_request`` asked for, with a cursor when a next page exists."""
    size = request.limit - 1
    items = list(rows[:size])
    next_cursor = encode_cursor(items[-1]) if len(rows) > size else None
    return Page(items=items, next_cursor=next_cursor)


def encode_cursor(item: _Keyed) -> str:
    """An opaque token for "the page after this item"."""
    raw = json.dumps([item.created_at.isoformat(), str(item.id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: object) -> PageKey:
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise ValidationError("cursor", "Invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, document_id = json.loads(raw)
        key = PageKey(created_at=datetime.fromisoformat(created_at), id=UUID(document_id))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError("cursor", "Invalid cursor") from None
    if key.created_at.tzinfo is None:
        raise ValidationError("cursor", "Invalid cursor")
    return key
