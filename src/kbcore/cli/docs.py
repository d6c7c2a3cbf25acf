"""``kbcore docs ...``: read and change an org's documents."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbcore import Change, Document, KnowledgeBase
from kbcore.cli.common import UsageError, connect, database_url, positive_int, read_text, uuid_arg
from kbcore.cli.output import Output, jsonable, plural, table
from kbcore.postgres import PostgresStore

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    docs = commands.add_parser(
        "docs", parents=[common], help="list, show, add, edit, delete an org's documents"
    )
    docs.set_defaults(parser=docs)
    actions = docs.add_subparsers(dest="action", metavar="ACTION")

    def action(name: str, help_text: str, *, document: bool = True) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, parents=[common], help=help_text)
        parser.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
        if document:
            parser.add_argument("document_id", metavar="DOCUMENT_ID", type=uuid_arg)
        return parser

    listing = action("list", "one page of documents, newest first", document=False)
    listing.add_argument("--category", help="only this category")
    listing.add_argument("--include-inactive", action="store_true", help="deleted ones too")
    listing.add_argument("--limit", type=positive_int, default=50, help="page size (1-500)")
    listing.add_argument("--cursor", help="the page after this cursor (from the last page)")
    listing.set_defaults(handler=list_documents)

    action("show", "one document with its content").set_defaults(handler=show)

    add = action("add", "add a document from a file", document=False)
    add.add_argument("path", metavar="PATH", help="a UTF-8 text file, or - for standard input")
    add.add_argument("--filename", help="the document's name (default: the file's name)")
    add.add_argument("--category", help="default: general")
    add.add_argument("--metadata", type=_json_object, help="a JSON object kept with it")
    add.set_defaults(handler=add_document)

    edit = action("edit", "change a document's content, name or category, or undelete it")
    edit.add_argument("--content-file", metavar="PATH", help="new content (- for stdin)")
    edit.add_argument("--filename", help="a new name")
    edit.add_argument("--category", help="a new category")
    edit.add_argument("--active", action="store_true", help="undelete it, if deleted")
    edit.add_argument("--expected-version", type=positive_int, help="fail if the document moved on")
    edit.set_defaults(handler=edit_document)

    action("delete", "soft-delete a document").set_defaults(handler=delete_document)
    action("undelete", "make a deleted document active again").set_defaults(
        handler=undelete_document
    )
    action("history", "a document's changes, oldest first").set_defaults(handler=history)
    restore = action("restore", "make an earlier version's content current (deleted stays deleted)")
    restore.add_argument("version", metavar="VERSION", type=positive_int)
    restore.set_defaults(handler=restore_document)

    for name in ("add", "edit", "restore", "delete", "undelete"):
        actions.choices[name].add_argument("--actor", help="who made the change, for the changelog")


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError("not valid JSON") from None
    except RecursionError:
        raise argparse.ArgumentTypeError("JSON nested too deeply") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return parsed


@asynccontextmanager
async def knowledge_base(args: argparse.Namespace) -> AsyncIterator[KnowledgeBase]:
    async with connect(database_url(args)) as pool:
        yield KnowledgeBase(PostgresStore(pool))


def summary(document: Document) -> dict[str, Any]:
    """A document without its content (listings stay small)."""
    data: dict[str, Any] = jsonable(document)
    del data["content"]
    return data


def _document_lines(verb: str, document: Document) -> list[str]:
    state = "" if document.active else ", deleted"
    return [
        f"{verb} {document.filename} ({document.category}, version {document.version}{state})",
        f"id: {document.id}",
    ]


def _unchanged_lines(document: Document, why: str) -> list[str]:
    return [f"Nothing changed: {why}", *_document_lines("Still", document)[1:]]


def _still_deleted(document: Document) -> list[str]:
    if document.active:
        return []
    undelete = f"kbcore docs undelete {document.org_id} {document.id}"
    return [f"It is still deleted; `{undelete}` brings it back."]


async def list_documents(args: argparse.Namespace, out: Output) -> None:
    async with knowledge_base(args) as kb:
        page = await kb.list_summaries(
            args.org_id,
            category=args.category,
            include_inactive=args.include_inactive,
            limit=args.limit,
            cursor=args.cursor,
        )
    rows = [(d.id, d.filename, d.category, d.version, d.active, d.updated_at) for d in page.items]
    lines = table(["ID", "FILENAME", "CATEGORY", "VERSION", "ACTIVE", "UPDATED"], rows)
    lines.append(plural(len(rows), "document"))
    if page.next_cursor:
        lines.append(f"More: --cursor {page.next_cursor}")
    out.result({"items": page.items, "next_cursor": page.next_cursor}, lines)


async def show(args: argparse.Namespace, out: Output) -> None:
    async with knowledge_base(args) as kb:
        document = await kb.get(args.org_id, args.document_id)
    lines = _document_lines("Document", document)
    lines += [f"updated: {document.updated_at:%Y-%m-%d %H:%M:%S %Z}", "", document.content]
    out.result(document, lines)


async def add_document(args: argparse.Namespace, out: Output) -> None:
    if args.path == "-" and not args.filename:
        raise UsageError("--filename is needed when the content comes from standard input")
    content = read_text(args.path)
    async with knowledge_base(args) as kb:
        document = await kb.create(
            args.org_id,
            filename=args.filename or Path(args.path).name,
            content=content,
            category=args.category,
            metadata=args.metadata,
            actor=args.actor,
        )
    out.result(document, _document_lines("Added", document))


async def edit_document(args: argparse.Namespace, out: Output) -> None:
    wanted = (args.content_file, args.filename, args.category)
    if all(value is None for value in wanted) and not args.active:
        raise UsageError(
            "Nothing to change: give --content-file, --filename, --category or --active"
        )
    content = None if args.content_file is None else read_text(args.content_file)
    async with knowledge_base(args) as kb:
        before = await kb.get(args.org_id, args.document_id)
        document = await kb.update(
            args.org_id,
            args.document_id,
            content=content,
            filename=args.filename,
            category=args.category,
            active=True if args.active else None,
            actor=args.actor,
            expected_version=args.expected_version,
        )
    lines = (
        _document_lines("Saved", document)
        if document != before
        else _unchanged_lines(document, f"{document.filename} already is as asked")
    )
    out.result(document, lines)


async def delete_document(args: argparse.Namespace, out: Output) -> None:
    async with knowledge_base(args) as kb:
        document = await kb.delete(args.org_id, args.document_id, actor=args.actor)
    out.result(summary(document), _document_lines("Deleted", document))


async def undelete_document(args: argparse.Namespace, out: Output) -> None:
    async with knowledge_base(args) as kb:
        before = await kb.get(args.org_id, args.document_id)
        document = await kb.update(args.org_id, args.document_id, active=True, actor=args.actor)
    lines = (
        _document_lines("Undeleted", document)
        if not before.active
        else _unchanged_lines(document, f"{document.filename} is not deleted")
    )
    out.result(summary(document), lines)


async def restore_document(args: argparse.Namespace, out: Output) -> None:
    async with knowledge_base(args) as kb:
        before = await kb.get(args.org_id, args.document_id)
        document = await kb.restore(
            args.org_id, args.document_id, version=args.version, actor=args.actor
        )
    lines = (
        _document_lines(f"Restored version {args.version} of", document)
        if document != before
        else _unchanged_lines(
            document, f"version {args.version} of {document.filename} is its current content"
        )
    )
    out.result(document, [*lines, *_still_deleted(document)])


async def history(args: argparse.Namespace, out: Output) -> None:
    async with knowledge_base(args) as kb:
        changes = await kb.history(args.org_id, args.document_id)
    rows = [(c.created_at, c.change_type, _versions(c), c.changed_by, c.summary) for c in changes]
    data = [
        {k: v for k, v in jsonable(c).items() if k not in {"previous_content", "new_content"}}
        for c in changes
    ]
    out.result(data, table(["WHEN", "CHANGE", "VERSION", "BY", "SUMMARY"], rows))


def _versions(change: Change) -> str:
    if change.version_from is None and change.version_to is None:
        return "-"
    before = "" if change.version_from is None else f"{change.version_from} -> "
    return f"{before}{change.version_to}"
