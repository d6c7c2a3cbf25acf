"""Sessions the server ends between two statements of a unit of work (pg_terminate_backend).

The server sends a FATAL error and closes the connection. asyncpg may read the error while
the connection sits between two statements, before the close reaches it; the next statement
then fails at once. That failure must be a kbcore error that tells the truth, and nothing
may be left for the event loop's exception handler: asyncpg's COPY, which imports once
used, left behind a future that the close then failed with nobody waiting for it ("Future
exception was never retrieved", an untyped ``ConnectionDoesNotExistError``).

A loopback proxy (``tests/pg_proxy.py``) ends the session right after its answer to the
n-th request of an import, for each n until the import has no request left. The import
runs on a connection that has imported before, as a pooled connection usually has
(asyncpg then has its statements prepared).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import anyio.lowlevel
import asyncpg
import pytest

from kbcore import ImportReport, KbError, KnowledgeBase, NotSaved
from kbcore.postgres import PostgresStore
from tests.import_support import drafts
from tests.pg_proxy import Action, pg_proxy

pytestmark = pytest.mark.anyio

#: BEGIN, the lock of the names, the documents, their passages, COMMIT, the pool's reset.
FEWEST_REQUESTS = 6


@pytest.fixture
async def loop_reports() -> AsyncIterator[list[dict[str, Any]]]:
    """What reaches the event loop's exception handler while the test runs."""
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        yield reported
    finally:
        loop.set_exception_handler(previous)


async def test_an_import_whose_session_ends_after_any_request_fails_typed_and_true(
    kbcore_database_dsn: str,
    kbcore_pool: asyncpg.Pool,
    org: UUID,
    loop_reports: list[dict[str, Any]],
) -> None:
    async with (
        pg_proxy(kbcore_database_dsn) as proxy,
        asyncpg.create_pool(proxy.dsn, min_size=1, max_size=1) as pool,
    ):
        kb = KnowledgeBase(PostgresStore(pool))
        for n in itertools.count():
            await kb.import_documents(org, drafts(2, prefix=f"before-{n}"))
            proxy.terminate_after("", after=n)
            try:
                outcome: ImportReport | KbError = await kb.import_documents(
                    org, drafts(2, prefix=f"ended-{n}")
                )
            except KbError as error:
                outcome = error
            for _ in range(3):
                await anyio.lowlevel.checkpoint()
            gc.collect()  # a future nobody retrieved is reported when it is collected
            assert [context["message"] for context in loop_reports] == [], n
            kept = await named(kbcore_pool, org, f"ended-{n}-%")
            if isinstance(outcome, ImportReport):
                assert (outcome.created, kept) == (2, 2), n
            else:
                assert type(outcome) is NotSaved, (n, outcome)
                assert kept == 0, n
            if not proxy.hurt:
                break
            assert proxy.hurt[0][0] is Action.TERMINATE
            proxy.hurt.clear()
        proxy.rules.clear()
    assert n >= FEWEST_REQUESTS


async def named(admin: asyncpg.Pool, org: UUID, pattern: str) -> int:
    """How many documents of the org the server holds whose filename is like ``pattern``."""
    count: int = await admin.fetchval(
        "SELECT count(*) FROM knowledge_base WHERE org_id = $1 AND filename LIKE $2",
        org,
        pattern,
    )
    return count
