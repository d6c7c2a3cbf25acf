"""`kbcore worker` processes against one database and one FakeVapi on loopback."""

from __future__ import annotations

import contextlib
import itertools
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import anyio
import anyio.abc
import anyio.lowlevel
import asyncpg
import pytest

from kbcore import AutoSync, KnowledgeBase
from kbcore._domain import LEASE_EXPIRED_MESSAGE, Secret
from kbcore.postgres import PostgresStore
from kbcore.testing import FakeVapi, serve_fake_vapi
from tests.sync.test_sync import file_texts, runs
from tests.sync.worker import UploadGate

pytestmark = [pytest.mark.anyio, pytest.mark.database]

#: Edits come due quickly, and a success opens no window worth waiting for.
PROMPT = AutoSync(debounce=timedelta(milliseconds=200), min_interval=timedelta(milliseconds=1))


@asynccontextmanager
async def worker_processes(
    count: int, dsn: str, vapi_url: str, logs: Path, *options: str, prefix: str = "w"
) -> AsyncIterator[list[anyio.abc.Process]]:
    """``count`` `kbcore worker` processes (w0, w1, ...); killed if still running at the end."""
    async with AsyncExitStack() as stack:
        started = []
        for number in range(count):
            log = stack.enter_context((logs / f"{prefix}{number}.log").open("wb"))
            command = [sys.executable, "-m", "kbcore", "worker", "--dsn", dsn]
            command += ["--vapi-base-url", vapi_url, "--name", f"{prefix}{number}", "--json"]
            command += ["--min-interval", "0.001", "--poll-interval", "1", *options]
            process = await anyio.open_process(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
            )
            stack.push_async_callback(_reap, process)
            started.append(process)
        yield started


async def _reap(process: anyio.abc.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    with anyio.CancelScope(shield=True):
        await process.aclose()


async def _until_true(pool: asyncpg.Pool, query: str, *args: object) -> None:
    """Wait until ``query`` answers true: the state of other processes, polled."""
    while not await pool.fetchval(query, *args):  # noqa: ASYNC110
        await anyio.sleep(0.05)


async def _until_logged(log: Path, event: str) -> None:
    while event not in await anyio.Path(log).read_text():  # noqa: ASYNC110 (another process)
        await anyio.sleep(0.02)


_NOTHING_PENDING = "SELECT NOT EXISTS (SELECT 1 FROM kb_sync_requests)"
_RUNNING_ON = "SELECT claimed_by = $2 FROM kb_sync_requests WHERE org_id = $1"


async def _org(store: PostgresStore, fake: FakeVapi) -> UUID:
    org = uuid4()
    await store.store_vapi_key(org, Secret(fake.api_key))
    await store.insert_agent(org, "inbound", fake.add_assistant(name=f"agent of {org}"))
    return org


async def _live_texts(pool: asyncpg.Pool, fake: FakeVapi, org: UUID) -> set[str]:
    tool_id = await pool.fetchval(
        "SELECT tool_id FROM kb_vapi_tools WHERE org_id = $1 AND current", org
    )
    files = {fid for kb in fake.tools[tool_id]["knowledgeBases"] for fid in kb["fileIds"]}
    return file_texts(fake, files)


async def _active_texts(kb: KnowledgeBase, org: UUID) -> set[str]:
    page = await kb.list(org, limit=100)
    return {doc.content for doc in page.items}


async def test_four_workers_bring_two_hundred_orgs_up_to_date_with_random_edits(
    fake_vapi: FakeVapi, kbcore_pool: asyncpg.Pool, kbcore_database_dsn: str, tmp_path: Path
) -> None:
    """Every org's Vapi state ends equal to its documents; no org synced twice at once."""
    store = PostgresStore(kbcore_pool, auto_sync=PROMPT)
    kb = KnowledgeBase(store)
    draw = random.Random(2026)
    orgs = await _orgs(store, fake_vapi, 200)
    for edit in range(300):  # random edits before the workers start ...
        await _random_edit(kb, draw.choice(orgs), edit)
    with anyio.fail_after(150):
        async with (
            serve_fake_vapi(fake_vapi) as url,
            worker_processes(4, kbcore_database_dsn, url, tmp_path, "--concurrency", "4"),
        ):
            for edit in range(300, 340):  # ... and while they sync
                await _random_edit(kb, draw.choice(orgs), edit)
                await anyio.sleep(draw.uniform(0, 0.05))
            await _until_true(kbcore_pool, _NOTHING_PENDING)
    for org in orgs:
        assert await _live_texts(kbcore_pool, fake_vapi, org) == await _active_texts(kb, org)
    rows = await kbcore_pool.fetch(
        "SELECT org_id, status, created_at, finished_at, triggered_by FROM kb_sync_log "
        "ORDER BY org_id, created_at"
    )
    assert {row["status"] for row in rows} <= {"success", "failed"}
    assert {row["triggered_by"] for row in rows} <= {f"kbcore worker w{n}" for n in range(4)}
    assert {row["org_id"] for row in rows if row["status"] == "success"} == set(orgs)
    _assert_no_overlap(rows)


async def _orgs(store: PostgresStore, fake: FakeVapi, count: int) -> list[UUID]:
    """``count`` orgs, each with its key, one agent and one document."""
    orgs: list[UUID] = []
    kb = KnowledgeBase(store)

    async def one() -> None:
        org = await _org(store, fake)
        await kb.create(org, filename="doc.md", content=f"{org} doc")
        orgs.append(org)

    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(one)
    return sorted(orgs)


async def _random_edit(kb: KnowledgeBase, org: UUID, number: int) -> None:
    """A new document, or the org's newest document changed or (if not its last) deleted.

    An org left without documents would be parked, not synced: a sync needs one.
    """
    newest = (await kb.list(org, limit=2)).items
    if number % 3 == 0:
        await kb.create(org, filename=f"edit-{number}.md", content=f"{org} edit {number}")
    elif number % 3 == 1 or len(newest) < 2:
        await kb.update(org, newest[0].id, content=f"{org} changed by {number}")
    else:
        await kb.delete(org, newest[0].id)


def _assert_no_overlap(rows: Sequence[asyncpg.Record]) -> None:
    """No two runs of one org that held its claim overlapped in time."""
    ran = [row for row in rows if row["status"] == "success"]
    for before, after in itertools.pairwise(ran):
        if before["org_id"] == after["org_id"]:
            assert after["created_at"] >= before["finished_at"]


@pytest.fixture
async def prompt_store(kbcore_pool: asyncpg.Pool) -> PostgresStore:
    return PostgresStore(kbcore_pool, auto_sync=PROMPT)


@pytest.fixture
async def two_documents(prompt_store: PostgresStore, fake_vapi: FakeVapi) -> UUID:
    """An org with two documents (so due soon) and an agent, never synced."""
    org = await _org(prompt_store, fake_vapi)
    kb = KnowledgeBase(prompt_store)
    await kb.create(org, filename="a.md", content="one")
    await kb.create(org, filename="b.md", content="two")
    return org


async def test_a_killed_worker_s_org_is_finished_by_another_after_the_lease(
    fake_vapi: FakeVapi,
    kbcore_pool: asyncpg.Pool,
    kbcore_database_dsn: str,
    tmp_path: Path,
    prompt_store: PostgresStore,
    two_documents: UUID,
) -> None:
    org = two_documents
    gate = UploadGate(fake_vapi, let_through=1)
    with anyio.fail_after(60):
        async with serve_fake_vapi(gate) as url:
            async with worker_processes(1, kbcore_database_dsn, url, tmp_path) as (doomed,):
                await gate.holding.wait()
                assert await kbcore_pool.fetchval(_RUNNING_ON, org, "w0")
                doomed.send_signal(signal.SIGKILL)
                await doomed.wait()
            # The lease runs out: moving the stored instants back is the same as waiting.
            await kbcore_pool.execute(
                "UPDATE kb_sync_claims SET lease_expires_at = lease_expires_at - interval '1 day'"
            )
            await kbcore_pool.execute(
                "UPDATE kb_sync_requests SET claimed_until = claimed_until - interval '1 day'"
            )
            gate.opened.set()
            async with worker_processes(1, kbcore_database_dsn, url, tmp_path, prefix="next"):
                await _until_true(kbcore_pool, _NOTHING_PENDING)
    assert await _live_texts(kbcore_pool, fake_vapi, org) == {"one", "two"}
    logged = await runs(prompt_store, org)
    assert [(run.status, run.triggered_by) for run in logged] == [
        ("failed", "kbcore worker w0"),
        ("success", "kbcore worker next0"),
    ]
    assert logged[0].error_message == LEASE_EXPIRED_MESSAGE


async def test_sigterm_lets_the_running_sync_finish_then_the_worker_exits(
    fake_vapi: FakeVapi,
    kbcore_pool: asyncpg.Pool,
    kbcore_database_dsn: str,
    tmp_path: Path,
    prompt_store: PostgresStore,
    two_documents: UUID,
) -> None:
    org = two_documents
    gate = UploadGate(fake_vapi, let_through=1)
    with anyio.fail_after(60):
        async with (
            serve_fake_vapi(gate) as url,
            worker_processes(1, kbcore_database_dsn, url, tmp_path) as (worker,),
        ):
            await gate.holding.wait()
            worker.send_signal(signal.SIGTERM)
            await _until_logged(tmp_path / "w0.log", "kbcore.worker.signalled")
            gate.opened.set()
            assert await worker.wait() == 0
    assert "kbcore.worker.stopped" in (tmp_path / "w0.log").read_text()
    assert await kbcore_pool.fetchval(_NOTHING_PENDING)
    assert [run.status for run in await runs(prompt_store, org)] == ["success"]
    assert await _live_texts(kbcore_pool, fake_vapi, org) == {"one", "two"}
