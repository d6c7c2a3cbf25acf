"""What every command shares: exit codes, argument types, errors, the database connection."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias
from uuid import UUID

import asyncpg

from kbcore.errors import (
    DuplicateFilename,
    KbError,
    NotFound,
    RateLimited,
    StoreUnavailable,
    SyncInProgress,
    ValidationError,
    VersionConflict,
)
from kbcore.logging import redact_text

#: Exit codes: success, failure, bad input or usage, "try again later", a version conflict.
OK, FAILURE, BAD_INPUT, TRY_LATER, CONFLICT = 0, 1, 2, 3, 4

if TYPE_CHECKING:
    # What add_subparsers() returns; argparse names the class privately.
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class CliError(Exception):
    """An error the command explains in one line, with the exit code it means.

    ``detail`` is added to the error object that ``--json`` prints.
    """

    def __init__(
        self, message: str, code: int = FAILURE, *, detail: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.detail = dict(detail or {})


class UsageError(CliError):
    """The command line itself is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message, BAD_INPUT)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and an exception, not an exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def common_options(
    dsn_help: str = "PostgreSQL URL (default: DATABASE_URL)",
) -> argparse.ArgumentParser:
    """The options every command takes (a parent parser): --dsn, --json, --debug."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--dsn", help=dsn_help)
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    return common


def exit_code(error: BaseException) -> int:
    """The exit code an error means."""
    if isinstance(error, CliError):
        return error.code
    if isinstance(error, VersionConflict):
        return CONFLICT
    if isinstance(error, ValidationError | NotFound):
        return BAD_INPUT
    if isinstance(error, RateLimited | SyncInProgress):
        return TRY_LATER
    return FAILURE


def error_message(error: BaseException) -> str:
    """One line saying what went wrong, with no secret in it."""
    # kbcore's errors keep what PostgreSQL said as their cause.
    cause = error.__cause__ if isinstance(error, StoreUnavailable) else error
    if isinstance(cause, asyncpg.UndefinedTableError):
        text = "The database has no kbcore schema; run `kbcore migrate` first"
    elif isinstance(error, StoreUnavailable) and error.database_message:
        text = f"{error} (PostgreSQL: {error.database_message})"
    elif isinstance(error, DuplicateFilename):
        text = f"{error}; rename or delete that document first, or choose another name"
    elif isinstance(error, KbError | CliError):
        text = str(error)
    elif isinstance(error, asyncpg.PostgresError):
        text = f"The database refused the request: {error}"
    else:
        text = f"Unexpected {type(error).__name__}: {error} (run with --debug for details)"
    return redact_text(" ".join(text.split()))


def uuid_arg(value: str) -> UUID:
    """An argparse type: a UUID, or a one-line usage error."""
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a valid UUID: {value!r}") from None


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {value!r}")
    return int(value)


def since_arg(value: str) -> datetime | timedelta:
    """An argparse type: a duration back from now (``90m``, ``24h``, ``7d``) or an instant.

    An instant is an ISO 8601 date or time (``2025-12-15``, ``2025-12-15T09:30:00+01:00``);
    without a time zone it is UTC, and a date alone is its midnight.
    """
    match = _DURATION.match(value)
    if match is not None:
        amount, unit = int(match[1]), match[2].lower()
        if amount < 1:
            raise argparse.ArgumentTypeError(f"not a positive duration: {value!r}")
        return timedelta(**{_UNITS[unit]: amount})
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration (like 24h or 7d) or an ISO 8601 date or time: {value!r}"
        ) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def url_arg(value: str) -> str:
    """An argparse type: an http or https URL, such as Vapi's."""
    # Imported here: the Vapi client brings httpx, which most commands never use.
    from kbcore.vapi._client import checked_base_url

    try:
        return checked_base_url(value)
    except ValidationError:
        raise argparse.ArgumentTypeError(f"not an http or https URL: {value!r}") from None


def seconds_arg(value: str) -> float:
    """An argparse type: a positive number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {value!r}")
    return seconds


def read_text(path: str) -> str:
    """A UTF-8 text file's content (``-`` is standard input), or a one-line usage error."""
    if path == "-":
        return sys.stdin.read()
    with reading(path):
        return Path(path).read_text(encoding="utf-8")


@contextmanager
def reading(path: str) -> Iterator[None]:
    """The errors of reading the UTF-8 text file ``path``, as one-line usage errors."""
    try:
        yield
    except FileNotFoundError:
        raise UsageError(f"No such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    except OSError as error:
        raise UsageError(f"Cannot read {path}: {error.strerror}") from None


def database_url(args: argparse.Namespace) -> str:
    """``--dsn``, else ``DATABASE_URL``; a usage error when neither is given."""
    dsn = getattr(args, "dsn", None) or os.environ.get("DATABASE_URL")
    if not dsn:
        raise UsageError("No database: pass --dsn or set DATABASE_URL")
    return dsn


@asynccontextmanager
async def connect(
    dsn: str, *, max_size: int = 4, server_settings: Mapping[str, str] | None = None
) -> AsyncIterator[asyncpg.Pool]:
    """A small pool on ``dsn``; a connection failure is one line, without the DSN."""
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=max_size,
            timeout=15,
            server_settings=dict(server_settings or {}),
        )
    except (asyncpg.ClientConfigurationError, ValueError) as error:  # a malformed DSN
        raise UsageError(f"Invalid database URL: {error}") from error
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise CliError(f"Could not connect to the database: {error}") from error
    try:
        yield pool
    finally:
        await pool.close()
