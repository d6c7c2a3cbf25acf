"""Running the ``kbcore`` command, in this process or as a subprocess, on this test's database."""

from __future__ import annotations

import io
import json
import os
import pty
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import asyncpg
import attrs
import pytest
from benchmarks.harness import structlog_kept

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
    """The command with ``DATABASE_URL`` set to this test's database.

    Called, it runs ``kbcore.cli.main`` in a worker thread of this process: the same code
    as ``python -m kbcore``, without an interpreter's start-up (most of a command's
    second), its standard streams captured at the file descriptors. The environment,
    standard input and structlog's set-up are the process's, so calls take turns.
    ``subprocess`` runs ``python -m kbcore`` for what only a process shows: a pipe on
    standard input, a hang, and whatever other libraries log to standard error (here
    pytest's log capture takes it), so tests that a secret never reaches the output use it.
    tests/cli/test_command_processes.py runs each command module once as a process.
    """

    dsn: str
    capture: pytest.CaptureFixture[str]
    _turn: anyio.Lock = attrs.field(factory=anyio.Lock, init=False)

    async def __call__(self, *args: str, stdin: str | None = None, **env: str) -> Run:
        async with self._turn:
            self.capture.readouterr()
            with (
                _environment(DATABASE_URL=self.dsn, **env),
                _standard_input(stdin),
                structlog_kept(),
            ):
                code = await anyio.to_thread.run_sync(main, list(args))
            out, err = self.capture.readouterr()
        return Run(code, out, err)

    async def subprocess(self, *args: str, stdin: str | None = None, **env: str) -> Run:
        return await kbcore(*args, env=clean_environment(DATABASE_URL=self.dsn, **env), stdin=stdin)


@pytest.fixture
def cli(kbcore_database_dsn: str, capfd: pytest.CaptureFixture[str]) -> Cli:
    return Cli(kbcore_database_dsn, capfd)


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """``os.environ`` as ``clean_environment`` makes it, for the block."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(clean_environment(**values))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _standard_input(text: str | None) -> Iterator[None]:
    """``sys.stdin`` holding ``text`` (nothing when None, as a closed pipe), for the block."""
    saved = sys.stdin
    sys.stdin = io.StringIO(text or "")
    try:
        yield
    finally:
        sys.stdin = saved


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


async def kbcore_on_a_terminal(*args: str, env: Mapping[str, str]) -> Run:
    """``python -m kbcore ARGS`` with standard error on a pseudo-terminal, as in a shell."""
    controller, terminal = pty.openpty()
    try:
        async with await anyio.open_process(
            [sys.executable, "-m", "kbcore", *args], env=dict(env), stderr=terminal
        ) as process:
            os.close(terminal)
            terminal = -1
            shown = await anyio.to_thread.run_sync(_read_to_the_end, controller)
            assert process.stdout is not None
            out = b"".join([chunk async for chunk in process.stdout])
            code = await process.wait()
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    return Run(code, out.decode(), shown.decode())


def _read_to_the_end(controller: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the other end of the terminal is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@attrs.frozen
class SilentServer:
    """A server that accepts connections and never answers."""

    url: str
    connected: anyio.Event


@asynccontextmanager
async def silent_server() -> AsyncIterator[SilentServer]:
    """Serve on a free port of 127.0.0.1 while the block runs, answering nothing."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    server = SilentServer(f"http://127.0.0.1:{port}", anyio.Event())

    async def hold(stream: anyio.abc.SocketStream) -> None:
        server.connected.set()
        async with stream:
            async for _ in stream:  # read the request, and say nothing
                pass

    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, hold)
        try:
            yield server
        finally:
            tasks.cancel_scope.cancel()
