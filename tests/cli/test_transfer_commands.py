"""``kbcore import`` and ``kbcore export``: folders and JSON lines, all or nothing."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import anyio
import anyio.to_thread
import asyncpg
import pytest

from kbcore import KnowledgeBase
from kbcore.postgres import PostgresStore
from tests.cli.conftest import Cli, assert_one_error_line, clean_environment, snapshot

pytestmark = pytest.mark.anyio

ORG = str(uuid.uuid4())
#: What a completed import's report says it lost: nothing.
NOTHING_LOST: dict[str, list[int]] = {"not_saved": [], "outcome_unknown": []}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two text files to import, and one that is not."""
    source = tmp_path / "kb"
    source.mkdir()
    (source / "pricing.md").write_text("Pro: $99", encoding="utf-8")
    (source / "faq.txt").write_text("Q? A.", encoding="utf-8")
    (source / "logo.png").write_bytes(b"\x89PNG")
    return source


async def filenames(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT filename, category FROM knowledge_base ORDER BY filename")
    return [tuple(row) for row in rows]


async def test_a_folder_round_trips_through_export_and_import(
    cli: Cli, folder: Path, tmp_path: Path, kbcore_pool: asyncpg.Pool
) -> None:
    """import takes the .md and .txt files; export writes them as JSON lines that import again."""
    imported = await cli("import", ORG, str(folder), "--category", "operations", "--json")
    assert imported.code == 0, imported.stderr
    assert imported.json() == {
        "created": 2,
        "updated": 0,
        "skipped": 0,
        "errors": [],
        "left_out": ["logo.png"],
        **NOTHING_LOST,
    }
    assert await filenames(kbcore_pool) == [("faq.txt", "operations"), ("pricing.md", "operations")]

    target = tmp_path / "kb.jsonl"
    exported = await cli("export", ORG, str(target))
    assert (exported.code, exported.stdout) == (0, f"Exported 2 documents to {target}\n")
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert sorted((r["filename"], r["content"], r["category"]) for r in records) == [
        ("faq.txt", "Q? A.", "operations"),
        ("pricing.md", "Pro: $99", "operations"),
    ]

    other = str(uuid.uuid4())
    again = await cli("import", other, str(target), "--json")
    assert again.json()["created"] == 2


async def test_an_invalid_item_imports_nothing(
    cli: Cli, tmp_path: Path, kbcore_pool: asyncpg.Pool
) -> None:
    """One bad line (unknown category): exit 2, the problem named, no document written."""
    source = tmp_path / "kb.jsonl"
    source.write_text(
        json.dumps({"filename": "a.md", "content": "fine"})
        + "\n\n"
        + json.dumps({"filename": "b.md", "content": "x", "category": "gossip"})
        + "\n",
        encoding="utf-8",
    )
    before = await snapshot(kbcore_pool)
    run = await cli("import", ORG, str(source), "--json")
    assert_one_error_line(run, 2, "Nothing imported: 1 of 2 items rejected: item 2 (b.md)")
    # Numbered from 1 in JSON as in the text: the second item.
    assert run.json()["error"]["problems"] == [
        {
            "item": 2,
            "filename": "b.md",
            "field": "category",
            "message": "Invalid category. Must be one of: "
            "ai_guidelines, general, operations, products_services",
        }
    ]
    assert await snapshot(kbcore_pool) == before


async def test_partial_imports_the_valid_items(
    cli: Cli, tmp_path: Path, kbcore_pool: asyncpg.Pool
) -> None:
    """--partial writes the good items, lists the rejected ones and exits 2: some input was bad."""
    source = tmp_path / "kb.jsonl"
    lines = [{"filename": "a.md", "content": "fine"}, {"filename": "b.md", "content": " "}]
    source.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    run = await cli("import", ORG, str(source), "--partial")
    assert_one_error_line(run, 2, "1 item of 2 rejected; the valid ones were imported")
    assert run.stdout.splitlines() == [
        "Imported 2 items: 1 created, 0 updated, 0 skipped, 1 rejected",
        "item 2 (b.md): content: Content cannot be empty or whitespace-only",
    ]
    assert await filenames(kbcore_pool) == [("a.md", "general")]
    again = await cli("import", str(uuid.uuid4()), str(source), "--partial", "--json")
    assert again.code == 2
    report = again.json()["error"]["report"]
    assert (report["created"], report["errors"][0]["item"]) == (1, 2)


async def test_conflicts_are_refused_skipped_or_updated(
    cli: Cli, folder: Path, kbcore_pool: asyncpg.Pool
) -> None:
    """A filename the org already has: error by default; --on-conflict skip or update."""
    await KnowledgeBase(PostgresStore(kbcore_pool)).create(ORG, filename="faq.txt", content="old")
    refused = await cli("import", ORG, str(folder))
    assert_one_error_line(refused, 2, "item 1 (faq.txt): filename:")
    skipped = await cli("import", ORG, str(folder), "--on-conflict", "skip", "--json")
    counts = ("created", "updated", "skipped", "errors")
    assert [skipped.json()[key] for key in counts] == [1, 0, 1, []]
    updated = await cli("import", ORG, str(folder), "--on-conflict", "update", "--json")
    assert [updated.json()[key] for key in counts] == [0, 1, 1, []]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "No such file or folder"),
        ("not json\n", "line 1: not valid JSON"),
        ("[1, 2]\n", "line 1: must be a JSON object"),
        ("[" * 5000 + "]" * 5000 + "\n", "line 1: JSON nested too deeply"),
        ("\n\n", "has no JSON lines to import"),
    ],
)
async def test_unreadable_input_imports_nothing(
    cli: Cli,
    tmp_path: Path,
    kbcore_pool: asyncpg.Pool,
    content: str | None,
    fragment: str,
) -> None:
    """A missing path or a malformed file: exit 2 before anything is written."""
    source = tmp_path / "kb.jsonl"
    if content is not None:
        source.write_text(content, encoding="utf-8")
    run = await cli("import", ORG, str(source))
    assert_one_error_line(run, 2, fragment)
    assert await filenames(kbcore_pool) == []


async def test_an_empty_folder_is_refused(cli: Cli, tmp_path: Path) -> None:
    run = await cli("import", ORG, str(tmp_path))
    assert_one_error_line(run, 2, "No .md or .txt files in")


async def test_export_keeps_an_existing_file_unless_forced(
    cli: Cli, tmp_path: Path, kbcore_pool: asyncpg.Pool
) -> None:
    """An existing file is left alone without --force; with it, replaced whole."""
    await KnowledgeBase(PostgresStore(kbcore_pool)).create(ORG, filename="a.md", content="x")
    target = tmp_path / "kb.jsonl"
    target.write_text("precious\n", encoding="utf-8")
    refused = await cli("export", ORG, str(target))
    assert_one_error_line(refused, 2, "exists; pass --force to replace it")
    assert target.read_text(encoding="utf-8") == "precious\n"
    forced = await cli("export", ORG, str(target), "--force", "--json")
    assert forced.json() == {"exported": 1, "path": str(target)}
    assert json.loads(target.read_text(encoding="utf-8"))["filename"] == "a.md"
    assert os.listdir(tmp_path) == ["kb.jsonl"]  # no temporary file left behind


async def test_export_to_standard_output(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    """``-`` writes the JSON lines to stdout, deleted documents only when asked."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    await kb.create(ORG, filename="a.md", content="x")
    gone = await kb.create(ORG, filename="b.md", content="y")
    await kb.delete(ORG, gone.id)
    active = await cli("export", ORG, "-")
    assert [json.loads(line)["filename"] for line in active.stdout.splitlines()] == ["a.md"]
    assert active.stderr == "Exported 1 document to standard output\n"
    everything = await cli("export", ORG, "-", "--include-inactive")
    assert len(everything.stdout.splitlines()) == 2


async def test_a_folder_import_says_what_it_left_out(
    cli: Cli, folder: Path, kbcore_pool: asyncpg.Pool
) -> None:
    """Subfolders and other files are not imported, and the result says so."""
    (folder / "archive").mkdir()
    (folder / "archive" / "old.md").write_text("old", encoding="utf-8")
    run = await cli("import", ORG, str(folder))
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines() == [
        "Imported 2 items: 2 created, 0 updated, 0 skipped, 0 rejected",
        "Not imported (only .md and .txt files are): archive/, logo.png",
    ]
    assert [name for name, _ in await filenames(kbcore_pool)] == ["faq.txt", "pricing.md"]


async def test_export_into_a_closed_pipe_stops_quietly(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    """As ``kbcore export ORG - | head -1``: once the reader is gone the command stops, with
    no error message, and exits 141 as a process ended by SIGPIPE does."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    for index in range(300):  # 600 KB: more than a pipe holds, so a write meets the closed end
        await kb.create(ORG, filename=f"{index:03}.md", content="x" * 2000)
    reader, writer = os.pipe()
    command = [sys.executable, "-m", "kbcore", "export", ORG, "-"]
    env = clean_environment(DATABASE_URL=cli.dsn)
    async with await anyio.open_process(command, env=env, stdout=writer) as process:
        os.close(writer)
        with os.fdopen(reader, "rb") as pipe:  # head: read one line, then close the pipe
            first = await anyio.to_thread.run_sync(pipe.readline)
        with anyio.fail_after(60):
            code = await process.wait()
        assert process.stderr is not None
        errors = b"".join([chunk async for chunk in process.stderr]).decode()
    assert json.loads(first)["filename"] == "000.md"
    assert (code, errors) == (141, "")


async def test_one_active_document_per_filename_from_the_command_line(
    cli: Cli, tmp_path: Path, kbcore_pool: asyncpg.Pool
) -> None:
    """docs add refuses a second active script.md (exit 2, one line, nothing written);
    export --include-inactive then import into an empty org reproduces the org exactly,
    deleted ones deleted, and importing it again adds nothing."""
    script = tmp_path / "script.md"
    script.write_text("Hello!", encoding="utf-8")
    first = await cli("docs", "add", ORG, str(script), "--json")
    assert first.code == 0, first.stderr
    before = await snapshot(kbcore_pool)
    second = await cli("docs", "add", ORG, str(script))
    assert_one_error_line(
        second, 2, "An active document named script.md already exists; rename or delete"
    )
    assert await snapshot(kbcore_pool) == before

    deleted = await cli("docs", "delete", ORG, first.json()["id"])
    assert deleted.code == 0, deleted.stderr
    script.write_text("Hello again!", encoding="utf-8")
    assert (await cli("docs", "add", ORG, str(script))).code == 0
    undelete = await cli("docs", "undelete", ORG, first.json()["id"])
    assert undelete.code == 2
    assert "An active document named script.md already exists" in undelete.stderr

    target = tmp_path / "kb.jsonl"
    exported = await cli("export", ORG, str(target), "--include-inactive")
    assert exported.code == 0, exported.stderr
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [(r["filename"], r["content"], r["active"]) for r in records] == [
        ("script.md", "Hello!", False),
        ("script.md", "Hello again!", True),
    ]

    empty = str(uuid.uuid4())
    imported = await cli("import", empty, str(target), "--json")
    assert imported.code == 0, imported.stderr
    assert imported.json()["created"] == 2
    rows = await kbcore_pool.fetch(
        "SELECT filename, content, active FROM knowledge_base WHERE org_id = $1"
        " ORDER BY active, content",
        uuid.UUID(empty),
    )
    assert [tuple(row) for row in rows] == [
        ("script.md", "Hello!", False),
        ("script.md", "Hello again!", True),
    ]

    # Into an org that has it all: --partial reports the live one, the deleted one is there.
    again = await cli("import", empty, str(target), "--partial", "--json")
    assert again.code == 2
    report = again.json()["error"]["report"]
    assert (report["created"], report["skipped"]) == (0, 1)
    assert [(e["item"], e["message"]) for e in report["errors"]] == [
        (2, "An active document named script.md already exists")
    ]
    updated = await cli("import", empty, str(target), "--on-conflict", "update", "--json")
    assert updated.code == 0, updated.stderr
    assert (updated.json()["created"], updated.json()["skipped"]) == (0, 2)
