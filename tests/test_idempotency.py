"""Idempotent creates, on every store: a create retried with its key never makes a second."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from uuid import UUID, uuid4

import anyio
import asyncpg
import pytest

from kbcore import Document, DuplicateFilename, KnowledgeBase, ValidationError
from kbcore._ports import Store
from tests.stores import ON_POSTGRES

pytestmark = pytest.mark.anyio


async def test_a_create_retried_with_its_key_returns_the_first_document(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """The second call writes nothing: one document, one changelog row."""
    first = await kbcore_kb.create(
        org, filename="a.md", content="x", metadata={"k": 1}, idempotency_key="req-1"
    )
    again = await kbcore_kb.create(
        org, filename="a.md", content="x", metadata={"k": 1}, idempotency_key="req-1"
    )
    assert again == first
    assert [doc.id for doc in (await kbcore_kb.list(org)).items] == [first.id]
    assert len(await kbcore_kb.history(org, first.id)) == 1


async def test_a_retried_create_returns_the_document_as_it_is_now(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """Changed since (even deleted): the key still names it, and it comes back current."""
    first = await kbcore_kb.create(org, filename="a.md", content="x", idempotency_key="req-1")
    await kbcore_kb.update(org, first.id, content="y")
    deleted = await kbcore_kb.delete(org, first.id)
    again = await kbcore_kb.create(org, filename="a.md", content="x", idempotency_key="req-1")
    assert again == deleted
    assert (again.version, again.active) == (2, False)


async def test_a_key_brought_back_with_another_document_is_refused(
    kbcore_kb: KnowledgeBase, kbcore_store: Store, org: UUID
) -> None:
    """Other content, name, category or metadata under the same key: ValidationError, no write."""
    first = await kbcore_kb.create(org, filename="a.md", content="x", idempotency_key="req-1")
    others = [
        {"filename": "a.md", "content": "y"},
        {"filename": "b.md", "content": "x"},
        {"filename": "a.md", "content": "x", "category": "operations"},
        {"filename": "a.md", "content": "x", "metadata": {"k": 1}},
    ]
    for fields in others:
        with pytest.raises(ValidationError, match="idempotency_key: was already used") as caught:
            await kbcore_kb.create(org, idempotency_key="req-1", **fields)  # type: ignore[arg-type]
        assert caught.value.field == "idempotency_key"
    assert [doc.id for doc in (await kbcore_kb.list(org)).items] == [first.id]
    assert [d.id for d in await kbcore_store.sync_documents(org)] == [first.id]


async def test_a_create_refused_for_its_filename_leaves_its_key_free(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """The filename rule refuses the whole create, key and all: the key is still to be had."""
    await kbcore_kb.create(org, filename="a.md", content="x")
    with pytest.raises(DuplicateFilename):
        await kbcore_kb.create(org, filename="a.md", content="y", idempotency_key="req-1")
    created = await kbcore_kb.create(org, filename="b.md", content="y", idempotency_key="req-1")
    assert created.filename == "b.md"
    again = await kbcore_kb.create(org, filename="b.md", content="y", idempotency_key="req-1")
    assert again == created


async def test_a_retry_gets_its_document_though_another_now_has_the_name(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """The key names a deleted document; an active one took the name since: no clash."""
    first = await kbcore_kb.create(org, filename="a.md", content="x", idempotency_key="req-1")
    deleted = await kbcore_kb.delete(org, first.id)
    await kbcore_kb.create(org, filename="a.md", content="new")
    again = await kbcore_kb.create(org, filename="a.md", content="x", idempotency_key="req-1")
    assert again == deleted


async def test_keys_belong_to_their_org(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """The same key in two orgs makes two documents, each in its own org."""
    other = uuid4()
    mine = await kbcore_kb.create(org, filename="a.md", content="x", idempotency_key="req-1")
    theirs = await kbcore_kb.create(other, filename="a.md", content="x", idempotency_key="req-1")
    assert mine.id != theirs.id
    assert (mine.org_id, theirs.org_id) == (org, other)


async def test_the_actor_is_not_part_of_the_request(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """A retry from another worker, with another actor, is still the same request."""
    first = await kbcore_kb.create(
        org, filename="a.md", content="x", actor="worker-1", idempotency_key="req-1"
    )
    again = await kbcore_kb.create(
        org, filename="a.md", content="x", actor="worker-2", idempotency_key="req-1"
    )
    assert again.id == first.id


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "must be 1 to 255 characters"),
        ("k" * 256, "must be 1 to 255 characters"),
        ("line\nbreak", "cannot contain control characters"),
        ("nul\x00", "cannot contain control characters"),
        ("\ud800", "must be valid Unicode text"),
        (42, "must be a string, not int"),
    ],
)
async def test_a_bad_key_is_refused_before_anything_is_written(
    kbcore_kb: KnowledgeBase, org: UUID, key: object, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        await kbcore_kb.create(org, filename="a.md", content="x", idempotency_key=key)  # type: ignore[arg-type]
    assert caught.value.field == "idempotency_key"
    assert (await kbcore_kb.list(org)).items == []


async def test_the_longest_key_is_kept(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    key = "é" * 255
    first = await kbcore_kb.create(org, filename="a.md", content="x", idempotency_key=key)
    assert await kbcore_kb.create(org, filename="a.md", content="x", idempotency_key=key) == first


@ON_POSTGRES
async def test_concurrent_creates_with_one_key_make_one_document(
    kbcore_kb: KnowledgeBase, org: UUID
) -> None:
    """Eight at once on PostgreSQL: the key's row lock makes the others wait, then find it."""
    created: list[Document] = []

    async def create() -> None:
        created.append(
            await kbcore_kb.create(org, filename="a.md", content="x", idempotency_key="req-1")
        )

    async with anyio.create_task_group() as tasks:
        for _ in range(8):
            tasks.start_soon(create)
    assert len({doc.id for doc in created}) == 1
    assert len((await kbcore_kb.list(org)).items) == 1


async def test_the_example_script_adds_a_file_once(
    kbcore_database_dsn: str, kbcore_pool: asyncpg.Pool, org: UUID, tmp_path: Path
) -> None:
    """examples/safe_create.py run twice on one file: the same document, stored once."""
    script = Path(__file__).parents[1] / "examples" / "safe_create.py"
    source = tmp_path / "faq.md"
    source.write_text("Refunds within 30 days.", encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": kbcore_database_dsn}
    runs = [
        await anyio.run_process([sys.executable, str(script), str(org), str(source)], env=env)
        for _ in range(2)
    ]
    # The last line: unconfigured, structlog prints kbcore's debug events before it.
    first, second = (run.stdout.decode().splitlines()[-1] for run in runs)
    assert first == second
    assert first.startswith("faq.md: ")
    assert (
        await kbcore_pool.fetchval("SELECT count(*) FROM knowledge_base WHERE org_id = $1", org)
        == 1
    )
