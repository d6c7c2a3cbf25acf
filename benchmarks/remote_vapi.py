"""FakeVapi in a process of its own, served on loopback.

In the benchmark's own process the fake's work (parsing uploads, answering) would
share one event loop with kbcore and be timed as kbcore's; Vapi is a remote
service, so the fake runs apart and kbcore only pays for its side of each call.
Requests are counted on the client, through an httpx event hook.

Run as ``python -m benchmarks.remote_vapi --assistants N [--latency S]
[--rate N [--no-retry-after]] [--accounts]``: it prints one JSON line (the base URL, the
key, the assistant ids; with ``--accounts``, one Vapi account per assistant and its key)
and serves until its standard input closes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, MutableMapping, Sequence
from contextlib import asynccontextmanager
from subprocess import PIPE
from typing import Any

import anyio
import attrs
import httpx

from kbcore.testing import FakeVapi, serve_fake_vapi
from kbcore.testing.fake_vapi._http import ASGIApp, Receive, Send

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
    #: With ``accounts``, the key of each assistant's own account, in the same order.
    keys: Sequence[str] = ()


@attrs.frozen
class Accounts:
    """Many Vapi accounts behind one URL, each a FakeVapi chosen by the request's key.

    Each org of a host has an account of its own, so a sync lists only its own files and
    tools; one account shared by thousands of orgs would make every listing huge.
    """

    fakes: dict[str, FakeVapi]

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or ())
        key = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
        fake = self.fakes.get(key) or next(iter(self.fakes.values()))
        await fake(scope, receive, send)


@asynccontextmanager
async def remote_vapi(
    *,
    assistants: int,
    latency: float = 0.0,
    rate: int | None = None,
    retry_after: bool = True,
    accounts: bool = False,
) -> AsyncIterator[RemoteVapi]:
    """Start a FakeVapi process; yield a client to it that records every answer."""
    command = [sys.executable, "-m", "benchmarks.remote_vapi", "--assistants", str(assistants)]
    command += ["--latency", str(latency)] + (["--accounts"] if accounts else [])
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
            yield RemoteVapi(
                started["url"],
                started["api_key"],
                started["assistants"],
                http,
                seen,
                started.get("keys", ()),
            )
        await process.stdin.aclose()


async def _serve(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.remote_vapi")
    parser.add_argument("--assistants", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate", type=int)
    parser.add_argument("--no-retry-after", action="store_true")
    parser.add_argument("--accounts", action="store_true")
    args = parser.parse_args(argv)
    if args.accounts:
        keys = [f"{API_KEY}-{i}" for i in range(args.assistants)]
        fakes = {key: FakeVapi(key) for key in keys}
        ids = [fake.add_assistant(name="agent") for fake in fakes.values()]
        app: ASGIApp = Accounts(fakes)
    else:
        keys, fakes = [], {API_KEY: FakeVapi(API_KEY)}
        ids = [fakes[API_KEY].add_assistant(name=f"agent {i}") for i in range(args.assistants)]
        app = fakes[API_KEY]
    for fake in fakes.values():
        if args.latency:
            fake.add_latency(args.latency)
        if args.rate is not None:
            fake.limit_rate(args.rate, retry_after=not args.no_retry_after)
    async with serve_fake_vapi(app) as url:
        started = {"url": url, "api_key": API_KEY, "assistants": ids, "keys": keys}
        print(json.dumps(started), flush=True)
        await anyio.to_thread.run_sync(sys.stdin.buffer.read)


if __name__ == "__main__":
    anyio.run(_serve, sys.argv[1:])
