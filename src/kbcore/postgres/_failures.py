"""What a failure of asyncpg means for the caller's writes, as kbcore's errors.

When asyncpg raises, one of three things happened:

- ``NOT_SENT``: the request never left whole. The connection was found closed, or in
  the state that a connection the server ended while it sat idle in the pool is left in
  (asyncpg then refuses to "switch state" before it writes anything), or writing the
  request failed with a broken pipe: the server was gone before the request was through,
  and a request it did not receive whole is not run, let alone committed.
- ``REFUSED``: the server answered with an error. PostgreSQL reports an error only for
  work it did not commit (an ERROR aborts the transaction; a FATAL ends the session
  before its transaction commits), so nothing the statement or its transaction wrote is
  kept. asyncpg reports a FATAL that ended the session as a closed connection whose
  cause is the server's error; that is a refusal too.
- ``LOST``: the connection failed with the request under way (reset, timed out, closed
  without an error). The server may have done the work and, when the request was a
  commit or a write outside a transaction, committed it.

Only a request that may have committed turns ``LOST`` into ``OutcomeUnknown``; every
other failure is ``NotSaved``.
"""

from __future__ import annotations

import enum

import asyncpg

from kbcore.errors import NotSaved, OutcomeUnknown, StoreUnavailable

NOTHING_SAVED = "nothing was saved"
MAYBE_SAVED = "the change may or may not have been saved"

#: Everything asyncpg raises for a failed request (TimeoutError is an OSError).
FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)

#: How asyncpg's refusals to write on a broken connection begin.
_NOT_SENT_PREFIXES = ("cannot switch to state", "not connected")

#: Refusals worth their own words, by SQLSTATE or its two-character class.
_REFUSALS = {
    "57014": "cancelled the statement (statement_timeout or a cancel request)",
    "55P03": "gave up waiting for a locked row (lock_timeout)",
    "57": "ended the session",
    "08": "ended the session",
    "53": "ran out of resources",
    "42P01": "lacks kbcore's schema (run migrate first)",
    "42703": "lacks kbcore's schema (run migrate first)",
    "42883": "lacks kbcore's schema (run migrate first)",
}


class Failure(enum.Enum):
    NOT_SENT = "not sent"
    REFUSED = "refused"
    LOST = "lost"


def failure_of(error: BaseException) -> Failure:
    """Which of the three things happened; ``error`` is one of ``FAILURES``."""
    if server_error(error) is not None:
        return Failure.REFUSED
    if isinstance(error, asyncpg.InterfaceError):
        # Raised by asyncpg's own checks, before anything is written to the socket.
        return Failure.NOT_SENT
    if isinstance(error, asyncpg.InternalClientError) and str(error).startswith(_NOT_SENT_PREFIXES):
        return Failure.NOT_SENT
    # Only a write fails with EPIPE; asyncpg reports it as the cause of a closed connection.
    if isinstance(error, BrokenPipeError) or isinstance(error.__cause__, BrokenPipeError):
        return Failure.NOT_SENT
    return Failure.LOST


def server_error(error: BaseException) -> asyncpg.PostgresError | None:
    """The error the server sent, if it sent one; asyncpg makes some errors up itself."""
    for candidate in (error, error.__cause__):
        # Only an error built from the server's message has a severity.
        if isinstance(candidate, asyncpg.PostgresError) and candidate.severity is not None:
            return candidate
    return None


def store_error(error: BaseException, *, doing: str, may_commit: bool) -> StoreUnavailable:
    """The kbcore error that ``error`` stands for, raised while ``doing`` something.

    ``may_commit`` says whether the request could have committed by itself: a COMMIT,
    or a write outside a transaction.
    """
    refused = server_error(error)
    if refused is not None:
        return NotSaved(
            f"The database {_refusal(refused)} while {doing}; {NOTHING_SAVED}",
            sqlstate=refused.sqlstate,
            database_message=refused.message,
        )
    if isinstance(error, asyncpg.DataError):
        # asyncpg could not encode an argument: a value kbcore should have refused.
        return NotSaved(f"A value could not be sent to the database while {doing}; {NOTHING_SAVED}")
    if failure_of(error) is Failure.NOT_SENT:
        return NotSaved(f"The database connection was closed before {doing}; {NOTHING_SAVED}")
    if may_commit:
        return OutcomeUnknown(f"The database connection failed while {doing}; {MAYBE_SAVED}")
    return NotSaved(f"The database connection failed while {doing}; {NOTHING_SAVED}")


def unreachable(error: BaseException) -> NotSaved:
    """No connection could be had: the server is down, full, or refused us."""
    refused = server_error(error)
    return NotSaved(
        f"The database connection failed while connecting; {NOTHING_SAVED}",
        sqlstate=None if refused is None else refused.sqlstate,
        database_message=None if refused is None else refused.message,
    )


def _refusal(error: asyncpg.PostgresError) -> str:
    code = error.sqlstate or ""
    return _REFUSALS.get(code) or _REFUSALS.get(code[:2]) or f"refused the statement ({code})"
