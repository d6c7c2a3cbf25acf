"""Running the real ``kbcore`` entry point in a subprocess, against this test's database."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import anyio
import anyio.to_thread
import asyncpg
import attrs
import pytest
import structlog

from kbcore.cli import main

#: Variables of the developer's or CI's environment that would change what the command does.
_HOST_VARIABLES = (
    "DATABASE_URL",
    "KBCORE_TEST_DSN",
    "VAPI_API_KEY",
    "VAPI_BASE_URL",
    "LOG_LEVEL",
    "LOG_FORMAT",
)


@attrs.frozen
class Run:
    """How one run of the command ended."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_lines(self) -> list[str]:
        return self.stderr.splitlines()


def clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _HOST_VARIABLES}
    return {**env, **extra}


async def kbcore(*args: str, env: Mapping[str, str], stdin: str | None = None) -> Run:
    """``python -m kbcore ARGS`` to the end; the event loop keeps serving meanwhile."""
    result = await anyio.run_process(
        [sys.executable, "-m", "kbcore", *args],
        input=None if stdin is None else stdin.encode(),
        env=dict(env),
        check=False,
    )
    return Run(result.returncode, result.stdout.decode(), result.stderr.decode())


@attrs.frozen
class Cli:
    """The command with ``DATABASE_URL`` set to this test's database."""

    dsn: str

    async def __call__(self, *args: str, stdin: str | None = None, **env: str) -> Run:
        return await kbcore(*args, env=clean_environment(DATABASE_URL=self.dsn, **env), stdin=stdin)


@pytest.fixture
def cli(kbcore_database_dsn: str) -> Cli:
    return Cli(kbcore_database_dsn)


@attrs.frozen
class InProcess:
    """``kbcore.cli.main`` in a worker thread of this process: the same code, no start-up cost.

    For the many small cases; every command also runs as a subprocess somewhere.
    """

    capsys: pytest.CaptureFixture[str]

    async def __call__(self, *args: str) -> Run:
        self.capsys.readouterr()
        code = await anyio.to_thread.run_sync(main, list(args))
        out, err = self.capsys.readouterr()
        return Run(code, out, err)


@pytest.fixture
def in_process(
    kbcore_database_dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[InProcess]:
    for name in _HOST_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", kbcore_database_dsn)
    yield InProcess(capsys)
    # main() configured structlog to write to the captured stderr, which is going away.
    structlog.reset_defaults()


_TABLES = ("knowledge_base", "knowledge_base_changelog", "kb_sync_log")


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of kbcore's tables, to tell that a refused command wrote nothing."""
    return {
        table: [tuple(row) for row in await pool.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in _TABLES
    }


def assert_one_error_line(run: Run, code: int, fragment: str) -> None:
    """A refused command: the exit code, and one line saying why, without a traceback."""
    assert run.code == code, run.stderr
    assert run.error_lines == [run.error_lines[0]], run.stderr
    assert run.error_lines[0].startswith("kbcore: error: "), run.stderr
    assert fragment in run.error_lines[0]
    assert "Traceback" not in run.stderr
