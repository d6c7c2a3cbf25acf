"""Figures, timing and the machine: what every benchmark scenario shares."""

from __future__ import annotations

import logging
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from importlib.metadata import version
from typing import TextIO

import asyncpg
import attrs
import structlog


@attrs.frozen
class Sizes:
    """How big each scenario is; the defaults are the issue's, ``smoke()`` is for tests."""

    creates: int = 400
    import_documents: int = 10_000
    import_repeats: int = 3
    list_documents: int = 100_000
    list_reads: int = 400
    search_documents: int = 10_000
    search_reads: int = 60
    sync_documents: int = 500
    sync_repeats: int = 3
    assistants: int = 4
    concurrency: int = 8
    latency: float = 0.02
    resync_documents: int = 1_000
    rate_documents: int = 500
    rate_per_second: int = 10
    growth: tuple[int, ...] = (1_000, 10_000)
    export_documents: int = 100_000
    transfer_import_documents: int = 50_000
    transfer_repeats: int = 3
    create_blocks: int = 3
    floor_documents: tuple[int, ...] = (200, 1_000)
    floor_repeats: int = 3
    nochange_documents: tuple[int, ...] = (1_000, 10_000)
    nochange_repeats: int = 5
    #: Auto-sync: orgs, worker processes, edits arriving at random (per second, for how
    #: long), the debounce and the window (seconds), and the orgs of each throughput run.
    autosync_orgs: int = 10_000
    autosync_workers: int = 4
    autosync_edit_rate: float = 8.0
    autosync_edit_seconds: float = 60.0
    autosync_debounce: float = 2.0
    autosync_window: float = 20.0
    autosync_scaling: tuple[int, ...] = (1, 2, 4)
    autosync_burst: int = 400

    @classmethod
    def smoke(cls) -> Sizes:
        """Every code path, in seconds: for the test suite, not for numbers."""
        return cls(
            creates=3,
            import_documents=30,
            import_repeats=1,
            list_documents=120,
            list_reads=3,
            search_documents=40,
            search_reads=2,
            sync_documents=6,
            sync_repeats=1,
            assistants=2,
            concurrency=2,
            latency=0.001,
            resync_documents=8,
            rate_documents=4,
            rate_per_second=200,
            growth=(5, 10),
            export_documents=30,
            transfer_import_documents=20,
            transfer_repeats=2,
            create_blocks=1,
            floor_documents=(5,),
            floor_repeats=1,
            nochange_documents=(5,),
            nochange_repeats=1,
            autosync_orgs=30,
            autosync_workers=1,
            autosync_edit_rate=10.0,
            autosync_edit_seconds=0.5,
            autosync_debounce=0.2,
            autosync_window=0.5,
            autosync_scaling=(1,),
            autosync_burst=4,
        )


#: A sync's rate-limit window, small enough never to refuse a benchmark's next sync.
NO_WINDOW = timedelta(microseconds=1)


@attrs.frozen
class Figure:
    """One line of the results: a measurement, its baseline, and the goal it answers."""

    scenario: str
    measured: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**missed**", None: "reported"}[self.met]


def ratio_text(value: float) -> str:
    return f"{value:.2f}x"


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


@attrs.frozen
class Pair:
    """Per-call times of kbcore and of its baseline, measured turn about."""

    ours: list[float]
    raw: list[float]

    def ratio(self, fraction: float = 0.5) -> float:
        return percentile(self.ours, fraction) / percentile(self.raw, fraction)


async def interleave(
    ours: Callable[[int], Awaitable[object]],
    raw: Callable[[int], Awaitable[object]],
    rounds: int,
    *,
    warmup: int = 5,
) -> Pair:
    """Time ``rounds`` calls of each, alternating which goes first, so drift hits both."""
    for i in range(warmup):
        await ours(-1 - i)
        await raw(-1 - i)
    pair = Pair([], [])
    for i in range(rounds):
        order = ((ours, pair.ours), (raw, pair.raw))
        for call, samples in order if i % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            await call(i)
            samples.append(time.perf_counter() - started)
    return pair


async def machine(server_dsn: str) -> list[tuple[str, str]]:
    """What the figures were measured on."""
    conn = await asyncpg.connect(server_dsn)
    try:
        server = await conn.fetchval("SHOW server_version")
        fsync = await conn.fetchval("SHOW fsync")
        commit = await conn.fetchval("SHOW synchronous_commit")
    finally:
        await conn.close()
    return [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU", _cpu_model()),
        ("Memory", _memory()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", sys.version.split()[0]),
        ("PostgreSQL", f"{server} (fsync={fsync}, synchronous_commit={commit})"),
        ("asyncpg", version("asyncpg")),
    ]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            kib = int(meminfo.readline().split()[1])
    except (OSError, ValueError, IndexError):
        return "unknown"
    return f"{kib / 1024 / 1024:.1f} GiB"


def seconds_text(seconds: float) -> str:
    return f"{seconds:.2f} s"


def statistic(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def spread_text(ratios: Sequence[float]) -> str:
    """The median ratio and the range of the runs': ``1.05x (1.01 to 1.09x)``."""
    return f"{statistic(ratios):.2f}x ({min(ratios):.2f} to {max(ratios):.2f}x)"


@contextmanager
def structlog_kept() -> Iterator[None]:
    """structlog's set-up as it was before the block, whatever the block configures."""
    saved = structlog.get_config() if structlog.is_configured() else None
    try:
        yield
    finally:
        structlog.reset_defaults()
        if saved is not None:
            structlog.configure(**saved)


def log_info_to(stream: TextIO) -> None:
    """structlog at INFO, rendering JSON into ``stream``: how the benchmarks count logging."""
    structlog.configure(
        processors=[
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(stream),
    )
