"""FakeVapi in a process of its own, served on loopback.

In the benchmark's own process the fake's work (parsing uploads, answering) would
share one event loop with kbcore and be timed as kbcore's; Vapi is a remote
service, so the fake runs apart and kbcore only pays for its side of each call.
Requests are counted on the client, through an httpx event hook.

Run as ``python -m benchmarks.remote_vapi --assistants N [--latency S]
[--rate N [--no-retry-after]]``: it prints one JSON line (the base URL, the key,
the assistant ids) and serves until its standard input closes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from subprocess import PIPE

import anyio
import attrs
import httpx

from kbcore.testing import FakeVapi, serve_fake_vapi

API_KEY = "bench-key"


@attrs.frozen
class Seen:
    """A request as the client saw it: enough to count and classify it."""

    method: str
    path: str
    status: int


@attrs.frozen
class RemoteVapi:
    url: str
    api_key: str = attrs.field(repr=False)
    assistant_ids: Sequence[str]
    http: httpx.AsyncClient
    requests: list[Seen]


@asynccontextmanager
async def remote_vapi(
    *, assistants: int, latency: float = 0.0, rate: int | None = None, retry_after: bool = True
) -> AsyncIterator[RemoteVapi]:
    """Start a FakeVapi process; yield a client to it that records every answer."""
    command = [sys.executable, "-m", "benchmarks.remote_vapi", "--assistants", str(assistants)]
    command += ["--latency", str(latency)]
    if rate is not None:
        command += ["--rate", str(rate)] + ([] if retry_after else ["--no-retry-after"])
    async with await anyio.open_process(command, stdin=PIPE, stdout=PIPE) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        line = b""
        while not line.endswith(b"\n"):
            line += await process.stdout.receive()
        started = json.loads(line)
        seen: list[Seen] = []

        async def record(response: httpx.Response) -> None:
            request = response.request
            seen.append(Seen(request.method, request.url.raw_path.decode(), response.status_code))

        # No connection limit: the original algorithm's parallelism is unbounded.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(limits=limits, event_hooks={"response": [record]}) as http:
            yield RemoteVapi(started["url"], started["api_key"], started["assistants"], http, seen)
        await process.stdin.aclose()


async def _serve(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.remote_vapi")
    parser.add_argument("--assistants", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate", type=int)
    parser.add_argument("--no-retry-after", action="store_true")
    args = parser.parse_args(argv)
    fake = FakeVapi(API_KEY)
    ids = [fake.add_assistant(name=f"agent {i}") for i in range(args.assistants)]
    if args.latency:
        fake.add_latency(args.latency)
    if args.rate is not None:
        fake.limit_rate(args.rate, retry_after=not args.no_retry_after)
    async with serve_fake_vapi(fake) as url:
        print(json.dumps({"url": url, "api_key": API_KEY, "assistants": ids}), flush=True)
        await anyio.to_thread.run_sync(sys.stdin.buffer.read)


if __name__ == "__main__":
    anyio.run(_serve, sys.argv[1:])
