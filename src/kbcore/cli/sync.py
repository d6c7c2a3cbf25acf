"""``kbcore sync ORG_ID``: push an org's documents to its Vapi assistants."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from kbcore.cli.common import connect, database_url, seconds_arg, url_arg, uuid_arg
from kbcore.cli.output import Output, Progress, plural
from kbcore.cli.preview import describe_preview, preview_json
from kbcore.errors import VapiError
from kbcore.postgres import PostgresStore
from kbcore.sync import SyncCoordinator, SyncPolicy, SyncResult
from kbcore.vapi import DEFAULT_BASE_URL

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands

#: Seconds the command gives each Vapi request (the library's default is 30): Vapi answers
#: in well under a second. One that accepts and never answers costs two of them and a wait
#: of at most 1.5 s, so the command fails within 10 seconds, start-up included.
VAPI_TIMEOUT = 3.0


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
    add_roles_option(parser)
    parser.add_argument("--actor", help="who asked for the sync, for the audit log")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="say what the sync would upload, reuse, delete and attach, and change nothing "
        "(Vapi is only read; no audit row, no rate limit)",
    )
    add_vapi_options(parser)
    parser.set_defaults(handler=run)


def add_roles_option(parser: argparse.ArgumentParser) -> None:
    """``--role``, repeatable: the agents a sync updates."""
    parser.add_argument(
        "--role",
        dest="roles",
        action="append",
        metavar="ROLE",
        help="agent role to sync (repeatable; default: inbound and outbound)",
    )


def add_vapi_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vapi-base-url",
        type=url_arg,
        default=os.environ.get("VAPI_BASE_URL") or DEFAULT_BASE_URL,
        metavar="URL",
        help="Vapi's API (default: VAPI_BASE_URL, else %(default)s)",
    )


def add_vapi_options(parser: argparse.ArgumentParser) -> None:
    """``--vapi-base-url`` and ``--vapi-timeout``, for the commands that call Vapi."""
    add_vapi_url(parser)
    parser.add_argument(
        "--vapi-timeout",
        type=seconds_arg,
        default=VAPI_TIMEOUT,
        metavar="SECONDS",
        help="how long each Vapi request may take (default: %(default)g); a request with "
        "no answer in time is tried twice, a refused connection three times",
    )


def sync_policy(vapi_timeout: float = VAPI_TIMEOUT) -> SyncPolicy:
    """The policy of the command's syncs: the library's, with a shorter wait for answers."""
    return SyncPolicy(request_timeout=vapi_timeout)


async def run(args: argparse.Namespace, out: Output) -> None:
    policy = sync_policy(args.vapi_timeout)
    async with (
        connect(database_url(args)) as pool,
        SyncCoordinator(
            PostgresStore(pool), vapi_base_url=args.vapi_base_url, policy=policy
        ) as coordinator,
    ):
        if args.dry_run:
            preview = await coordinator.plan(
                args.org_id,
                tool_name=args.tool_name,
                roles=tuple(args.roles or ("inbound", "outbound")),
            )
            out.result(preview_json(preview), describe_preview(preview))
            return
        progress = out.progress("Syncing")
        with retries_shown(progress, policy):
            async with progress.running():
                result = await coordinator.sync(
                    args.org_id,
                    tool_name=args.tool_name,
                    roles=tuple(args.roles or ("inbound", "outbound")),
                    actor=args.actor,
                    on_progress=progress.update,
                )
    out.result(result, describe(result))


@contextmanager
def retries_shown(progress: Progress, policy: SyncPolicy) -> Iterator[None]:
    """While the block runs, the progress line says why a Vapi call is retried, and when."""
    # The budgets each Vapi call of the sync gets: the policy's attempts, and its
    # smaller ones for connections that fail and answers that do not come.
    budgets = policy.retry_policy

    def show(details: RetryDetails) -> None:
        error = details.caused_by
        retries = max(budgets.tries_for(error) - 1, details.retry_num)
        progress.note = (
            f"{retry_cause(error)}; retry {details.retry_num} of {retries} "
            f"in {round(details.wait_for, 1):g} s"
        )

    previous = get_on_retry_hooks()
    set_on_retry_hooks([*previous, show])
    try:
        yield
    finally:
        set_on_retry_hooks(previous)


def retry_cause(error: Exception) -> str:
    """``Vapi answered 503``, or why no answer came (``Vapi at ... refused the connection``)."""
    if isinstance(error, VapiError) and error.status_code is not None:
        return f"Vapi answered {error.status_code}"
    return str(error)


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
