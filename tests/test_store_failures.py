"""What each failure of asyncpg means: the table behind NotSaved and OutcomeUnknown.

The tests of database faults and lost answers produce these failures for real; this one
holds the whole table, each row against both kinds of request (one that may commit by
itself, and one inside a transaction that has not committed).
"""

from __future__ import annotations

import asyncpg
import pytest

from kbcore import NotSaved, OutcomeUnknown
from kbcore.postgres._failures import Failure, failure_of, store_error


def sent_by_server(code: str, severity: str = "ERROR") -> asyncpg.PostgresError:
    """An error as asyncpg builds it from the server's message."""
    return asyncpg.PostgresError.new({"S": severity, "V": severity, "C": code, "M": "said so"})


def closed_because_of(cause: BaseException) -> asyncpg.PostgresError:
    error = asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation"
    )
    error.__cause__ = cause
    return error


CASES = [
    (sent_by_server("23505"), Failure.REFUSED, NotSaved, NotSaved),
    (sent_by_server("57014"), Failure.REFUSED, NotSaved, NotSaved),
    (closed_because_of(sent_by_server("57P01", "FATAL")), Failure.REFUSED, NotSaved, NotSaved),
    (asyncpg.InterfaceError("connection is closed"), Failure.NOT_SENT, NotSaved, NotSaved),
    (
        asyncpg.InternalClientError(
            "cannot switch to state 11; another operation (2) is in progress"
        ),
        Failure.NOT_SENT,
        NotSaved,
        NotSaved,
    ),
    (closed_because_of(BrokenPipeError(32, "Broken pipe")), Failure.NOT_SENT, NotSaved, NotSaved),
    (closed_because_of(ConnectionResetError(104, "reset")), Failure.LOST, OutcomeUnknown, NotSaved),
    (
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        Failure.LOST,
        OutcomeUnknown,
        NotSaved,
    ),
    (TimeoutError(), Failure.LOST, OutcomeUnknown, NotSaved),
    (asyncpg.ProtocolError("unexpected message"), Failure.LOST, OutcomeUnknown, NotSaved),
]


@pytest.mark.parametrize(("error", "failure", "alone", "in_transaction"), CASES)
def test_each_failure_means_what_it_says(
    error: BaseException, failure: Failure, alone: type, in_transaction: type
) -> None:
    assert failure_of(error) is failure
    assert type(store_error(error, doing="writing", may_commit=True)) is alone
    assert type(store_error(error, doing="writing", may_commit=False)) is in_transaction


def test_a_refusal_keeps_what_the_server_said_out_of_the_message() -> None:
    error = store_error(sent_by_server("P0001"), doing="writing", may_commit=True)
    assert str(error) == (
        "The database refused the statement (P0001) while writing; nothing was saved"
    )
    assert (error.sqlstate, error.database_message) == ("P0001", "said so")


def test_a_value_asyncpg_cannot_encode_is_not_saved() -> None:
    error = store_error(
        asyncpg.DataError("invalid input for query argument $1"), doing="writing", may_commit=True
    )
    assert isinstance(error, NotSaved)
    assert str(error).startswith("A value could not be sent to the database")
