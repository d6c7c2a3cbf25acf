"""Pooled connections that the server ended while they sat idle (pg_terminate_backend).

asyncpg finds such a connection out only when it is next used, and then fails in one of
several ways, depending on how much of the server's goodbye the event loop has read: the
statement goes out and fails as the connection closes, asyncpg refuses to "switch state"
before it sends anything, or the pool sees the connection closed and opens another.
kbcore repeats on another connection whatever cannot write twice (reads, and every unit
of work, whose BEGIN writes nothing); a write outside a transaction that did go out is
``NotSaved``, truly: it is not in the database.

The sessions are ended while the test's event loop stands still, so that the server's
goodbyes wait unread in the sockets, as they do for a connection that died while the
host was busy; each test then lets the loop run 0 to 3 times before its calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any
from uuid import UUID

import anyio
import anyio.lowlevel
import asyncpg
import pytest

from kbcore import Document, KnowledgeBase, NotSaved, OutcomeUnknown
from kbcore.postgres import PostgresStore

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("loop_turns", [0, 1, 2, 3])]

APPLICATION = "kbcore-idle-test"
SIZE = 8
ROUNDS = 2


@pytest.fixture
async def pool(kbcore_database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """Eight connections, all open from the start, each named so a test can end them."""
    async with asyncpg.create_pool(
        kbcore_database_dsn,
        min_size=SIZE,
        max_size=SIZE,
        server_settings={"application_name": APPLICATION},
    ) as pool:
        yield pool


@pytest.fixture
def kb(pool: asyncpg.Pool) -> KnowledgeBase:
    return KnowledgeBase(PostgresStore(pool))


async def end_idle_sessions(dsn: str, loop_turns: int) -> int:
    """End every idle session of the pool under test while this event loop stands still.

    The sessions are ended from a thread with an event loop of its own, waiting until each
    has exited; this loop is blocked meanwhile, and then turns ``loop_turns`` times.
    """
    ended: list[int] = []

    async def terminate() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            ended.append(
                await conn.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))"
                    " FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = $1 AND state = 'idle'",
                    APPLICATION,
                )
            )
        finally:
            await conn.close()

    thread = threading.Thread(target=asyncio.run, args=(terminate(),))
    thread.start()
    thread.join()  # blocks the loop on purpose
    for _ in range(loop_turns):
        await anyio.lowlevel.checkpoint()
    return ended[0]


async def at_once(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run the calls concurrently; each one's result, or the exception it raised."""
    outcomes: list[Any] = [None] * len(calls)

    async def one(index: int) -> None:
        try:
            outcomes[index] = await calls[index]()
        except Exception as error:  # kept for the test to judge
            outcomes[index] = error

    async with anyio.create_task_group() as tasks:
        for index in range(len(calls)):
            tasks.start_soon(one, index)
    return outcomes


async def test_reads_on_sessions_ended_while_idle_all_succeed(
    kb: KnowledgeBase, kbcore_database_dsn: str, org: UUID, loop_turns: int
) -> None:
    """Each round ends all eight idle sessions; all eight reads that follow succeed."""
    docs = [await kb.create(org, filename=f"d{i}.md", content=f"word{i}") for i in range(SIZE)]
    reads: list[Callable[[], Awaitable[Any]]] = [
        lambda: kb.get(org, docs[0].id),
        lambda: kb.list(org),
        lambda: kb.list_summaries(org),
        lambda: kb.search(org, "word1"),
        lambda: kb.history(org, docs[1].id),
        lambda: kb.get(org, docs[2].id),
        lambda: kb.list(org, limit=2),
        lambda: kb.get(org, docs[3].id),
    ]
    for _ in range(ROUNDS):
        assert await end_idle_sessions(kbcore_database_dsn, loop_turns) > 0
        outcomes = await at_once(reads)
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        assert outcomes[0] == docs[0]


async def test_units_of_work_on_sessions_ended_while_idle_all_succeed(
    kb: KnowledgeBase, kbcore_database_dsn: str, org: UUID, loop_turns: int
) -> None:
    """An update starts with BEGIN, which writes nothing: it moves to a fresh connection."""
    docs = [await kb.create(org, filename=f"d{i}.md", content="v1") for i in range(SIZE)]
    for round_ in range(2, ROUNDS + 2):
        assert await end_idle_sessions(kbcore_database_dsn, loop_turns) > 0
        outcomes = await at_once(
            [partial(kb.update, org, doc.id, content=f"v{round_}") for doc in docs]
        )
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        assert {o.version for o in outcomes} == {round_}


async def test_creates_on_sessions_ended_while_idle_are_saved_or_truly_not_saved(
    kb: KnowledgeBase,
    kbcore_database_dsn: str,
    kbcore_pool: asyncpg.Pool,
    org: UUID,
    loop_turns: int,
) -> None:
    """A create that went out on a dead session is NotSaved and absent; the others are there."""
    expected: set[str] = set()
    for round_ in range(ROUNDS):
        # Every create of the round before may have gone out on a dead session (NotSaved,
        # not repeated), leaving no session open: reads, repeated on fresh ones, open some.
        await at_once([partial(kb.list, org) for _ in range(SIZE)])
        assert await end_idle_sessions(kbcore_database_dsn, loop_turns) > 0
        names = [f"r{round_}-{i}.md" for i in range(SIZE)]
        outcomes = await at_once(
            [
                partial(kb.create, org, filename=name, content="x", idempotency_key=name)
                for name in names
            ]
        )
        for name, first in zip(names, outcomes, strict=True):
            outcome = first
            if isinstance(first, OutcomeUnknown):
                # Only the key can tell: the retry returns the document if there is one.
                outcome = await kb.create(org, filename=name, content="x", idempotency_key=name)
            assert isinstance(outcome, Document | NotSaved), repr(outcome)
            if isinstance(outcome, Document):
                expected.add(name)
        stored = await kbcore_pool.fetch(
            "SELECT filename FROM knowledge_base WHERE org_id = $1", org
        )
        assert sorted(row["filename"] for row in stored) == sorted(expected)
