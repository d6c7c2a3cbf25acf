"""Where a scenario runs: a fresh database cloned from a migrated template, and its sizes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Protocol

import asyncpg
import attrs

from benchmarks.harness import Sizes
from kbcore.testing import database


class PoolInit(Protocol):
    def __call__(self, conn: asyncpg.Connection, /) -> Coroutine[Any, Any, None]: ...


@attrs.frozen
class Env:
    server_dsn: str
    template: str
    sizes: Sizes

    @asynccontextmanager
    async def pool(self, *, init: PoolInit | None = None) -> AsyncIterator[asyncpg.Pool]:
        """A pool on a database of the scenario's own, dropped afterwards."""
        async with self.database(init=init) as (_, pool):
            yield pool

    @asynccontextmanager
    async def database(
        self, *, init: PoolInit | None = None
    ) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
        """As ``pool``, with the database's DSN, for processes of the scenario's own."""
        async with (
            database.temporary_database(
                self.server_dsn, template=self.template, prefix="kbcore_bench"
            ) as dsn,
            asyncpg.create_pool(
                dsn, min_size=2, max_size=self.sizes.concurrency + 4, init=init
            ) as pool,
        ):
            yield dsn, pool
