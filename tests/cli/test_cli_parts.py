"""The command's parts that need no database: exit codes, messages, arguments, output."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import anyio
import anyio.lowlevel
import asyncpg
import attrs
import pytest
import structlog

from kbcore import (
    NotFound,
    RateLimited,
    StoreUnavailable,
    SyncFailed,
    SyncInProgress,
    ValidationError,
    VapiError,
    VersionConflict,
)
from kbcore.cli import main
from kbcore.cli.common import CliError, UsageError, error_message, exit_code, since_arg
from kbcore.cli.output import Progress, jsonable, table

ORG = str(uuid.uuid4())


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def unconfigured_logging() -> Iterator[None]:
    """main() configures structlog; leave it as the next test expects it."""
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ValidationError("filename", "bad"), 2),
        (NotFound("gone"), 2),
        (VersionConflict(1, 2), 4),
        (UsageError("no"), 2),
        (RateLimited(12.5), 3),
        (SyncInProgress(), 3),
        (SyncFailed("No agents"), 1),
        (VapiError("boom", status_code=500), 1),
        (StoreUnavailable("gone"), 1),
        (CliError("failed"), 1),
        (RuntimeError("bug"), 1),
    ],
)
def test_exit_codes(error: Exception, code: int) -> None:
    """2 bad input, 3 try again later, 4 a version conflict, 1 everything else."""
    assert exit_code(error) == code


def test_error_messages_are_one_line_without_secrets() -> None:
    """Newlines collapse; URL passwords and bearer tokens are scrubbed; bugs say --debug."""
    error = RuntimeError("connect to\npostgresql://kb:pw123@db/kb failed\nBearer abc.def")
    assert error_message(error) == (
        "Unexpected RuntimeError: connect to postgresql://kb:***@db/kb failed Bearer *** "
        "(run with --debug for details)"
    )
    assert "kbcore migrate" in error_message(asyncpg.UndefinedTableError("no relation"))
    assert error_message(RateLimited(212.4)) == "Rate limited. Try again in 213s."


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("30s", timedelta(seconds=30)),
        ("2025-12-15T00:00:00Z", datetime(2025, 12, 15, tzinfo=UTC)),
        ("2025-12-15T09:30:00+01:00", datetime(2025, 12, 15, 8, 30, tzinfo=UTC)),
        # Without a time zone: UTC; a date alone: its midnight.
        ("2025-12-15T00:00:00", datetime(2025, 12, 15, tzinfo=UTC)),
        ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
    ],
)
def test_since_is_a_duration_or_an_instant(text: str, value: object) -> None:
    assert since_arg(text) == value


@pytest.mark.parametrize("text", ["0h", "yesterday", "2025-13-01", "-3h"])
def test_since_refuses_the_rest(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        since_arg(text)


def test_tables_align_and_right_align_numbers() -> None:
    lines = table(["NAME", "N", "OK"], [("a.md", 1, True), ("long-name.md", 120, None)])
    assert lines == [
        "NAME          N    OK",
        "a.md            1  yes",
        "long-name.md  120  -",
    ]


def test_jsonable_turns_values_into_plain_data() -> None:
    @attrs.frozen
    class Value:
        id: uuid.UUID
        when: datetime
        day: date
        tags: tuple[str, ...]
        extra: dict[str, object]

    some_id = uuid.uuid4()
    value = Value(some_id, datetime(2025, 1, 2, tzinfo=UTC), date(2025, 1, 2), ("a",), {"k": 1})
    assert jsonable(value) == {
        "id": str(some_id),
        "when": "2025-01-02T00:00:00+00:00",
        "day": "2025-01-02",
        "tags": ["a"],
        "extra": {"k": 1},
    }


def test_progress_is_silent_unless_on_a_terminal() -> None:
    quiet = Progress(io.StringIO(), "Importing", total=4)
    quiet.advance()
    assert quiet.stream.getvalue() == ""  # type: ignore[attr-defined]
    loud = Progress(Terminal(), "Importing", total=4)
    loud.advance(2)
    assert loud.render().startswith("Importing [############------------] 2/4 ")
    assert "\r\x1b[KImporting [" in loud.stream.getvalue()  # type: ignore[attr-defined]
    loud.note = "Vapi answered 503; retry 1 of 9 in 0.7 s"
    assert loud.render().endswith("s (Vapi answered 503; retry 1 of 9 in 0.7 s)")


@pytest.mark.anyio
async def test_a_running_progress_line_is_erased_and_errors_pass_unwrapped() -> None:
    """The spinner's task group does not wrap the block's error in an exception group."""
    stream = Terminal()

    async def fail_while_shown() -> None:
        async with Progress(stream, "Syncing").running():
            await anyio.lowlevel.checkpoint()  # the spinner draws once
            raise NotFound("gone")

    with pytest.raises(NotFound):
        await fail_while_shown()
    assert stream.getvalue().endswith("\r\x1b[K")
    assert "Syncing " in stream.getvalue()


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "Exit codes: 0 done, 1 failed, 2 bad input, 3 rate limited" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("kbcore ")


def test_an_unknown_log_level_is_bad_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    assert main(["docs", "list", ORG, "--dsn", "postgresql://localhost/none"]) == 2
    assert capsys.readouterr().err.startswith("kbcore: error: LOG_LEVEL: Unknown log level")


def test_the_console_script_is_installed() -> None:
    """``kbcore`` on the PATH of the environment runs the same entry point."""
    script = Path(sys.executable).with_name("kbcore")
    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout.split()[0]) == (0, "kbcore")
