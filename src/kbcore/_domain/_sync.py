"""What a sync works with: assistants, the Vapi ledger, claims, runs and requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import attrs


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
