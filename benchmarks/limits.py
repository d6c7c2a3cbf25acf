"""Sync under a Vapi rate limit, and what a sync with nothing to do costs as orgs grow."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg
from asyncpg.connection import LoggedQuery

from benchmarks import corpus
from benchmarks.environment import Env, PoolInit
from benchmarks.harness import Figure, ratio_text, seconds_text
from benchmarks.original import OriginalSync
from benchmarks.remote_vapi import remote_vapi
from benchmarks.sync import sync_bed
from kbcore import DocumentDraft, SyncFailed, SyncPolicy


async def rate_limited(env: Env) -> list[Figure]:
    sizes = env.sizes
    drafts = corpus.drafts(sizes.rate_documents)
    floor = len(drafts) / sizes.rate_per_second
    label = f"{len(drafts)} documents under {sizes.rate_per_second} requests/s"
    return [
        await _kbcore_rate_limited(env, drafts, floor, label, retry_after=True),
        await _kbcore_rate_limited(env, drafts, floor, label, retry_after=False),
        await _original_rate_limited(env, drafts, floor, label),
    ]


async def _kbcore_rate_limited(
    env: Env, drafts: list[DocumentDraft], floor: float, label: str, *, retry_after: bool
) -> Figure:
    sizes = env.sizes
    async with (
        env.pool() as pool,
        remote_vapi(
            assistants=sizes.assistants,
            latency=sizes.latency,
            rate=sizes.rate_per_second,
            retry_after=retry_after,
        ) as vapi,
        sync_bed(pool, vapi, drafts, concurrency=sizes.concurrency) as bed,
    ):
        started = time.perf_counter()
        try:
            result = await bed.coordinator.sync(bed.org)
            uploaded, outcome = result.files_uploaded, "succeeded"
        except SyncFailed as error:
            uploaded = await pool.fetchval(
                "SELECT count(*) FROM kb_vapi_files WHERE org_id = $1", bed.org
            )
            outcome = f"failed: {error.reason}"
        elapsed = time.perf_counter() - started
    failed = len(drafts) - uploaded
    throttled = sum(1 for r in vapi.requests if r.status == 429)
    measured = (
        f"{seconds_text(elapsed)}, {uploaded} uploaded, {failed} failed, "
        f"{len(vapi.requests)} requests ({throttled} answered 429); {outcome}"
    )
    return _rate_figure(label, measured, elapsed / floor, floor, failed, retry_after=retry_after)


def _rate_figure(
    label: str, measured: str, ratio: float, floor: float, failed: int, *, retry_after: bool
) -> Figure:
    if not retry_after:
        return Figure(
            f"full sync, {label}, 429 without Retry-After",
            measured,
            f"{seconds_text(floor)} (documents / rate)",
            ratio_text(ratio),
            "reported",
            None,
            "Without Retry-After the client backs off exponentially with jitter, up "
            f"to {SyncPolicy().retry_policy.attempts} attempts per call (the default policy).",
        )
    met = failed == 0 and ratio <= 1.3
    return Figure(
        f"full sync, {label}, 429 with Retry-After",
        measured,
        f"{seconds_text(floor)} (documents / rate)",
        ratio_text(ratio),
        "no failed document, ≤ 1.3x",
        met,
        ""
        if met
        else "Every request counts against the limit, the tool and assistant calls too; a "
        "refused call waits the Retry-After's whole seconds.",
    )


async def _original_rate_limited(
    env: Env, drafts: list[DocumentDraft], floor: float, label: str
) -> Figure:
    sizes = env.sizes
    async with remote_vapi(
        assistants=sizes.assistants, latency=sizes.latency, rate=sizes.rate_per_second
    ) as vapi:
        original = OriginalSync(vapi.http, vapi.api_key, vapi.assistant_ids, base_url=vapi.url)
        started = time.perf_counter()
        failed = await original.sync(drafts)
        elapsed = time.perf_counter() - started
    return Figure(
        f"original algorithm, {label}, 429 with Retry-After",
        f"{seconds_text(elapsed)}, {len(drafts) - failed} uploaded, {failed} failed, "
        f"{original.requests} requests",
        f"{seconds_text(floor)} (documents / rate)",
        ratio_text(elapsed / floor),
        "reported",
        None,
        "All uploads start at once and retry after 1, 2 and 4 s, whatever Retry-After says.",
    )


async def cost_growth(env: Env) -> list[Figure]:
    """A sync with nothing to do: its database round trips and Vapi requests, by org size."""
    sizes = env.sizes
    counts: dict[int, tuple[int, int, int]] = {}
    for size in sizes.growth:
        log: list[LoggedQuery] = []
        drafts = corpus.drafts(size, words=40)
        async with (
            env.pool(init=_logging_into(log.append)) as pool,
            remote_vapi(assistants=sizes.assistants) as vapi,
            sync_bed(pool, vapi, drafts, concurrency=32) as bed,
        ):
            await bed.coordinator.sync(bed.org)
            log.clear()
            before = len(vapi.requests)
            result = await bed.coordinator.sync(bed.org)
            requests = vapi.requests[before:]
        uploads = sum(1 for r in requests if r.method == "POST" and r.path == "/file")
        assert result.files_uploaded == uploads
        counts[size] = (len(log), len(requests), uploads)
    small, large = min(counts), max(counts)
    (db_small, vapi_small, up_small), (db_large, vapi_large, up_large) = (
        counts[small],
        counts[large],
    )
    met = db_small == db_large and up_small == up_large == 0
    return [
        Figure(
            f"no-change sync cost, {large:,} against {small:,} documents",
            f"{db_large} DB round trips, {vapi_large} Vapi requests, {up_large} uploads",
            f"{db_small} DB round trips, {vapi_small} Vapi requests, {up_small} uploads",
            f"{ratio_text(db_large / db_small)} DB, {ratio_text(vapi_large / vapi_small)} Vapi",
            "DB constant, 0 uploads",
            met,
            "The Vapi file list (one request) grows with the number of files.",
        )
    ]


def _logging_into(sink: Callable[[LoggedQuery], Any]) -> PoolInit:
    async def init(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(sink)

    return init
