"""Auto-sync: `kbcore worker` processes syncing the edits of many orgs, against FakeVapi.

FakeVapi runs in a process of its own (``benchmarks.remote_vapi``), answering every
request ``latency`` seconds late; each org has one document and one assistant. The
workers are real `kbcore worker` processes on the scenario's database.

- Latency: edits arrive at random (a Poisson process) to random orgs while the workers
  run. An edit's latency runs from the commit of the edit to the end of the first sync
  of its org that was claimed after that commit (the first that can carry it). Its floor
  is what the rules allow at best: the debounce, or the wait for the org's window when
  a success opened one, plus that sync's own duration.
- Throughput: ``autosync_burst`` orgs come due at once; orgs synced per second, from the
  first claim to the last finish, for 1, 2 and 4 workers.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import IO
from uuid import UUID

import anyio
import anyio.abc
import asyncpg
import attrs

from benchmarks.environment import Env
from benchmarks.harness import Figure, Sizes, percentile
from benchmarks.remote_vapi import RemoteVapi, remote_vapi
from kbcore import AutoSync, KnowledgeBase
from kbcore.postgres import PostgresStore

_SEED = """
WITH o AS (
    SELECT unnest($1::uuid[]) AS org_id, unnest($2::text[]) AS assistant_id,
           unnest($3::text[]) AS api_key
), a AS (
    INSERT INTO agents (org_id, role, vapi_assistant_id)
    SELECT org_id, 'inbound', assistant_id FROM o
), i AS (
    INSERT INTO integrations (org_id, provider, config)
    SELECT org_id, 'vapi', jsonb_build_object('vapi_api_key', api_key) FROM o
)
INSERT INTO knowledge_base (org_id, filename, content, category)
SELECT org_id, 'doc.md', 'first version of ' || org_id, 'general' FROM o
RETURNING org_id, id
"""

_PENDING = "SELECT count(*) FROM kb_sync_requests"

_SUCCESSES = """
SELECT org_id, created_at, finished_at FROM kb_sync_log
WHERE status = 'success' ORDER BY org_id, created_at
"""

_DUE_NOW = """
INSERT INTO kb_sync_requests (org_id, tool_name, due_at)
SELECT unnest($1::uuid[]), 'knowledge-search', now()
"""

# The ledger (what kbcore put on Vapi) against the active documents: orgs that differ.
_UNSYNCED = """
SELECT count(*) FROM (
    SELECT org_id, array_agg(content_sha256 ORDER BY content_sha256) AS hashes
    FROM knowledge_base WHERE active AND org_id = ANY($1::uuid[]) GROUP BY org_id
) AS docs
LEFT JOIN (
    SELECT org_id, array_agg(content_sha256 ORDER BY content_sha256) AS hashes
    FROM kb_vapi_files WHERE org_id = ANY($1::uuid[]) GROUP BY org_id
) AS ledger USING (org_id)
WHERE ledger.hashes IS DISTINCT FROM docs.hashes
"""


@attrs.frozen
class Run:
    """A success of an org's sync: claimed at ``start``, done at ``end`` (epoch seconds)."""

    start: float
    end: float


@attrs.frozen
class Edit:
    org: UUID
    committed: float


@attrs.frozen
class Delay:
    """An edit's latency, and the least the rules allowed."""

    latency: float
    floor: float


async def auto_sync(env: Env) -> list[Figure]:
    sizes = env.sizes
    orgs = sizes.autosync_orgs
    # One Vapi account per org, as a host's orgs have.
    async with remote_vapi(assistants=orgs, latency=sizes.latency, accounts=True) as vapi:
        figures = await _latency(env, vapi)
        rates = [await _throughput(env, vapi, workers) for workers in sizes.autosync_scaling]
    base = rates[0]
    scaling = ", ".join(
        f"{workers}: {rate:.1f} orgs/s ({rate / base:.2f}x)"
        for workers, rate in zip(sizes.autosync_scaling, rates, strict=True)
    )
    figures.append(
        Figure(
            scenario=f"auto-sync throughput: {sizes.autosync_burst} orgs due at once, "
            f"by worker processes, {_ms(sizes.latency)} per request",
            measured=scaling,
            baseline=f"1 worker: {base:.1f} orgs/s",
            ratio=f"{rates[-1] / base:.2f}x at {sizes.autosync_scaling[-1]}",
            goal="reported",
            met=None,
        )
    )
    return figures


async def _latency(env: Env, vapi: RemoteVapi) -> list[Figure]:
    sizes = env.sizes
    debounce, window = sizes.autosync_debounce, sizes.autosync_window
    async with env.database() as (dsn, pool):
        documents = await _seed(pool, vapi.assistant_ids, vapi.keys)
        auto = AutoSync(
            debounce=timedelta(seconds=debounce), min_interval=timedelta(seconds=window)
        )
        kb = KnowledgeBase(PostgresStore(pool, auto_sync=auto))
        async with _workers(dsn, vapi, sizes.autosync_workers, window) as ready:
            await ready()
            edits = await _edit_at_random(kb, documents, sizes)
            await _drained(pool, deadline=debounce + window + 120)
        runs = await _runs(pool)
        unsynced = await pool.fetchval(_UNSYNCED, sorted({edit.org for edit in edits}))
    delays = [_delay(edit, runs.get(edit.org, []), debounce, window) for edit in edits]
    carried = [delay for delay in delays if delay is not None]
    lost = len(edits) - len(carried) + unsynced
    latencies = [delay.latency for delay in carried] or [math.nan]
    floors = [delay.floor for delay in carried] or [math.nan]
    excess = [delay.latency - delay.floor for delay in carried] or [math.nan]
    p99_excess = percentile(excess, 0.99)
    return [
        Figure(
            scenario=f"auto-sync edit-to-live latency: {sizes.autosync_orgs:,} orgs, "
            f"{sizes.autosync_workers} worker processes, {len(edits)} edits in "
            f"{sizes.autosync_edit_seconds:g} s (Poisson, {sizes.autosync_edit_rate:g}/s), "
            f"debounce {debounce:g} s, window {window:g} s, "
            f"{_ms(sizes.latency)} per request",
            measured=_p50_p99(latencies),
            baseline=f"floor {_p50_p99(floors)}",
            ratio=f"excess over floor {_p50_p99(excess)}",
            goal="p99 excess ≤ 5 s, 0 lost",
            met=p99_excess <= 5.0 and lost == 0,
            note=f"{lost} lost edits",
        ),
        Figure(
            scenario="auto-sync lost edits (no sync carried them, or Vapi's files differ)",
            measured=f"{lost} of {len(edits)}",
            baseline="0",
            ratio=f"{lost}",
            goal="0",
            met=lost == 0,
        ),
    ]


async def _throughput(env: Env, vapi: RemoteVapi, workers: int) -> float:
    sizes = env.sizes
    async with env.database() as (dsn, pool):
        burst = sizes.autosync_burst
        documents = await _seed(pool, vapi.assistant_ids[:burst], vapi.keys[:burst])
        async with _workers(dsn, vapi, workers, sizes.autosync_window) as ready:
            await ready()
            await pool.execute(_DUE_NOW, list(documents))
            await _drained(pool, deadline=600)
        runs = [run for org_runs in (await _runs(pool)).values() for run in org_runs]
    span = max(run.end for run in runs) - min(run.start for run in runs)
    return len(runs) / span


async def _seed(
    pool: asyncpg.Pool, assistant_ids: Sequence[str], keys: Sequence[str]
) -> dict[UUID, UUID]:
    """One org per account: its key, its assistant's agent, one document; org to document."""
    orgs = [uuid.uuid4() for _ in assistant_ids]
    rows = await pool.fetch(_SEED, orgs, list(assistant_ids), list(keys))
    return {row["org_id"]: row["id"] for row in rows}


async def _edit_at_random(
    kb: KnowledgeBase, documents: dict[UUID, UUID], sizes: Sizes
) -> list[Edit]:
    """Edits of random orgs' documents, a Poisson process for ``autosync_edit_seconds``.

    Each edit is a task of its own, so that a slow write delays no later arrival.
    """
    draw = random.Random(13)
    orgs = sorted(documents)
    edits: list[Edit] = []

    async def edit(org: UUID, number: int) -> None:
        await kb.update(org, documents[org], content=f"edit {number} of {org}")
        edits.append(Edit(org, time.time()))

    stop_at = time.monotonic() + sizes.autosync_edit_seconds
    async with anyio.create_task_group() as tasks:
        number = 0
        while (wait := draw.expovariate(sizes.autosync_edit_rate)) < stop_at - time.monotonic():
            await anyio.sleep(wait)
            number += 1
            tasks.start_soon(edit, draw.choice(orgs), number)
    return edits


async def _drained(pool: asyncpg.Pool, *, deadline: float) -> None:
    with anyio.fail_after(deadline):
        while await pool.fetchval(_PENDING):  # noqa: ASYNC110 (other processes' work)
            await anyio.sleep(0.1)


async def _runs(pool: asyncpg.Pool) -> dict[UUID, list[Run]]:
    found: dict[UUID, list[Run]] = {}
    for row in await pool.fetch(_SUCCESSES):
        run = Run(row["created_at"].timestamp(), row["finished_at"].timestamp())
        found.setdefault(row["org_id"], []).append(run)
    return found


def _delay(edit: Edit, runs: Sequence[Run], debounce: float, window: float) -> Delay | None:
    """The edit's latency and floor; None when no sync carried it."""
    for index, run in enumerate(runs):
        if run.start > edit.committed:
            due = edit.committed + debounce
            if index > 0:
                due = max(due, runs[index - 1].end + window)
            duration = run.end - run.start
            return Delay(run.end - edit.committed, due - edit.committed + duration)
    return None


@asynccontextmanager
async def _workers(dsn: str, vapi: RemoteVapi, count: int, window: float) -> AsyncIterator[_Ready]:
    """``count`` `kbcore worker` processes; stopped by SIGTERM at the end."""
    environment = {**os.environ, "LOG_LEVEL": "INFO"}
    async with AsyncExitStack() as stack:
        logs = []
        for number in range(count):
            log = stack.enter_context(_log_file(number))
            command = [sys.executable, "-m", "kbcore", "worker", "--dsn", dsn, "--json"]
            command += ["--vapi-base-url", vapi.url, "--name", f"bench-{number}"]
            command += ["--min-interval", str(window), "--poll-interval", "1"]
            command += ["--concurrency", "8"]
            process = await anyio.open_process(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=environment,
            )
            stack.push_async_callback(_stop, process)
            logs.append(log.name)
        yield _Ready(logs)


@attrs.frozen
class _Ready:
    logs: list[str]

    async def __call__(self) -> None:
        """Wait until every worker has started."""
        for log in self.logs:
            while "kbcore.worker.started" not in await anyio.Path(log).read_text():  # noqa: ASYNC110
                await anyio.sleep(0.05)


def _log_file(number: int) -> IO[bytes]:
    return tempfile.NamedTemporaryFile(prefix=f"kbcore-worker-{number}-", suffix=".log")


async def _stop(process: anyio.abc.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    with anyio.CancelScope(shield=True), anyio.move_on_after(60):
        await process.wait()
    if process.returncode is None:
        process.kill()
    await process.aclose()


def _p50_p99(samples: Sequence[float]) -> str:
    return f"p50 {percentile(samples, 0.5):.2f} s, p99 {percentile(samples, 0.99):.2f} s"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms"
