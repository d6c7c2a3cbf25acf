"""``kbcore import`` and ``kbcore export``: many documents at once, as files or JSON lines.

JSON lines: one object per line with ``filename``, ``content`` and optionally
``category`` and ``metadata``; an export writes every field of each document,
and its file imports as it is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from kbcore import ImportProblem, ImportReport, KnowledgeBase
from kbcore.cli.common import (
    BAD_INPUT,
    CliError,
    UsageError,
    connect,
    database_url,
    uuid_arg,
)
from kbcore.cli.output import Output, jsonable, plural
from kbcore.cli.sources import Source, left_out, scan
from kbcore.postgres import PostgresStore

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands

_SHOWN_PROBLEMS = 3


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    importing = commands.add_parser(
        "import",
        parents=[common],
        help="import a folder of .md/.txt files or a JSON lines file",
        description="Import documents into an org. By default every item must be valid and "
        "new, or nothing is imported.",
    )
    importing.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
    importing.add_argument("path", metavar="PATH", help="a folder, or a .jsonl file")
    importing.add_argument(
        "--category", help="category of a folder's files, or of lines without one"
    )
    importing.add_argument(
        "--on-conflict",
        choices=("error", "skip", "update"),
        default="error",
        help="when an active document has the same filename (default: error)",
    )
    importing.add_argument(
        "--partial", action="store_true", help="import the valid items even if some are not"
    )
    importing.add_argument("--actor", help="who imported, for the changelog")
    importing.set_defaults(handler=import_documents)

    exporting = commands.add_parser(
        "export",
        parents=[common],
        help="export an org's documents as JSON lines",
        description="Write every document of an org, oldest first, one JSON object per line.",
    )
    exporting.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
    exporting.add_argument("path", metavar="PATH", help="a .jsonl file to write, or - for stdout")
    exporting.add_argument("--include-inactive", action="store_true", help="deleted ones too")
    exporting.add_argument("--force", action="store_true", help="replace an existing file")
    exporting.set_defaults(handler=export_documents)


async def import_documents(args: argparse.Namespace, out: Output) -> None:
    progress = out.progress("Reading")
    items = scan(_existing(args.path), args.category, progress)
    progress.clear()
    async with connect(database_url(args)) as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        async with out.progress("Importing").running() as progress:
            report = await kb.import_documents(
                args.org_id,
                items,
                actor=args.actor,
                on_conflict=args.on_conflict,
                all_or_nothing=not args.partial,
                on_progress=progress.update,
            )
    if report.errors and not args.partial:
        raise _rejected(report, items)
    ignored = left_out(Path(args.path))
    lines = [
        f"Imported {plural(len(items), 'item')}: {report.created} created, "
        f"{report.updated} updated, {report.skipped} skipped, {len(report.errors)} rejected",
        *(_problem(problem, items) for problem in report.errors),
        *([f"Not imported (only .md and .txt files are): {', '.join(ignored)}"] if ignored else []),
    ]
    result = {**jsonable(report), "errors": _problems(report, items), "left_out": ignored}
    if not report.errors:
        out.result(result, lines)
        return
    # The valid items were imported, yet some input was bad: a script must hear of it.
    out.lines(lines)
    raise CliError(
        f"{plural(len(report.errors), 'item')} of {len(items)} rejected; "
        "the valid ones were imported",
        BAD_INPUT,
        detail={"report": result},
    )


def _existing(path: str) -> Path:
    source = Path(path)
    if not source.exists():
        raise UsageError(f"No such file or folder: {path}")
    return source


def _check_target(target: Path, *, force: bool) -> None:
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give a file name like {target / 'kb.jsonl'}")
    if target.exists() and not force:
        raise UsageError(f"{target} exists; pass --force to replace it")


def _problem(problem: ImportProblem, items: Source) -> str:
    name = items.filename(problem.index)
    where = f"item {problem.index + 1}" + (f" ({name})" if name is not None else "")
    return f"{where}: {problem.field}: {problem.message}"


def _problems(report: ImportReport, items: Source) -> list[dict[str, Any]]:
    """The rejected items for ``--json``, numbered from 1 as the text numbers them."""
    return [
        {
            "item": problem.index + 1,
            "filename": items.filename(problem.index),
            "field": problem.field,
            "message": problem.message,
        }
        for problem in report.errors
    ]


def _rejected(report: ImportReport, items: Source) -> CliError:
    shown = "; ".join(_problem(p, items) for p in report.errors[:_SHOWN_PROBLEMS])
    more = len(report.errors) - _SHOWN_PROBLEMS
    return CliError(
        f"Nothing imported: {len(report.errors)} of {len(items)} items rejected: {shown}"
        + (f" (and {more} more)" if more > 0 else ""),
        BAD_INPUT,
        detail={"problems": _problems(report, items)},
    )


async def export_documents(args: argparse.Namespace, out: Output) -> None:
    to_stdout = args.path == "-"
    target = Path(args.path)
    if not to_stdout:
        _check_target(target, force=args.force)
    async with connect(database_url(args)) as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        progress = out.progress("Exporting")
        stream = kb.export(
            args.org_id, include_inactive=args.include_inactive, on_progress=progress.update
        )
        exported = 0
        with _writer(None if to_stdout else target) as file:
            async with contextlib.aclosing(stream), progress.running():
                async for document in stream:
                    file.write(json.dumps(jsonable(document), ensure_ascii=False) + "\n")
                    exported += 1
    where = "standard output" if to_stdout else target
    summary = f"Exported {plural(exported, 'document')} to {where}"
    if to_stdout:
        if not out.json:
            sys.stderr.write(summary + "\n")
        return
    out.result({"exported": exported, "path": str(target)}, [summary])


@contextlib.contextmanager
def _writer(target: Path | None) -> Iterator[TextIO]:
    """Standard output, or a file that appears whole or not at all."""
    if target is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    except OSError as error:
        raise UsageError(f"Cannot write {target}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            yield file
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
