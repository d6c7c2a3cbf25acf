"""``kbcore migrate`` and ``kbcore docs ...`` on a real database."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from kbcore import KnowledgeBase
from kbcore.postgres import PostgresStore
from kbcore.postgres._migrate import migrations
from tests.cli.conftest import (
    Cli,
    assert_one_error_line,
    clean_environment,
    kbcore,
    snapshot,
)

pytestmark = pytest.mark.anyio

ORG = str(uuid.uuid4())


@pytest.fixture
def pricing(tmp_path: Path) -> Path:
    path = tmp_path / "pricing.md"
    path.write_text("Pro: $99/month\n", encoding="utf-8")
    return path


async def add(cli: Cli, path: Path, *args: str) -> dict[str, Any]:
    run = await cli("docs", "add", ORG, str(path), "--json", *args)
    assert run.code == 0, run.stderr
    document: dict[str, Any] = run.json()
    return document


async def test_migrate_applies_then_finds_nothing_to_do(kbcore_empty_database_dsn: str) -> None:
    """On an empty database every migration applies; the second run applies none."""
    env = clean_environment(DATABASE_URL=kbcore_empty_database_dsn)
    first = await kbcore("migrate", "--json", env=env)
    assert first.code == 0, first.stderr
    shipped = [migration.version for migration in migrations()]
    assert first.json() == {"applied": shipped, "latest": shipped[-1]}
    again = await kbcore("migrate", env=env)
    assert (again.code, again.stdout) == (0, "The schema is up to date; nothing to apply\n")


async def test_a_document_from_add_to_delete(cli: Cli, pricing: Path, tmp_path: Path) -> None:
    """add, list, show, edit, history, restore and delete, each read back as JSON."""
    doc = await add(cli, pricing, "--category", "products_services", "--actor", "ops")
    assert (doc["filename"], doc["version"], doc["content"]) == (
        "pricing.md",
        1,
        "Pro: $99/month\n",
    )

    listing = (await cli("docs", "list", ORG, "--json")).json()
    assert [item["id"] for item in listing["items"]] == [doc["id"]]
    # The content-free listing: its size, not the content itself.
    assert "content" not in listing["items"][0]
    assert listing["items"][0]["size_bytes"] == len("Pro: $99/month\n")
    assert listing["next_cursor"] is None

    new = tmp_path / "new.md"
    new.write_text("Pro: $89/month\n", encoding="utf-8")
    edit = await cli(
        "docs", "edit", ORG, doc["id"], "--content-file", str(new), "--expected-version", "1",
        "--json",
    )  # fmt: skip
    assert (edit.json()["version"], edit.json()["content"]) == (2, "Pro: $89/month\n")

    deleted = await cli("docs", "delete", ORG, doc["id"], "--json")
    assert deleted.json()["active"] is False
    assert (await cli("docs", "list", ORG, "--json")).json()["items"] == []
    everything = (await cli("docs", "list", ORG, "--include-inactive", "--json")).json()
    assert [item["active"] for item in everything["items"]] == [False]

    history = (await cli("docs", "history", ORG, doc["id"], "--json")).json()
    assert [change["change_type"] for change in history] == ["created", "updated", "deleted"]
    assert history[0]["changed_by"] == "ops"


async def test_show_and_history_for_people(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    """Without --json: the document's header and content; the changes as a table."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    doc = await kb.create(ORG, filename="pricing.md", content="Pro: $99", category="operations")
    await kb.update(ORG, doc.id, content="Pro: $89", actor="ops")
    shown = await cli("docs", "show", ORG, str(doc.id))
    assert shown.stdout.startswith("Document pricing.md (operations, version 2)\n")
    assert shown.stdout.endswith("\n\nPro: $89\n")
    table = (await cli("docs", "history", ORG, str(doc.id))).stdout.splitlines()
    assert table[0].split() == ["WHEN", "CHANGE", "VERSION", "BY", "SUMMARY"]
    assert table[2].split()[2:] == ["updated", "1", "->", "2", "ops", "Updated:", "pricing.md"]


async def test_the_listing_is_a_table_with_a_cursor(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    """People get aligned columns, and the cursor of the next page when there is one."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    for name in ("a.md", "b.md"):
        await kb.create(ORG, filename=name, content="x")
    run = await cli("docs", "list", ORG, "--limit", "1")
    header, row, count, more = run.stdout.splitlines()
    assert header.split() == ["ID", "FILENAME", "CATEGORY", "VERSION", "ACTIVE", "UPDATED"]
    assert "b.md" in row
    assert count == "1 document"
    assert more.startswith("More: --cursor ")
    second = await cli("docs", "list", ORG, "--limit", "1", "--cursor", more.split()[-1], "--json")
    assert [item["filename"] for item in second.json()["items"]] == ["a.md"]


async def test_content_from_standard_input(cli: Cli) -> None:
    """``-`` reads the content from stdin; it then needs --filename."""
    # A real process: its standard input is a pipe.
    run = await cli.subprocess(
        "docs", "add", ORG, "-", "--filename", "faq.md", "--json", stdin="Q? A.\n"
    )
    assert run.json()["content"] == "Q? A.\n"
    refused = await cli.subprocess("docs", "add", ORG, "-", stdin="Q? A.\n")
    assert_one_error_line(refused, 2, "--filename is needed")


#: (arguments, what the one error line says); {file}, {missing} and {doc} are filled in.
BAD_INPUT = [
    (["docs", "add", "not-a-uuid", "{file}"], "argument ORG_ID: not a valid UUID: 'not-a-uuid'"),
    (["docs", "add", ORG, "{missing}"], "No such file: "),
    (["docs", "add", ORG, "{file}", "--category", "gossip"], "category: Invalid category."),
    (["docs", "add", ORG, "{file}", "--filename", "../etc"], "Filename cannot contain path"),
    (["docs", "add", ORG, "{file}", "--metadata", "[1]"], "must be a JSON object"),
    (["docs", "add", ORG, "{file}", "--metadata", "[" * 5000], "JSON nested too deeply"),
    (
        ["docs", "add", ORG, "{file}", "--metadata", '{{"a":' * 65 + "1" + "}}" * 65],
        "Max 64 levels",
    ),
    (["docs", "show", ORG, "123"], "argument DOCUMENT_ID: not a valid UUID"),
    (["docs", "show", ORG, str(uuid.uuid4())], "not found"),
    (["docs", "edit", ORG, "{doc}"], "Nothing to change"),
    (["docs", "edit", ORG, "{doc}", "--category", "gossip"], "Invalid category"),
    (["docs", "restore", ORG, "{doc}", "1"], "not earlier than the current 1"),
    (["docs", "list", ORG, "--limit", "0"], "not a positive whole number"),
    (["docs", "list", ORG, "--cursor", "garbage"], "cursor: Invalid cursor"),
    (["docs", "frobnicate", ORG], "invalid choice: 'frobnicate'"),
    (["report", "--since", "yesterday"], "not a duration"),
    (["search", ORG, "pricing", "--limit", "0"], "not a positive whole number"),
    (["sync", ORG, "--vapi-base-url", "not-a-url"], "not an http or https URL: 'not-a-url'"),
    (["sync", ORG, "--vapi-timeout", "0"], "not a positive number of seconds"),
]


@pytest.fixture
async def untouchable(kbcore_pool: asyncpg.Pool, pricing: Path) -> AsyncIterator[dict[str, str]]:
    """A document to aim at, and a check that the test leaves every table as it found it."""
    doc = await KnowledgeBase(PostgresStore(kbcore_pool)).create(ORG, filename="a.md", content="x")
    before = await snapshot(kbcore_pool)
    yield {"file": str(pricing), "missing": str(pricing.with_name("gone.md")), "doc": str(doc.id)}
    assert await snapshot(kbcore_pool) == before


async def test_bad_input_in_a_subprocess(cli: Cli, untouchable: dict[str, str]) -> None:
    """A malformed id, a missing file, an unknown category: exit 2, one line, nothing written."""
    for args, fragment in BAD_INPUT[:3]:
        run = await cli.subprocess(*(arg.format(**untouchable) for arg in args))
        assert_one_error_line(run, 2, fragment)
        assert run.stdout == ""


@pytest.mark.parametrize(("args", "fragment"), BAD_INPUT)
async def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    cli: Cli, untouchable: dict[str, str], args: list[str], fragment: str
) -> None:
    """Every kind of bad input: exit 2, one line saying why, nothing written."""
    run = await cli(*(arg.format(**untouchable) for arg in args))
    assert_one_error_line(run, 2, fragment)
    assert run.stdout == ""


async def test_restore_an_earlier_version(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    """restore makes version 1's content current again, as version 3."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    doc = await kb.create(ORG, filename="pricing.md", content="Pro: $99")
    await kb.update(ORG, doc.id, content="Pro: $89")
    run = await cli("docs", "restore", ORG, str(doc.id), "1", "--actor", "ops", "--json")
    assert (run.json()["version"], run.json()["content"]) == (3, "Pro: $99")
    people = await cli("docs", "restore", ORG, str(doc.id), "2")
    assert people.stdout.startswith("Restored version 2 of pricing.md (general, version 4)")


async def test_json_errors_are_objects_on_stdout(cli: Cli) -> None:
    """With --json a refusal is also an error object scripts can read."""
    run = await cli("docs", "show", ORG, str(uuid.uuid4()), "--json")
    assert run.code == 2
    error = run.json()["error"]
    assert (error["type"], error["exit_code"]) == ("NotFound", 2)
    assert error["message"].endswith("not found")


async def test_no_database_is_a_usage_error() -> None:
    """Without --dsn or DATABASE_URL the command says how to give one."""
    run = await kbcore("docs", "list", ORG, env=clean_environment())
    assert_one_error_line(run, 2, "No database: pass --dsn or set DATABASE_URL")


async def test_an_unreachable_database_is_one_line_without_its_password() -> None:
    """A refused connection fails with exit 1; the URL's password is not repeated."""
    dsn = "postgresql://kb:s3cret-pw@127.0.0.1:9/kb"  # the discard port: nothing listens
    run = await kbcore("docs", "list", ORG, "--dsn", dsn, env=clean_environment())
    assert_one_error_line(run, 1, "Could not connect to the database")
    assert "s3cret-pw" not in run.stderr


async def test_a_database_without_the_schema_says_to_migrate(
    kbcore_empty_database_dsn: str,
) -> None:
    """Before ``kbcore migrate`` the error names the fix."""
    run = await kbcore(
        "docs", "list", ORG, env=clean_environment(DATABASE_URL=kbcore_empty_database_dsn)
    )
    assert_one_error_line(run, 1, "run `kbcore migrate` first")


async def test_debug_shows_the_traceback(kbcore_empty_database_dsn: str) -> None:
    """--debug adds the traceback to the one-line error."""
    run = await kbcore(
        "docs",
        "list",
        ORG,
        "--debug",
        env=clean_environment(DATABASE_URL=kbcore_empty_database_dsn),
    )
    assert run.code == 1
    assert "Traceback" in run.stderr
    assert run.error_lines[-1].startswith("kbcore: error: ")


async def test_a_version_conflict_exits_4(cli: Cli, untouchable: dict[str, str]) -> None:
    """Another writer moved the document on: exit 4, not 2 (the input itself was fine)."""
    run = await cli("docs", "edit", ORG, untouchable["doc"], "--filename", "b.md",
                    "--expected-version", "7", "--json")  # fmt: skip
    assert_one_error_line(run, 4, "expected version 7, found 1")
    assert (run.json()["error"]["type"], run.json()["error"]["exit_code"]) == ("VersionConflict", 4)


async def test_the_command_alone_prints_its_usage(cli: Cli) -> None:
    """``kbcore`` or ``kbcore docs`` alone: the usage of what was given, exit 2, no error line."""
    alone = await cli()
    assert (alone.code, alone.stderr) == (2, "")
    assert alone.stdout.startswith("usage: kbcore ")
    assert "  search " in alone.stdout
    docs = await cli("docs")
    assert (docs.code, docs.stderr) == (2, "")
    assert docs.stdout.startswith("usage: kbcore docs ")
    assert "undelete" in docs.stdout


async def test_undelete_and_what_restore_says(cli: Cli, pricing: Path, tmp_path: Path) -> None:
    """A deleted document comes back with ``undelete`` or ``edit --active``; restore keeps it
    deleted and says so, and how to bring it back."""
    doc = await add(cli, pricing)
    new = tmp_path / "new.md"
    new.write_text("Pro: $89/month\n", encoding="utf-8")
    await cli("docs", "edit", ORG, doc["id"], "--content-file", str(new))
    await cli("docs", "delete", ORG, doc["id"])

    restored = await cli("docs", "restore", ORG, doc["id"], "1")
    assert restored.code == 0, restored.stderr
    assert restored.stdout.splitlines() == [
        "Restored version 1 of pricing.md (general, version 3, deleted)",
        f"id: {doc['id']}",
        f"It is still deleted; `kbcore docs undelete {ORG} {doc['id']}` brings it back.",
    ]
    undeleted = await cli("docs", "undelete", ORG, doc["id"], "--actor", "ops")
    assert undeleted.stdout.splitlines()[0] == "Undeleted pricing.md (general, version 3)"
    again = await cli("docs", "undelete", ORG, doc["id"])
    assert again.stdout.splitlines()[0] == "Nothing changed: pricing.md is not deleted"

    await cli("docs", "delete", ORG, doc["id"])
    active = await cli("docs", "edit", ORG, doc["id"], "--active", "--json")
    assert (active.json()["active"], active.json()["version"]) == (True, 3)
    history = (await cli("docs", "history", ORG, doc["id"], "--json")).json()
    assert [change["change_type"] for change in history][-5:] == [
        "deleted",
        "restored",
        "reactivated",
        "deleted",
        "reactivated",
    ]
    assert history[-3]["changed_by"] == "ops"


async def test_an_edit_that_changes_nothing_says_so(
    cli: Cli, pricing: Path, kbcore_pool: asyncpg.Pool
) -> None:
    """Same content, same name: "Nothing changed", and no changelog row."""
    doc = await add(cli, pricing)
    before = await snapshot(kbcore_pool)
    same = await cli("docs", "edit", ORG, doc["id"], "--content-file", str(pricing),
                     "--filename", "pricing.md")  # fmt: skip
    assert same.code == 0, same.stderr
    assert same.stdout.splitlines()[0] == "Nothing changed: pricing.md already is as asked"
    restored = await cli("docs", "restore", ORG, doc["id"], "1")
    assert restored.code == 2  # version 1 is the current one: nothing earlier to restore
    assert await snapshot(kbcore_pool) == before
    renamed = await cli("docs", "edit", ORG, doc["id"], "--filename", "v1..2 pricing.md")
    assert renamed.stdout.splitlines()[0] == "Saved v1..2 pricing.md (general, version 1)"


async def test_a_restore_of_the_current_content_changes_nothing(
    cli: Cli, kbcore_pool: asyncpg.Pool
) -> None:
    """Restoring a version whose content is the current one says so and writes nothing."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    doc = await kb.create(ORG, filename="a.md", content="one")
    await kb.update(ORG, doc.id, content="two")
    await kb.update(ORG, doc.id, content="one")
    before = await snapshot(kbcore_pool)
    run = await cli("docs", "restore", ORG, str(doc.id), "1")
    assert run.stdout.splitlines()[0] == (
        "Nothing changed: version 1 of a.md is its current content"
    )
    assert await snapshot(kbcore_pool) == before


async def test_search_finds_the_matching_documents(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    """``kbcore search`` lists the matches, best first, with a snippet; --json for scripts."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    pricing = await kb.create(ORG, filename="pricing.md", content="The Pro plan costs $99.")
    await kb.create(ORG, filename="script.md", content="Hello, this is Acme calling.")
    run = await cli("search", ORG, "pro plan")
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"pricing.md (general, id {pricing.id})",
        "  The **Pro** **plan** costs $99.",
        "1 document found",
    ]
    found = await cli("search", ORG, "acme OR pro", "--json")
    assert {hit["filename"] for hit in found.json()} == {"pricing.md", "script.md"}
    none = await cli("search", ORG, "enterprise")
    assert none.stdout == "0 documents found\n"


async def test_logs_show_only_when_asked(cli: Cli, pricing: Path) -> None:
    """The command prints its result and nothing else; --debug or LOG_LEVEL add kbcore's events."""
    quiet = await cli("docs", "add", ORG, str(pricing))
    assert (quiet.code, quiet.stderr) == (0, "")
    debug = await cli("docs", "add", ORG, str(pricing), "--filename", "b.md", "--debug")
    assert "kbcore.document.created" in debug.stderr
    asked = await cli(
        "docs", "add", ORG, str(pricing), "--filename", "c.md", LOG_LEVEL="debug", LOG_FORMAT="json"
    )
    [event] = [json.loads(line) for line in asked.stderr.splitlines()]
    assert (event["event"], event["level"], event["org_id"]) == (
        "kbcore.document.created",
        "debug",
        ORG,
    )
