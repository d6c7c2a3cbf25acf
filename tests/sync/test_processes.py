"""Syncs from other OS processes: one database, one FakeVapi on loopback, real races and crashes."""

from __future__ import annotations

import collections
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Literal
from uuid import UUID

import anyio
import anyio.abc
import asyncpg
import attrs
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from kbcore import KnowledgeBase, SyncCoordinator, SyncInProgress, SyncPolicy
from kbcore._domain import IN_PROGRESS_MESSAGE, LEASE_EXPIRED_MESSAGE
from kbcore._ports import Store
from kbcore.testing import FakeVapi, serve_fake_vapi
from tests.stores import ON_POSTGRES

from .conftest import PassTime
from .test_sync import WINDOW, file_texts, runs, seed, tool_file_ids
from .worker import IN_PROGRESS, RAN, RATE_LIMITED, UploadGate

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.database,
    ON_POSTGRES,
]

PROCESSES = 4
ATTEMPTS_EACH = 13


@attrs.define
class Worker:
    """A ``tests.sync.worker`` process and the way to talk to it."""

    process: anyio.abc.Process
    stdout: BufferedByteReceiveStream
    log: Path

    async def line(self) -> str:
        """The worker's next line on stdout; its stderr if it exited instead."""
        try:
            return (await self.stdout.receive_until(b"\n", 1 << 16)).decode()
        except (anyio.IncompleteRead, anyio.EndOfStream):
            await self.process.wait()
            pytest.fail(f"worker exited {self.process.returncode}:\n{self.log.read_text()}")

    async def ready(self) -> None:
        """Wait until the worker is connected and waiting at the barrier."""
        assert await self.line() == "ready"

    async def go(self) -> None:
        """Let the worker through the barrier."""
        assert self.process.stdin is not None
        await self.process.stdin.send(b"go\n")


@asynccontextmanager
async def workers(
    count: int, log_dir: Path, root: Path, *options: str
) -> AsyncIterator[list[Worker]]:
    """``count`` worker processes started with ``options``; killed if still running at the end."""
    async with AsyncExitStack() as stack:
        started = []
        for number in range(count):
            log = log_dir / f"worker-{number}.log"
            stderr = stack.enter_context(log.open("wb"))
            process = await anyio.open_process(
                [sys.executable, "-m", "tests.sync.worker", *options],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=root,
            )
            stack.push_async_callback(_reap, process)
            assert process.stdout is not None
            started.append(Worker(process, BufferedByteReceiveStream(process.stdout), log))
        yield started


async def _reap(process: anyio.abc.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # it may have exited meanwhile
            process.kill()
    with anyio.CancelScope(shield=True):
        await process.aclose()


async def test_attempts_from_four_processes_at_once_run_exactly_one_sync(
    kbcore_kb: KnowledgeBase,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_org: UUID,
    kbcore_database_dsn: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Of 4 processes with 13 simultaneous attempts one syncs, the rest are refused and audited."""
    await seed(kbcore_kb, kbcore_org)
    fake_vapi.add_latency(0.3, "POST /file")  # the sync that runs outlasts the stampede
    outcomes: collections.Counter[str] = collections.Counter()
    with anyio.fail_after(60):
        async with (
            serve_fake_vapi(fake_vapi) as url,
            workers(
                PROCESSES,
                tmp_path,
                request.config.rootpath,
                *("--dsn", kbcore_database_dsn, "--vapi-url", url, "--org", str(kbcore_org)),
                *("--attempts", str(ATTEMPTS_EACH)),
            ) as started,
        ):
            for worker in started:  # every process is connected and waiting
                await worker.ready()
            for worker in started:
                await worker.go()
            for worker in started:
                outcomes.update(json.loads(await worker.line()))
    assert sum(outcomes.values()) == PROCESSES * ATTEMPTS_EACH
    assert outcomes[RAN] == 1
    assert set(outcomes) <= {RAN, IN_PROGRESS, RATE_LIMITED}
    logged = await runs(kbcore_store, kbcore_org)
    assert len(logged) == PROCESSES * ATTEMPTS_EACH
    assert sum(run.status == "success" for run in logged) == 1
    refusals = collections.Counter(
        RATE_LIMITED if (run.error_message or "").startswith("Rate limited") else run.error_message
        for run in logged
        if run.status == "failed"
    )
    assert refusals == collections.Counter(
        {IN_PROGRESS_MESSAGE: outcomes[IN_PROGRESS], RATE_LIMITED: outcomes[RATE_LIMITED]}
    )
    assert len(fake_vapi.requests_to("POST /tool")) == 1
    assert len(fake_vapi.requests_to("POST /file")) == 3


_LEDGER_FILES = "SELECT count(*) FROM kb_vapi_files WHERE org_id = $1"


async def recorded_uploads(pool: asyncpg.Pool, org: UUID, count: int) -> None:
    """Wait until the ledger holds ``count`` files of the org: the upload was recorded."""
    # Polling: the worker records its upload in its own process, with no event to wait on.
    while await pool.fetchval(_LEDGER_FILES, org) < count:  # noqa: ASYNC110
        await anyio.sleep(0.01)


@pytest.mark.parametrize(
    ("hold", "deleted"),
    [
        pytest.param("request", 2, id="killed-before-vapi-stored-the-upload"),
        pytest.param("answer", 3, id="killed-after-vapi-stored-the-upload"),
    ],
)
async def test_a_killed_sync_holds_the_org_until_its_lease_lapses_then_the_next_completes(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_org: UUID,
    kbcore_database_dsn: str,
    kbcore_pool: asyncpg.Pool,
    pass_time: PassTime,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    hold: Literal["request", "answer"],
    deleted: int,
) -> None:
    """SIGKILL mid-upload: refused until the lease lapses, then one sync repairs everything."""
    docs = await seed(kbcore_kb, kbcore_org)
    first = await kbcore_coordinator.sync(kbcore_org)
    await kbcore_kb.update(kbcore_org, docs[0].id, content="text 0, revised")
    await kbcore_kb.delete(kbcore_org, docs[1].id)
    await kbcore_kb.create(kbcore_org, filename="doc-3.md", content="text 3")
    await kbcore_kb.create(kbcore_org, filename="doc-4.md", content="text 4")
    await pass_time(WINDOW)
    # One of the three uploads lands; the second hangs, before Vapi stores it or after.
    gate = UploadGate(fake_vapi, let_through=1, hold=hold)
    before = await kbcore_pool.fetchval(_LEDGER_FILES, kbcore_org)
    with anyio.fail_after(60):
        async with (
            serve_fake_vapi(gate) as url,
            workers(
                1,
                tmp_path,
                request.config.rootpath,
                *("--dsn", kbcore_database_dsn, "--vapi-url", url, "--org", str(kbcore_org)),
                *("--max-concurrency", "1", "--actor", "doomed"),
            ) as [worker],
        ):
            await worker.ready()
            await worker.go()
            await gate.holding.wait()
            await recorded_uploads(
                kbcore_pool, kbcore_org, before + 1
            )  # the landed upload is recorded
            worker.process.kill()
            assert await worker.process.wait() == -signal.SIGKILL
            with pytest.raises(SyncInProgress):
                await kbcore_coordinator.sync(kbcore_org)
    await pass_time(SyncPolicy().lease + timedelta(seconds=1))  # the killed run's lease lapses
    result = await kbcore_coordinator.sync(kbcore_org)
    # The landed upload is reused; a file stored behind a lost answer is deleted.
    assert (result.files_uploaded, result.files_reused, result.files_deleted) == (2, 2, deleted)
    assert [
        (r.status, r.error_message, r.triggered_by) for r in await runs(kbcore_store, kbcore_org)
    ] == [
        ("success", None, None),
        ("failed", LEASE_EXPIRED_MESSAGE, "doomed"),
        ("failed", IN_PROGRESS_MESSAGE, None),
        ("success", None, None),
    ]
    listed = tool_file_ids(fake_vapi, first.tool_id)
    assert (result.tool_id, list(fake_vapi.tools)) == (first.tool_id, [first.tool_id])
    assert len(listed) == 4
    assert file_texts(fake_vapi, listed) == {"text 0, revised", "text 2", "text 3", "text 4"}
    assert set(fake_vapi.files) == listed
    assert fake_vapi.missing_file_ids() == set()
