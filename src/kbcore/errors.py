"""The errors kbcore raises: one hierarchy, one base class to catch.

Every message is written for the person who will read it. Text that came from
a provider (Vapi, PostgreSQL) is kept in a separate attribute and never becomes
the message itself, so a host can show ``str(error)`` to an end user.
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = [
    "DuplicateFilename",
    "HostTableError",
    "KbError",
    "NotFound",
    "NotSaved",
    "OutcomeUnknown",
    "RateLimited",
    "StoreUnavailable",
    "SyncFailed",
    "SyncInProgress",
    "ValidationError",
    "VapiError",
    "VersionConflict",
]


class KbError(Exception):
    """Base class of every error kbcore raises on purpose."""


class ValidationError(KbError, ValueError):
    """An input was rejected before anything was written."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DuplicateFilename(ValidationError):
    """Another active document of the org has this filename; at most one may.

    Deleted documents keep their names (their history is kept), so only active ones
    clash: rename or delete the active one first.
    """

    def __init__(self, filename: str) -> None:
        super().__init__("filename", f"An active document named {filename} already exists")
        self.filename = filename


class NotFound(KbError, LookupError):
    """The object does not exist in this org (or in any org)."""


class VersionConflict(KbError):
    """The document moved on since the version the caller read."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"Document was changed by someone else: expected version {expected}, found {actual}"
        )
        self.expected = expected
        self.actual = actual


class HostTableError(KbError):
    """One of the host's own tables (``agents``, ``integrations``) refused what kbcore wrote.

    kbcore writes only the columns it knows: an agent's org, role and Vapi assistant id,
    an integration's org, provider and config. A host table that needs more (a column
    without a default), or whose constraints refuse the row, is the host application's
    to write. ``table`` names the table; the message never holds the row's values.
    """

    def __init__(self, table: str, message: str) -> None:
        super().__init__(message)
        self.table = table


class StoreUnavailable(KbError):
    """The database could not complete the operation; nothing was half written.

    Every one raised is one of two kinds, which say what became of the writes:
    ``NotSaved`` or ``OutcomeUnknown``. ``sqlstate`` and ``database_message`` are
    what PostgreSQL said, when it said something; they are for operators and logs.
    """

    def __init__(
        self, message: str, *, sqlstate: str | None = None, database_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.database_message = database_message


class NotSaved(StoreUnavailable):
    """Nothing of the operation was written: the database refused it, rolled it back,
    or was never reached. Trying again is safe.
    """


class OutcomeUnknown(StoreUnavailable):
    """The answer was lost after the database may have committed: the change may or may
    not be there. Retry only what is safe to repeat (a create with the same
    ``idempotency_key``), or read first.
    """


class RateLimited(KbError):
    """A sync was attempted too soon after the last successful one."""

    def __init__(self, retry_after: float) -> None:
        # The audit log records this message too.
        super().__init__(f"Rate limited. Try again in {max(1, math.ceil(retry_after))}s.")
        self.retry_after = retry_after


class SyncInProgress(KbError):
    """Another sync of the same org is running right now."""

    def __init__(self, message: str = "A sync of this knowledge base is already running") -> None:
        super().__init__(message)


class SyncFailed(KbError):
    """A sync could not finish; ``reason`` says what to fix.

    ``provider_message`` holds what Vapi said, when it said something; it is for
    operators and logs, not for end users. ``kind`` says whether trying again later
    may help (``"transient"``) or a person must change something first
    (``"permanent"``: no key, no agents, a key Vapi rejects).
    """

    def __init__(
        self,
        reason: str,
        *,
        provider_message: str | None = None,
        kind: Literal["transient", "permanent"] = "transient",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.provider_message = provider_message
        self.kind = kind


class VapiError(KbError):
    """Vapi answered with an error or could not be reached.

    ``status_code`` is the HTTP status (``None`` when no response arrived) and
    ``vapi_message`` what Vapi said, joined when it sent a list.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, vapi_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.vapi_message = vapi_message
