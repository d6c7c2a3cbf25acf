"""``kbcore sync ORG_ID``: push an org's documents to its Vapi assistants."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from kbcore.cli.common import connect, database_url, uuid_arg
from kbcore.cli.output import Output, plural
from kbcore.postgres import PostgresStore
from kbcore.sync import SyncCoordinator, SyncResult
from kbcore.vapi import DEFAULT_BASE_URL

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "sync",
        parents=[common],
        help="sync an org's documents to its Vapi assistants",
        description="Upload what changed, point the org's query tool at the files and attach "
        "it to the org's assistants. The Vapi key comes from the org's vapi integration, "
        "else VAPI_API_KEY. Exit code 3 when rate limited or another sync is running.",
    )
    parser.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
    parser.add_argument(
        "--tool-name", default="knowledge-search", help="kbcore's name for the org's query tool"
    )
    parser.add_argument(
        "--role",
        dest="roles",
        action="append",
        metavar="ROLE",
        help="agent role to sync (repeatable; default: inbound and outbound)",
    )
    parser.add_argument("--actor", help="who asked for the sync, for the audit log")
    add_vapi_url(parser)
    parser.set_defaults(handler=run)


def add_vapi_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vapi-base-url",
        default=os.environ.get("VAPI_BASE_URL") or DEFAULT_BASE_URL,
        metavar="URL",
        help="Vapi's API (default: VAPI_BASE_URL, else %(default)s)",
    )


async def run(args: argparse.Namespace, out: Output) -> None:
    async with connect(database_url(args)) as pool:
        coordinator = SyncCoordinator(PostgresStore(pool), vapi_base_url=args.vapi_base_url)
        async with out.progress("Syncing").running():
            result = await coordinator.sync(
                args.org_id,
                tool_name=args.tool_name,
                roles=tuple(args.roles or ("inbound", "outbound")),
                actor=args.actor,
            )
    out.result(result, describe(result))


def describe(result: SyncResult) -> list[str]:
    """Two lines for people about a successful sync, then one per warning."""
    assistants = (
        f"{plural(result.assistants_updated, 'assistant')} now use"
        if result.assistants_updated
        else "The assistants already used"
    )
    return [
        f"Synced {plural(result.docs_synced, 'document')}: {result.files_uploaded} uploaded, "
        f"{result.files_reused} reused, {result.files_deleted} deleted, "
        f"in {result.duration_ms} ms.",
        f"{assistants} the query tool {result.tool_id}.",
        *(f"Warning: {warning}" for warning in result.warnings),
    ]
