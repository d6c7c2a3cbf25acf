"""``python -m benchmarks.retrieval.serve``: Vapi's requests through ``kbcore serve``, timed.

Builds the speed benchmark's database (one org of 10,000 documents among others), starts
``kbcore serve`` in a process of its own on loopback, and times, for every question of
the test set and for ``--rounds`` rounds, two things taking turns:

- **kbcore serve**: a ``knowledge-base-request`` as Vapi sends it (the question in
  ``messagesOpenAIFormatted``, the org's Bearer token), POSTed with httpx over a kept-alive
  loopback connection, to the answer parsed: HTTP, authentication, parsing, the ranking,
  the JSON answer, uvicorn and the client's own share.
- **bare SQL**: the same ranking statement, prepared, on one warm asyncpg connection
  (``jit`` off, as the server's), with the terms computed beforehand.

Prints p50, p99 and max of both over all rounds, and the ratio of the two; and, for
scale, ``GET /healthz`` through the same server and client: the cost of HTTP alone.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Sequence

import anyio
import asyncpg
import attrs
import httpx

from benchmarks.harness import percentile
from benchmarks.retrieval import methods, testset
from benchmarks.retrieval.load import prepare
from benchmarks.retrieval.quality import ORG
from benchmarks.retrieval.speed import Sizes, build
from kbcore.live import ServerSecret
from kbcore.postgres._ranking import RANK_PASSAGES
from kbcore.testing import database

SECRET_TEXT = "benchmark-server-secret-of-forty-characters"
SECRET = ServerSecret(SECRET_TEXT)


@attrs.frozen
class Timings:
    served: tuple[float, ...]
    bare: tuple[float, ...]
    #: ``GET /healthz`` through the same server and client: what HTTP alone costs.
    http: tuple[float, ...]

    def lines(self) -> list[str]:
        rows = []
        for name, samples in (
            ("kbcore serve, loopback HTTP", self.served),
            ("bare SQL", self.bare),
            ("HTTP alone: GET /healthz, same server and client", self.http),
        ):
            ms = [s * 1000 for s in samples]
            rows.append(
                f"| {name} | {percentile(ms, 0.5):.1f} | {percentile(ms, 0.99):.1f} "
                f"| {max(ms):.1f} |"
            )
        ratio50 = percentile(self.served, 0.5) / percentile(self.bare, 0.5)
        ratio99 = percentile(self.served, 0.99) / percentile(self.bare, 0.99)
        return [
            "| path | p50 ms | p99 ms | max ms |",
            "|---|---|---|---|",
            *rows,
            "",
            f"kbcore serve / bare SQL: {ratio50:.2f}x at p50, {ratio99:.2f}x at p99 "
            f"({len(self.served)} requests each).",
        ]


def request_body(question: testset.Question) -> bytes:
    turns = [*([question.previous] if question.previous else []), question.turn]
    said = [{"role": "user", "content": turn} for turn in turns]
    message = {
        "type": "knowledge-base-request",
        "messagesOpenAIFormatted": said,
        "call": {"id": "benchmark-call", "orgId": "vapi-org"},
    }
    return json.dumps({"message": message}).encode()


async def wait_until_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                await anyio.sleep(0.1)


async def time_both(dsn: str, url: str, rounds: int) -> Timings:
    questions = testset.questions() + testset.questions(testset.HELD_OUT)
    bodies = [request_body(q) for q in questions]
    arguments = [methods.live_arguments(ORG, q, limit=3) for q in questions]
    # The server's floor, as the bare query's: 0.45, not the benchmarks' 0.0.
    arguments = [(*a[:4], 0.45, a[5]) for a in arguments]
    headers = {"authorization": f"Bearer {SECRET.for_org(ORG)}", "content-type": "application/json"}
    served: list[float] = []
    bare: list[float] = []
    http: list[float] = []
    conn = await asyncpg.connect(dsn, server_settings={"jit": "off"})
    try:
        statement = await conn.prepare(RANK_PASSAGES)
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            for body, args in zip(bodies, arguments, strict=True):  # warm both
                await client.post(f"/orgs/{ORG}", content=body)
                await statement.fetch(*args)
            for round_ in range(rounds):
                for body, args in zip(bodies, arguments, strict=True):
                    # Taking turns, first one then the other: drift hits both alike.
                    if round_ % 2 == 0:
                        served.append(await _served(client, body))
                        bare.append(await _bare(statement, args))
                    else:
                        bare.append(await _bare(statement, args))
                        served.append(await _served(client, body))
                    http.append(await _health(client))
    finally:
        await conn.close()
    return Timings(tuple(served), tuple(bare), tuple(http))


async def _served(client: httpx.AsyncClient, body: bytes) -> float:
    started = time.perf_counter()
    response = await client.post(f"/orgs/{ORG}", content=body)
    response.json()
    return time.perf_counter() - started


async def _health(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    response = await client.get("/healthz")
    response.json()
    return time.perf_counter() - started


async def _bare(
    statement: asyncpg.prepared_stmt.PreparedStatement, args: tuple[object, ...]
) -> float:
    started = time.perf_counter()
    await statement.fetch(*args)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def run(server_dsn: str, sizes: Sizes) -> str:
    async with database.temporary_database(server_dsn, prefix="kbcore_serve") as dsn:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
            await prepare(pool)
            async with pool.acquire() as conn:
                started = time.perf_counter()
                counts = await build(conn, sizes)
                built = time.perf_counter() - started
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "KBCORE_LIVE_SECRET": SECRET_TEXT,
            "LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "kbcore", "serve", "--port", str(port)]
        async with await anyio.open_process(command, env=env) as server:
            try:
                with anyio.fail_after(60):
                    await wait_until_up(url)
                timings = await time_both(dsn, url, sizes.rounds)
            finally:
                server.terminate()
                await server.wait()
    return "\n".join(
        [
            f"Passages: {', '.join(f'{k} {v:,}' for k, v in counts.items())}"
            f" (built in {built:.0f} s).",
            "",
            *timings.lines(),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    sizes = Sizes.from_command_line("python -m benchmarks.retrieval.serve", __doc__, argv)
    with database.postgres_server() as server_dsn:
        print(anyio.run(run, server_dsn, sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
