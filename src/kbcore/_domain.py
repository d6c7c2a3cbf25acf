"""The values kbcore works with. Frozen, comparable, and free of I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
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
class Assistant:
    """An org's agent that has (or should have) a Vapi assistant."""

    agent_id: UUID
    org_id: UUID
    role: str
    vapi_assistant_id: str | None


@attrs.frozen
class Secret:
    """A credential. Its repr and str never show the value."""

    value: str = attrs.field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@attrs.frozen
class SyncDocument:
    """What a sync needs to know of an active document, without its content."""

    id: UUID
    filename: str
    category: str
    content_sha256: str
    #: The document's version, for people reading a dry run.
    version: int


@attrs.frozen
class LedgerFile:
    """A file kbcore uploaded to Vapi and has not deleted yet."""

    file_id: str
    document_id: UUID
    content_sha256: str


@attrs.frozen
class LedgerTool:
    """A query tool kbcore created for an org; only the current one per name is in use.

    Tools are remembered for ever, ``deleted`` once Vapi no longer has them: a late
    write may put a deleted tool's id back on an assistant, and it is detached again.
    """

    tool_id: str
    tool_name: str
    current: bool
    deleted: bool = False


@attrs.frozen
class ToolIntent:
    """A query tool kbcore was about to create, recorded before the create was sent.

    ``fingerprint`` identifies the tool's knowledge bases (``kbcore.sync._strays``):
    a copy Vapi made behind a lost answer has the same, and so is known as kbcore's.
    """

    tool_name: str
    fingerprint: str


@attrs.frozen
class Claimed:
    """The sync may run: it owns the org until it finishes or its lease runs out."""

    run_id: UUID


@attrs.frozen
class TooSoon:
    """A successful sync ran less than the minimum interval ago."""

    retry_after: float


@attrs.frozen
class Busy:
    """Another sync of the org holds a live lease."""


ClaimOutcome = Claimed | TooSoon | Busy


@attrs.frozen
class SyncOutcome:
    """How a claimed run ended, as the audit log records it."""

    succeeded: bool
    error_message: str | None = None
    tool_id: str | None = None
    docs_synced: int = 0
    assistants_updated: int = 0
    files_uploaded: int = 0
    files_reused: int = 0
    files_deleted: int = 0
    #: Plain sentences about what the sync could not fix itself, for the audit log.
    warnings: tuple[str, ...] = ()


def _strings(value: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(value or ())


@attrs.frozen
class SyncRun:
    """A row of the audit log (``kb_sync_log``)."""

    id: UUID
    org_id: UUID
    status: str
    error_message: str | None
    tool_id: str | None
    duration_ms: int | None
    docs_synced: int | None
    assistants_updated: int | None
    created_at: datetime
    files_uploaded: int | None = None
    files_reused: int | None = None
    files_deleted: int | None = None
    triggered_by: str | None = None
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_strings)


#: The audit message of a run whose process stopped before it finished.
LEASE_EXPIRED_MESSAGE = "Sync interrupted: its process stopped before finishing"

#: The audit message of an attempt refused because another sync of the org was running.
IN_PROGRESS_MESSAGE = "Sync already in progress for this org"

#: The audit message of a sync cancelled while it ran (Ctrl-C, a shutdown, a host's timeout).
CANCELLED_MESSAGE = "The sync was cancelled before it finished"

#: How the audit message of an attempt refused by the rate limit starts (as the runbook asks).
RATE_LIMITED_PREFIX = "Rate limited"


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


@attrs.frozen(kw_only=True)
class DayStats:
    """Attempts of one calendar day (the database session's time zone).

    ``total`` counts every row, refused and still running ones included, as the
    runbook's query does; ``success_rate`` is a percentage rounded to 2 places.
    """

    date: date
    total: int
    successful: int
    success_rate: float


@attrs.frozen(kw_only=True)
class DurationStats:
    """Durations of the successful syncs, in milliseconds; ``None`` when there were none."""

    count: int
    average_ms: float | None
    min_ms: int | None
    max_ms: int | None
    p95_ms: float | None


#: The kinds of failure, as (kind, SQL ``LIKE`` pattern of the message): the first match
#: names a failure's kind. The messages are kbcore's own (``SyncFailed.reason`` and the
#: refusals), so one kind collects messages that differ only in their details.
ERROR_KINDS: tuple[tuple[str, str], ...] = (
    ("rate limited", f"{RATE_LIMITED_PREFIX}%"),
    ("in progress", IN_PROGRESS_MESSAGE),
    ("Vapi rejected the key", "Vapi rejected the API key%"),
    ("Vapi unreachable", "%Vapi at % refused the connection%"),
    ("Vapi unreachable", "%Vapi at % could not be found%"),
    ("Vapi unreachable", "%Vapi at % failed the TLS handshake%"),
    ("Vapi unreachable", "%Vapi at % did not accept a connection%"),
    ("Vapi unreachable", "%Vapi at % could not be reached%"),
    ("Vapi did not answer", "%Vapi at % did not answer within%"),
    ("Vapi did not answer", "%Vapi at % closed the connection without answering%"),
    ("no Vapi key", "No Vapi API key is configured%"),
    ("no documents", "No active documents to sync%"),
    ("no agents", "No agents %"),
    ("cancelled", CANCELLED_MESSAGE),
    ("interrupted", LEASE_EXPIRED_MESSAGE),
    ("claim lost", "The sync lost its claim%"),
    ("unexpected error", "The sync stopped on an unexpected error%"),
    ("Vapi call failed", "Could not %"),
)

#: The kind of a message no pattern matches; each such message is counted on its own.
OTHER_ERRORS = "other"


def error_kind(message: str | None) -> str:
    """The kind of failure ``message`` tells of: an ``ERROR_KINDS`` name or ``OTHER_ERRORS``."""
    if message is not None:
        for kind, pattern in _KIND_PATTERNS:
            if pattern.fullmatch(message):
                return kind
    return OTHER_ERRORS


def _like(pattern: str) -> re.Pattern[str]:
    """SQL ``LIKE`` as a regular expression: ``%`` any text, ``_`` one character."""
    parts = ("." if char == "_" else ".*" if char == "%" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.DOTALL)


_KIND_PATTERNS = tuple((kind, _like(pattern)) for kind, pattern in ERROR_KINDS)


@attrs.frozen(kw_only=True)
class ErrorCount:
    """How often one kind of failure occurred, with its latest message as a sample.

    ``kind`` is a name from ``ERROR_KINDS``, or ``OTHER_ERRORS`` for a message no
    pattern matches (such as the existing system's); those count message by message,
    as the runbook's error summary does.
    """

    kind: str
    count: int
    message: str | None


@attrs.frozen(kw_only=True)
class SyncStats:
    """What the audit log says about the syncs created after ``since`` (up to ``until``).

    ``days`` are newest first; ``errors`` most frequent first (ties by kind, then message).
    Both instants are the database's clock. ``org_id`` is ``None`` for all orgs.
    """

    since: datetime
    until: datetime
    org_id: UUID | None
    days: tuple[DayStats, ...]
    durations: DurationStats
    rate_limit_hits: int
    in_progress_rejections: int
    errors: tuple[ErrorCount, ...]

    @property
    def total(self) -> int:
        """Attempts in the window."""
        return sum(day.total for day in self.days)

    @property
    def successful(self) -> int:
        """Successful syncs in the window."""
        return sum(day.successful for day in self.days)


@attrs.frozen
class SyncRequest:
    """A pending sync of an org's tool that a worker claimed (a row of kb_sync_requests)."""

    org_id: UUID
    tool_name: str
    #: The edits the claimed sync carries.
    edits: int
    #: Failed attempts in a row before this claim.
    attempts: int
    #: The earliest edit the request holds, when the claim was made.
    first_edit_at: datetime
    worker: str


@attrs.frozen
class SyncStatus:
    """Where an org's auto-sync stands: ``kbcore.SyncCoordinator.sync_status`` returns it."""

    org_id: UUID
    tool_name: str
    #: Whether edits wait for a sync (parked or not).
    pending: bool
    #: When a worker may run it (None when nothing is pending).
    due_at: datetime | None
    edits_waiting: int
    #: The worker running it now, if any.
    running_on: str | None
    #: Failed attempts in a row.
    attempts: int
    #: Set when the request waits for a person: an edit, a set-up change or a resume.
    parked_reason: str | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
