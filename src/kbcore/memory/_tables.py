"""MemoryStore's rows and clock: what PostgreSQL's tables and now() are to PostgresStore."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import attrs

from kbcore._domain import (
    Assistant,
    Change,
    Document,
    LedgerFile,
    LedgerTool,
    SyncRun,
    ToolIntent,
)
from kbcore.retrieval import Passage


@attrs.define
class Claim:
    """An org's sync claim and rate-limit window, as kb_sync_claims holds them."""

    running: UUID | None = None
    lease_expires_at: datetime | None = None
    last_success_at: datetime | None = None


@attrs.frozen
class Request:
    """An org's pending sync of one tool name, as a row of kb_sync_requests."""

    due_at: datetime
    first_edit_at: datetime
    last_edit_at: datetime
    edits: int = 1
    attempts: int = 0
    last_failure_at: datetime | None = None
    last_error: str | None = None
    parked_reason: str | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    claimed_edits: int | None = None
    # The first edit since the claim: the oldest waiting edit once the claimed sync succeeds.
    first_newer_edit_at: datetime | None = None


@attrs.define
class Tables:
    """Every row, as the tables of kbcore's schema (and the host's) would hold them."""

    documents: dict[UUID, Document] = attrs.Factory(dict)
    changes: list[Change] = attrs.Factory(list)
    #: Each document's passages (none when inactive), as knowledge_passages holds them.
    passages: dict[UUID, tuple[Passage, ...]] = attrs.Factory(dict)
    #: The id of the active document of each (org, filename), as the unique index has it.
    active_names: dict[tuple[UUID, str], UUID] = attrs.Factory(dict)
    agents: list[Assistant] = attrs.Factory(list)
    vapi_keys: dict[UUID, str] = attrs.Factory(dict)
    claims: dict[UUID, Claim] = attrs.Factory(dict)
    runs: list[SyncRun] = attrs.Factory(list)
    files: dict[tuple[UUID, str], list[LedgerFile]] = attrs.Factory(dict)
    tools: dict[UUID, list[LedgerTool]] = attrs.Factory(dict)
    tool_intents: dict[UUID, list[ToolIntent]] = attrs.Factory(dict)
    #: The idempotency keys of creates: (org, key) to (document id, fingerprint).
    keys: dict[tuple[UUID, str], tuple[UUID, str]] = attrs.Factory(dict)
    #: Pending syncs by (org, tool name); frozen rows, replaced on each change.
    requests: dict[tuple[UUID, str], Request] = attrs.Factory(dict)
    #: Called on every change that may wake a worker (the NOTIFY of PostgreSQL).
    watchers: list[Callable[[], None]] = attrs.Factory(list)

    def wake(self) -> None:
        for watcher in self.watchers:
            watcher()

    def with_own_documents(self) -> Tables:
        """A copy whose documents (and their names), changes, passages and sync requests a
        unit of work may change.

        They are frozen values, so copying the containers is enough to throw the unit's
        writes away on a rollback; the rest is shared.
        """
        return attrs.evolve(
            self,
            documents=dict(self.documents),
            changes=list(self.changes),
            passages=dict(self.passages),
            active_names=dict(self.active_names),
            requests=dict(self.requests),
        )


@attrs.define
class Clock:
    """The store's "database time": strictly increasing, and movable by tests."""

    offset: timedelta = timedelta()
    last: datetime = attrs.field(factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        self.last = max(datetime.now(UTC) + self.offset, self.last + timedelta(microseconds=1))
        return self.last
