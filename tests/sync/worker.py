"""Syncs caught in the act: a gate in front of FakeVapi, and a sync worker process.

``UploadGate`` stands in front of a ``FakeVapi`` and holds uploads until the test opens
it, so a test can see a sync mid-run without guessing how long it takes.

Run as ``python -m tests.sync.worker --dsn DSN --vapi-url URL --org ORG_ID``, this
module is a host process of its own (its own event loop and asyncpg pool): it
prints ``ready``, waits for a line on stdin (the start barrier), runs
``--attempts`` syncs of the org at once and prints their outcomes as one JSON line.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import MutableMapping, Sequence
from typing import Any, Literal

import anyio
import asyncpg
import attrs
import structlog

from kbcore import RateLimited, SyncCoordinator, SyncInProgress, SyncPolicy
from kbcore.postgres import PostgresStore
from kbcore.testing.fake_vapi._http import ASGIApp, Receive, Send

#: What each attempt of a worker ended with, as the JSON line counts them.
RAN, IN_PROGRESS, RATE_LIMITED = "ran", "in progress", "rate limited"


@attrs.define
class UploadGate:
    """``app`` behind a gate: uploads after the first ``let_through`` wait for ``opened``.

    They wait before ``app`` sees them, or with ``hold="answer"`` after it stored
    the file, so that only the answer is held back.
    """

    app: ASGIApp
    let_through: int = 0
    hold: Literal["request", "answer"] = "request"
    opened: anyio.Event = attrs.field(factory=anyio.Event)
    #: Set when the first upload is held at the gate.
    holding: anyio.Event = attrs.field(factory=anyio.Event)
    _passed: int = 0

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if (scope.get("method"), scope.get("path")) != ("POST", "/file"):
            await self.app(scope, receive, send)
        elif self._passed < self.let_through:
            self._passed += 1
            await self.app(scope, receive, send)
        elif self.hold == "request":
            await self._wait()
            await self.app(scope, receive, send)
        else:

            async def send_later(message: MutableMapping[str, Any]) -> None:
                await self._wait()
                await send(message)

            await self.app(scope, receive, send_later)

    async def _wait(self) -> None:
        self.holding.set()
        await self.opened.wait()


async def _attempt(coordinator: SyncCoordinator, org_id: str, actor: str) -> str:
    try:
        await coordinator.sync(org_id, actor=actor)
    except SyncInProgress:
        return IN_PROGRESS
    except RateLimited:
        return RATE_LIMITED
    return RAN


async def _work(arguments: argparse.Namespace) -> None:
    policy = SyncPolicy(max_concurrency=arguments.max_concurrency)
    async with asyncpg.create_pool(arguments.dsn, min_size=4, max_size=4) as pool:
        coordinator = SyncCoordinator(
            PostgresStore(pool), vapi_base_url=arguments.vapi_url, policy=policy
        )
        print("ready", flush=True)  # the protocol with the parent
        await anyio.to_thread.run_sync(sys.stdin.readline)
        outcomes: list[str] = []

        async def attempt() -> None:
            outcomes.append(await _attempt(coordinator, arguments.org, arguments.actor))

        async with anyio.create_task_group() as tg:
            for _ in range(arguments.attempts):
                tg.start_soon(attempt)
    print(json.dumps(collections.Counter(outcomes)), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.sync.worker")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--vapi-url", required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--attempts", type=int, default=1)
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--actor", default="worker")
    arguments = parser.parse_args(argv)
    # This process is the host: its log lines go to stderr, stdout is for the parent.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    anyio.run(_work, arguments)


if __name__ == "__main__":
    main()
