"""``kbcore search ORG_ID QUERY``: the org's active documents that match, best first."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from kbcore import KnowledgeBase
from kbcore.cli.common import connect, database_url, positive_int, uuid_arg
from kbcore.cli.output import Output, plural
from kbcore.postgres import PostgresStore

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "search",
        parents=[common],
        help="full-text search of an org's active documents",
        description='Words must all occur, in the filename or the content; "quoted words" '
        "together; or offers alternatives; -word excludes. Best matches first.",
    )
    parser.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
    parser.add_argument("query", metavar="QUERY", help='what to look for, e.g. "pro plan" -trial')
    parser.add_argument("--category", help="only this category")
    parser.add_argument("--limit", type=positive_int, default=10, help="at most this many hits")
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, out: Output) -> None:
    async with connect(database_url(args)) as pool:
        hits = await KnowledgeBase(PostgresStore(pool)).search(
            args.org_id, args.query, category=args.category, limit=args.limit
        )
    lines = []
    for hit in hits:
        snippet = " ".join(hit.snippet.split())
        lines += [f"{hit.filename} ({hit.category}, id {hit.document_id})", f"  {snippet}"]
    lines.append(f"{plural(len(hits), 'document')} found")
    out.result(hits, lines)
