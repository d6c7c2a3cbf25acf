"""Lost answers: a loopback proxy between kbcore and PostgreSQL swallows what the server said.

The server did the work; the client never heard of it. kbcore must then say that the
outcome is unknown (``OutcomeUnknown``), never that nothing was saved; a create retried
with its idempotency key must find the first document; an interrupted import must say
exactly what it committed; and a connection whose reset fails after a committed write
must not turn that write into an error.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import anyio
import anyio.lowlevel
import asyncpg
import pytest
from asyncpg.pool import PoolConnectionProxy

from kbcore import (
    DocumentDraft,
    ImportInterrupted,
    ImportReport,
    KnowledgeBase,
    NotSaved,
    OutcomeUnknown,
)
from kbcore._domain import Claimed, SyncOutcome
from kbcore.postgres import PostgresStore
from kbcore.postgres._connection import on_fresh_connection
from tests.import_support import drafts
from tests.pg_proxy import Action, PgProxy, pg_proxy

pytestmark = pytest.mark.anyio

CREATE = "INSERT INTO knowledge_base"
COMMIT = "COMMIT;"
RESET = "pg_advisory_unlock_all"  # the first line of the pool's reset on release
LISTING = "ORDER BY created_at DESC"
LEASE = timedelta(minutes=5)

#: Makes every changelog insert of a document named refused-*.md fail.
REFUSE_SOME = """
CREATE FUNCTION refuse_some() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.new_content LIKE 'refused%' THEN
        RAISE EXCEPTION 'refused by the host';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER refuse_some BEFORE INSERT ON knowledge_base_changelog
    FOR EACH ROW EXECUTE FUNCTION refuse_some();
"""


@pytest.fixture
async def proxy(kbcore_database_dsn: str) -> AsyncIterator[PgProxy]:
    async with pg_proxy(kbcore_database_dsn) as proxy:
        yield proxy


@pytest.fixture
async def kb(proxy: PgProxy) -> AsyncIterator[KnowledgeBase]:
    """A KnowledgeBase whose every statement goes through the proxy."""
    async with asyncpg.create_pool(proxy.dsn, min_size=1, max_size=2) as pool:
        yield KnowledgeBase(PostgresStore(pool))


async def filenames(pool: asyncpg.Pool, org: UUID) -> list[str]:
    """What the server holds, read past the proxy."""
    rows = await pool.fetch(
        "SELECT filename FROM knowledge_base WHERE org_id = $1 ORDER BY filename", org
    )
    return [row["filename"] for row in rows]


async def test_a_create_whose_answer_is_lost_is_outcome_unknown_and_saved(
    kb: KnowledgeBase, proxy: PgProxy, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """The server committed the create: the error says so may be, never "nothing was saved"."""
    proxy.lose_answer_to(CREATE)
    with pytest.raises(OutcomeUnknown, match="may or may not have been saved"):
        await kb.create(org, filename="a.md", content="x")
    assert proxy.hurt == [(Action.LOSE_ANSWER, proxy.hurt[0][1])]
    assert await filenames(kbcore_pool, org) == ["a.md"]


async def test_a_term_count_whose_claim_is_lost_is_outcome_unknown(
    proxy: PgProxy, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """The count's first statement writes its org's row: a lost answer is not a read's."""
    proxy.lose_answer_to("INSERT INTO knowledge_passage_orgs")
    async with asyncpg.create_pool(proxy.dsn, min_size=1, max_size=2) as pool:
        with pytest.raises(OutcomeUnknown):
            await PostgresStore(pool).count_terms(org, older_than=timedelta(0))
    assert len(proxy.hurt) == 1
    claimed = "SELECT count(*) FROM knowledge_passage_orgs WHERE org_id = $1"
    assert await kbcore_pool.fetchval(claimed, org) == 1


async def test_a_create_retried_with_its_key_returns_the_first_document(
    kb: KnowledgeBase, proxy: PgProxy, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """After a lost answer, the same create with the same key finds what the first one wrote."""
    proxy.lose_answer_to(CREATE)
    with pytest.raises(OutcomeUnknown):
        await kb.create(org, filename="a.md", content="x", idempotency_key="req-1")
    again = await kb.create(org, filename="a.md", content="x", idempotency_key="req-1")
    [stored] = await kbcore_pool.fetch("SELECT id FROM knowledge_base WHERE org_id = $1", org)
    assert again.id == stored["id"]
    assert len(await kb.history(org, again.id)) == 1


async def test_a_write_whose_answer_is_lost_is_not_repeated(
    kb: KnowledgeBase, proxy: PgProxy, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """kbcore does not try a sent write again on its own: that could write it twice."""
    proxy.lose_answer_to(CREATE, times=None)
    # Three names: one active document per filename would refuse a second "a.md".
    for name in ("a.md", "b.md", "c.md"):
        with pytest.raises(OutcomeUnknown):
            await kb.create(org, filename=name, content="x")
    assert len(proxy.hurt) == 3
    assert await filenames(kbcore_pool, org) == ["a.md", "b.md", "c.md"]


async def test_an_update_whose_commit_answer_is_lost_is_outcome_unknown_and_saved(
    kb: KnowledgeBase, proxy: PgProxy, org: UUID
) -> None:
    """The COMMIT went through: OutcomeUnknown, and the new content is there."""
    doc = await kb.create(org, filename="a.md", content="v1")
    proxy.lose_answer_to(COMMIT)
    with pytest.raises(OutcomeUnknown, match="while committing; the change may or may not"):
        await kb.update(org, doc.id, content="v2")
    assert (await kb.get(org, doc.id)).content == "v2"


async def test_a_commit_cut_before_it_left_is_outcome_unknown_and_not_saved(
    kb: KnowledgeBase, proxy: PgProxy, org: UUID
) -> None:
    """The same error when the COMMIT never arrived: the client cannot tell the two apart."""
    doc = await kb.create(org, filename="a.md", content="v1")
    proxy.cut_before(COMMIT)
    with pytest.raises(OutcomeUnknown):
        await kb.update(org, doc.id, content="v2")
    assert (await kb.get(org, doc.id)).content == "v1"


async def test_a_read_whose_answer_is_lost_is_repeated_on_a_fresh_connection(
    kb: KnowledgeBase, proxy: PgProxy, org: UUID
) -> None:
    """A read changes nothing, so kbcore reads again instead of failing."""
    await kb.create(org, filename="a.md", content="x")
    proxy.lose_answer_to(LISTING)
    page = await kb.list(org)
    assert [doc.filename for doc in page.items] == ["a.md"]
    assert [action for action, _ in proxy.hurt] == [Action.LOSE_ANSWER]


async def test_a_transaction_whose_begin_answer_is_lost_starts_on_a_fresh_connection(
    kb: KnowledgeBase, proxy: PgProxy, org: UUID
) -> None:
    """BEGIN writes nothing: a lost answer to it costs a second try, not an error."""
    doc = await kb.create(org, filename="a.md", content="v1")
    proxy.lose_answer_to("BEGIN")
    assert (await kb.update(org, doc.id, content="v2")).version == 2
    assert [action for action, _ in proxy.hurt] == [Action.LOSE_ANSWER]


@pytest.mark.parametrize("write", ["create", "update", "delete"])
async def test_a_failed_reset_on_release_does_not_fail_a_committed_write(
    kb: KnowledgeBase, proxy: PgProxy, org: UUID, write: str
) -> None:
    """The pool's reset meets a dead connection after the write committed: the call succeeds."""
    doc = await kb.create(org, filename="a.md", content="v1")
    proxy.cut_before(RESET)
    if write == "create":
        written = await kb.create(org, filename="b.md", content="x")
    elif write == "update":
        written = await kb.update(org, doc.id, content="v2")
    else:
        written = await kb.delete(org, doc.id)
    assert [action for action, _ in proxy.hurt] == [Action.CUT]
    assert await kb.get(org, written.id) == written


async def test_a_failed_reset_after_a_sync_claim_leaves_the_claim_usable(
    proxy: PgProxy, org: UUID
) -> None:
    """The claim committed and is returned; the run can finish, and the org is free again."""
    async with asyncpg.create_pool(proxy.dsn, min_size=1, max_size=2) as pool:
        store = PostgresStore(pool)
        proxy.cut_before(RESET)
        claim = await store.claim(org, min_interval=timedelta(0), lease=LEASE, actor=None)
        assert isinstance(claim, Claimed)
        run = await store.finish(org, claim.run_id, SyncOutcome(succeeded=True))
        assert run.status == "success"
        again = await store.claim(org, min_interval=timedelta(0), lease=LEASE, actor=None)
        assert isinstance(again, Claimed)
    assert [action for action, _ in proxy.hurt] == [Action.CUT]


async def test_an_import_whose_batch_commit_answer_is_lost_says_exactly_what_it_kept(
    kb: KnowledgeBase, proxy: PgProxy, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """Batches 1-4 committed, batch 5's COMMIT answer was lost, batch 6 never started."""
    proxy.lose_answer_to(COMMIT, after=4)
    with pytest.raises(ImportInterrupted, match="stopped at item 400") as caught:
        await kb.import_documents(org, drafts(600), all_or_nothing=False, batch_size=100)
    assert isinstance(caught.value.__cause__, OutcomeUnknown)
    assert caught.value.report == ImportReport(
        created=400,
        not_saved=tuple(range(500, 600)),
        outcome_unknown=tuple(range(400, 500)),
    )
    assert not caught.value.report.ok
    # The fifth batch did commit; the sixth was never sent.
    assert len(await filenames(kbcore_pool, org)) == 500
    # Importing the same items again, skipping what is there, completes the import.
    report = await kb.import_documents(
        org, drafts(600), on_conflict="skip", all_or_nothing=False, batch_size=100
    )
    assert report == ImportReport(created=100, skipped=500)


async def test_an_import_whose_batch_is_refused_says_the_rest_was_not_saved(
    kb: KnowledgeBase, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """A batch the server refuses is rolled back; the ones before it stay, the rest wait."""
    await kbcore_pool.execute(REFUSE_SOME)
    items = [*drafts(5), DocumentDraft("bad.md", "refused content"), *drafts(3, "late")]
    with pytest.raises(ImportInterrupted) as caught:
        await kb.import_documents(org, items, all_or_nothing=False, batch_size=2)
    assert isinstance(caught.value.__cause__, NotSaved)
    assert caught.value.database_message == "refused by the host"
    assert caught.value.report == ImportReport(created=4, not_saved=(4, 5, 6, 7, 8))
    assert await filenames(kbcore_pool, org) == [f"doc-{i}.md" for i in range(4)]


async def test_an_all_or_nothing_import_whose_commit_answer_is_lost_is_outcome_unknown(
    kb: KnowledgeBase, proxy: PgProxy, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """One transaction, one fate for every item: plain OutcomeUnknown, and all are there."""
    proxy.lose_answer_to(COMMIT)
    with pytest.raises(OutcomeUnknown) as caught:
        await kb.import_documents(org, drafts(30), batch_size=10)
    assert not isinstance(caught.value, ImportInterrupted)
    assert len(await filenames(kbcore_pool, org)) == 30


async def test_a_call_cancelled_while_its_connection_fails_to_reset_leaves_no_error_behind(
    kb: KnowledgeBase, proxy: PgProxy, kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """A caller cancelled mid-statement hands its connection back; that reset fails.

    The release must finish, and its failure be heard, within the call: an error of a
    release that nobody waits for ends up in the event loop's exception handler.
    """
    doc = await kb.create(org, filename="a.md", content="x")
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        async with kbcore_pool.acquire() as admin, admin.transaction():
            await admin.execute("LOCK TABLE knowledge_base IN ACCESS EXCLUSIVE MODE")
            proxy.cut_before(RESET)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(kb.get, org, doc.id)
                await waiting_for_a_lock(kbcore_pool)
                tasks.cancel_scope.cancel()
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert [action for action, _ in proxy.hurt] == [Action.CUT]
    assert [context["message"] for context in reported] == []
    assert await kb.get(org, doc.id) == doc


async def waiting_for_a_lock(admin: asyncpg.Pool) -> None:
    """Return once a session of the test waits for a lock (the loop turns meanwhile)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while not await admin.fetchval(query):
        await anyio.lowlevel.checkpoint()


async def test_a_read_the_server_refused_is_not_repeated(kbcore_pool: asyncpg.Pool) -> None:
    """Only a dead connection sends a read to another one: a refusal would come again."""
    tries: list[int] = []

    async def divide(conn: PoolConnectionProxy) -> object:
        tries.append(1)
        return await conn.fetchval("SELECT 1 / 0")

    with pytest.raises(NotSaved, match="22012"):
        await on_fresh_connection(kbcore_pool, divide, doing="dividing", writes=False)
    assert len(tries) == 1
