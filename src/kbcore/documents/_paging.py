"""Keyset pages of a newest-first listing, and their opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar
from uuid import UUID

import attrs

from kbcore._domain import Page, PageKey
from kbcore.errors import ValidationError


class _Keyed(Protocol):
    """What a listing is ordered by: the newest first by (created_at, id)."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> UUID: ...


K = TypeVar("K", bound=_Keyed)
K_co = TypeVar("K_co", bound=_Keyed, covariant=True)


class _Rows(Protocol[K_co]):
    """A store's listing read: ``Documents.page`` or ``DocumentSearch.summaries``."""

    def __call__(
        self,
        org_id: UUID,
        *,
        category: str | None,
        include_inactive: bool,
        limit: int,
        after: PageKey | None,
    ) -> Awaitable[Sequence[K_co]]: ...


@attrs.frozen
class PageRequest:
    """A validated listing request."""

    org: UUID
    category: str | None
    include_inactive: bool
    size: int
    after: PageKey | None

    async def page(self, rows_of: _Rows[K]) -> Page[K]:
        """Read one more row than the page holds: its presence says a next page exists."""
        rows = await rows_of(
            self.org,
            category=self.category,
            include_inactive=self.include_inactive,
            limit=self.size + 1,
            after=self.after,
        )
        items = list(rows[: self.size])
        next_cursor = encode_cursor(items[-1]) if len(rows) > self.size else None
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
