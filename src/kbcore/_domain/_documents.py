"""Documents, their changes, pages, imports and search hits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar
from uuid import UUID

import attrs

T = TypeVar("T")


class ChangeType(StrEnum):
    """What a changelog row records. The first three are the existing system's."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    RESTORED = "restored"
    REACTIVATED = "reactivated"
    RENAMED = "renamed"
    RECATEGORIZED = "recategorized"


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(value)


@attrs.frozen
class Document:
    """A document as stored: the current version of one knowledge-base file."""

    id: UUID
    org_id: UUID
    filename: str
    content: str = attrs.field(repr=False)
    category: str
    version: int
    active: bool
    metadata: Mapping[str, Any] = attrs.field(repr=False, converter=_frozen_mapping)
    created_at: datetime
    updated_at: datetime


@attrs.frozen
class NewDocument:
    """A validated document that is not stored yet."""

    org_id: UUID
    filename: str
    content: str = attrs.field(repr=False)
    category: str
    metadata: Mapping[str, Any] = attrs.field(factory=dict, repr=False, converter=_frozen_mapping)


@attrs.frozen
class DocumentState:
    """The fields of a document that an update may change, as they will be stored."""

    filename: str
    content: str = attrs.field(repr=False)
    category: str
    version: int
    active: bool

    @classmethod
    def of(cls, document: Document) -> DocumentState:
        return cls(
            filename=document.filename,
            content=document.content,
            category=document.category,
            version=document.version,
            active=document.active,
        )


@attrs.frozen
class ChangeDraft:
    """A changelog row about to be written with the change it records."""

    change_type: ChangeType
    summary: str
    changed_by: str | None
    version_from: int | None = None
    version_to: int | None = None
    previous_content: str | None = attrs.field(default=None, repr=False)
    new_content: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Change:
    """One row of a document's audit trail."""

    id: UUID
    document_id: UUID
    org_id: UUID
    change_type: ChangeType = attrs.field(converter=ChangeType)
    version_from: int | None
    version_to: int | None
    changed_by: str | None
    summary: str | None
    previous_content: str | None = attrs.field(repr=False)
    new_content: str | None = attrs.field(repr=False)
    created_at: datetime


@attrs.frozen
class PageKey:
    """Where a page of a newest-first listing ends: the last row's sort key."""

    created_at: datetime
    id: UUID


@attrs.frozen
class PageRequest:
    """Which rows of an org's newest-first listing to read: up to ``limit`` after ``after``.

    The order is (created_at, id) descending; ``after`` is the sort key of the row
    before the first one wanted, ``None`` for the first page.
    """

    org_id: UUID
    category: str | None
    include_inactive: bool
    limit: int
    after: PageKey | None


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is ``None`` on the last page."""

    items: Sequence[T]
    next_cursor: str | None


@attrs.frozen
class IdempotencyKey:
    """A create's idempotency key, and the fingerprint of the request it came with.

    A create that brings back a key its org used before writes nothing and gets the
    document that key created; the fingerprints tell a retry from a different request.
    """

    key: str
    fingerprint: str


#: The message of a key brought back with a different request.
KEY_REUSED_MESSAGE = "was already used to create a different document"


@attrs.frozen
class DocumentDraft:
    """One document to import, as the caller gave it; ``import_documents`` validates it."""

    filename: str
    content: str = attrs.field(repr=False)
    category: str | None = None
    metadata: Mapping[str, Any] | None = attrs.field(default=None, repr=False)


@attrs.frozen
class ImportProblem:
    """Why the item at ``index`` (0-based, in the order given) was not imported."""

    index: int
    field: str
    message: str


@attrs.frozen
class ImportReport:
    """What an import did. ``skipped`` counts items that wrote nothing on purpose.

    The counts are those of committed items. An import that the database stopped
    (``ImportInterrupted``) lists, by index, the items it did not write (``not_saved``)
    and those of the batch whose commit went unanswered (``outcome_unknown``); every
    other valid item was committed.
    """

    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: tuple[ImportProblem, ...] = ()
    not_saved: tuple[int, ...] = ()
    outcome_unknown: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every item was written or skipped on purpose."""
        return not (self.errors or self.not_saved or self.outcome_unknown)


@attrs.frozen
class Creation:
    """A document an import creates at version 1, its id chosen up front.

    ``change`` is its ``created`` change, whose new content is the document's content.
    A document imported deleted has its ``deleted`` change in ``deletion``, written
    after ``change``; it is stored inactive.
    """

    id: UUID
    document: NewDocument
    change: ChangeDraft
    deletion: ChangeDraft | None = None


def _frozen_changes(value: Sequence[ChangeDraft]) -> tuple[ChangeDraft, ...]:
    return tuple(value)


@attrs.frozen
class Revision:
    """An import's changes to one stored document: its new state and changelog rows."""

    document_id: UUID
    state: DocumentState
    metadata: Mapping[str, Any] = attrs.field(repr=False, converter=_frozen_mapping)
    changes: Sequence[ChangeDraft] = attrs.field(converter=_frozen_changes)


@attrs.frozen
class DocumentSummary:
    """A document without its content: what a listing of a large org needs."""

    id: UUID
    org_id: UUID
    filename: str
    category: str
    version: int
    active: bool
    size_bytes: int
    metadata: Mapping[str, Any] = attrs.field(repr=False, converter=_frozen_mapping)
    created_at: datetime
    updated_at: datetime


#: How a search hit's snippet marks the words that matched.
HIGHLIGHT = "**"


@attrs.frozen
class SearchHit:
    """A document that matches a search, best first; ``snippet`` marks matches with ``**``."""

    document_id: UUID
    filename: str
    category: str
    rank: float
    snippet: str


@attrs.frozen
class RankedPassage:
    """A passage of a document that answers a caller's question, with how well.

    ``context`` says where it comes from (``pricing.md > Plans > Pro``); ``similarity``
    is in 0..1, near 1 only when the passage holds every word of the question.
    """

    document_id: UUID
    position: int
    context: str
    content: str = attrs.field(repr=False)
    similarity: float
