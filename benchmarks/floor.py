"""Sync against its floor: kbcore's sync and a bare httpx loop making the same Vapi calls.

The floor is not the latency-bound ideal (on two cores no client reaches it) but a loop
a host could write by hand with httpx alone: no database, no ledger, no retries, the same
requests in the same order and the same concurrency, against the same FakeVapi (its own
process, on loopback). The two take turns, each against a fresh FakeVapi; the client's
CPU is this process's (kbcore's includes its database driver's share).
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import asyncpg
import attrs

from benchmarks import corpus
from benchmarks.environment import Env
from benchmarks.harness import NO_WINDOW, Figure, ms, seconds_text, spread_text, statistic
from benchmarks.remote_vapi import RemoteVapi, remote_vapi
from kbcore import DocumentDraft, KnowledgeBase, SyncCoordinator, SyncPolicy
from kbcore.postgres import PostgresStore
from kbcore.testing.host_tables import PostgresHostTables

_ROLES = ("inbound", "outbound")


@attrs.frozen
class Run:
    """One timed sync: its wall time and this process's CPU time."""

    wall: float
    cpu: float


async def _timed(call: Callable[[], Awaitable[object]]) -> Run:
    started, cpu = time.perf_counter(), time.process_time()
    await call()
    return Run(time.perf_counter() - started, time.process_time() - cpu)


async def prepared_org(
    pool: asyncpg.Pool, vapi: RemoteVapi, drafts: Sequence[DocumentDraft]
) -> uuid.UUID:
    """A new org with ``drafts`` imported, the FakeVapi's key, and its assistants as agents."""
    org = uuid.uuid4()
    tables = PostgresHostTables(pool)
    await tables.set_vapi_key(org, vapi.api_key)
    for i, assistant_id in enumerate(vapi.assistant_ids):
        await tables.add_agent(org, _ROLES[i % 2], assistant_id)
    report = await KnowledgeBase(PostgresStore(pool)).import_documents(org, drafts)
    assert report.created == len(drafts)
    return org


@asynccontextmanager
async def coordinator_for(
    store: PostgresStore, vapi: RemoteVapi, concurrency: int
) -> AsyncIterator[SyncCoordinator]:
    """A coordinator with its own long-lived HTTP client, as a host runs one."""
    policy = SyncPolicy(max_concurrency=concurrency, min_interval=NO_WINDOW)
    async with SyncCoordinator(store, vapi_base_url=vapi.url, policy=policy) as coordinator:
        yield coordinator


async def _kbcore_sync(env: Env, pool: asyncpg.Pool, drafts: Sequence[DocumentDraft]) -> Run:
    sizes = env.sizes
    async with remote_vapi(assistants=sizes.assistants, latency=sizes.latency) as vapi:
        org = await prepared_org(pool, vapi, drafts)
        async with coordinator_for(PostgresStore(pool), vapi, sizes.concurrency) as coordinator:
            run = await _timed(lambda: coordinator.sync(org))
    return run


async def _bare_sync(env: Env, drafts: Sequence[DocumentDraft]) -> Run:
    sizes = env.sizes
    async with remote_vapi(assistants=sizes.assistants, latency=sizes.latency) as vapi:
        loop = BareLoop(vapi, anyio.CapacityLimiter(sizes.concurrency))
        return await _timed(lambda: loop.first_sync(drafts))


@attrs.define
class BareLoop:
    """A first sync written with httpx alone: the calls kbcore's first sync makes."""

    vapi: RemoteVapi
    limiter: anyio.CapacityLimiter
    org: str = attrs.field(factory=lambda: str(uuid.uuid4()))

    async def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.vapi.api_key}", "Accept": "application/json"}
        response = await self.vapi.http.request(
            method, f"{self.vapi.url}{path}", headers=headers, **kwargs
        )
        response.raise_for_status()
        return response.json()

    async def first_sync(self, drafts: Sequence[DocumentDraft]) -> None:
        await self._send("GET", "/file")
        file_ids: list[str] = []

        async def upload(draft: DocumentDraft) -> None:
            metadata = {"source": "bench", "orgId": self.org, "documentId": draft.filename}
            async with self.limiter:
                answer = await self._send(
                    "POST",
                    "/file",
                    files={"file": (draft.filename, draft.content.encode(), "text/markdown")},
                    data={"purpose": "assistant", "metadata": json.dumps(metadata)},
                )
            file_ids.append(answer["id"])

        await _each(drafts, upload)
        await self._send("GET", "/tool?limit=1000")
        group = {"provider": "google", "name": "kb", "description": "kb", "fileIds": file_ids}
        tool = await self._send("POST", "/tool", json={"type": "query", "knowledgeBases": [group]})

        async def attach(assistant_id: str) -> None:
            async with self.limiter:
                assistant = await self._send("GET", f"/assistant/{assistant_id}")
                model = {**assistant["model"], "toolIds": [tool["id"]]}
                await self._send("PATCH", f"/assistant/{assistant_id}", json={"model": model})

        await _each(self.vapi.assistant_ids, attach)
        # kbcore's second pass reads back what the first wrote.
        await self._send("GET", "/tool?limit=1000")

        async def read(assistant_id: str) -> None:
            async with self.limiter:
                await self._send("GET", f"/assistant/{assistant_id}")

        await _each(self.vapi.assistant_ids, read)


async def _each(items: Sequence[Any], call: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
    async with anyio.create_task_group() as tg:
        for item in items:
            tg.start_soon(call, item)


async def sync_floor(env: Env) -> list[Figure]:
    figures: list[Figure] = []
    for count in env.sizes.floor_documents:
        drafts = corpus.drafts(count)
        ours: list[Run] = []
        bare: list[Run] = []
        async with env.pool() as pool:
            for repeat in range(env.sizes.floor_repeats):
                # Turn about, so that drift and other load hit both alike.
                if repeat % 2:
                    bare.append(await _bare_sync(env, drafts))
                ours.append(await _kbcore_sync(env, pool, drafts))
                if not repeat % 2:
                    bare.append(await _bare_sync(env, drafts))
        figures += _floor_figures(env, count, ours, bare)
    return figures


def _floor_figures(env: Env, count: int, ours: list[Run], bare: list[Run]) -> list[Figure]:
    sizes = env.sizes
    walls = [o.wall / b.wall for o, b in zip(ours, bare, strict=True)]
    label = (
        f"full sync of {count:,} documents, concurrency {sizes.concurrency}, "
        f"{sizes.latency * 1000:g} ms per request, against a bare httpx loop "
        f"({len(ours)} runs each)"
    )
    ratio = statistic(walls)
    return [
        Figure(
            label,
            seconds_text(statistic([o.wall for o in ours])),
            f"{seconds_text(statistic([b.wall for b in bare]))} bare httpx loop",
            spread_text(walls),
            "≤ 1.10x",
            ratio <= 1.10,
        ),
        Figure(
            f"client CPU per upload, the same {count:,}-document sync",
            ms(statistic([o.cpu for o in ours]) / count),
            f"{ms(statistic([b.cpu for b in bare]) / count)} bare httpx loop",
            spread_text([o.cpu / b.cpu for o, b in zip(ours, bare, strict=True)]),
            "reported",
            None,
            "This process's CPU over the sync divided by the documents; kbcore's includes "
            "its database driver's share (the ledger row per upload).",
        ),
    ]


async def no_change_sync(env: Env) -> list[Figure]:
    """A sync with nothing to do, after a first one: kbcore's own cost, without latency."""
    figures: list[Figure] = []
    for count in env.sizes.nochange_documents:
        drafts = corpus.drafts(count)
        async with (
            env.pool() as pool,
            remote_vapi(assistants=env.sizes.assistants) as vapi,
        ):
            org = await prepared_org(pool, vapi, drafts)
            store = PostgresStore(pool)
            async with coordinator_for(store, vapi, env.sizes.concurrency) as coordinator:
                await coordinator.sync(org)
                runs = [
                    await _timed(functools.partial(coordinator.sync, org))
                    for _ in range(env.sizes.nochange_repeats)
                ]
        walls, cpus = [r.wall for r in runs], [r.cpu for r in runs]
        figures.append(
            Figure(
                f"no-change sync of {count:,} documents, 0 ms per request ({len(runs)} runs)",
                f"wall {ms(statistic(walls))} ({ms(min(walls))} to {ms(max(walls))})",
                f"CPU {ms(statistic(cpus))} ({ms(min(cpus))} to {ms(max(cpus))})",
                f"{statistic(cpus) / statistic(walls):.2f} CPU/wall",
                "reported",
                None,
                "A sync after a first one, with nothing to upload: the file list from Vapi "
                "(one request, all files), the ledger, the tool and the assistants read back.",
            )
        )
    return figures
