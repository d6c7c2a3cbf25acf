"""``kbcore worker``, ``kbcore status ORG_ID``, ``kbcore resume ORG_ID``: auto-sync."""

from __future__ import annotations

import argparse
import os
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from kbcore import logging as kb_logging
from kbcore._domain import SyncStatus
from kbcore.cli.common import connect, database_url, positive_int, seconds_arg, uuid_arg
from kbcore.cli.output import Output, plural
from kbcore.cli.sync import add_roles_option, add_vapi_options, sync_policy
from kbcore.postgres import PostgresStore
from kbcore.sync import SyncCoordinator, SyncPolicy, SyncWorker

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    _register_worker(commands, common)
    for name, handler, summary, description in (
        (
            "status",
            run_status,
            "where an org's auto-sync stands",
            "Pending or not, due when, edits waiting, the last success and failure, and why "
            "the sync is parked, if it is.",
        ),
        (
            "resume",
            run_resume,
            "make an org's auto-sync due now, parked or not",
            "A parked sync waits for an edit, a change of the org's agents or key, or this "
            "command.",
        ),
    ):
        parser = commands.add_parser(name, parents=[common], help=summary, description=description)
        parser.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
        parser.add_argument(
            "--tool-name", default="knowledge-search", help="kbcore's name for the org's query tool"
        )
        parser.set_defaults(handler=handler)


def _register_worker(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "worker",
        parents=[common],
        help="sync every org whose documents changed, until SIGTERM or SIGINT",
        description="Claim due sync requests and run them; any number of workers may share "
        "one database. SIGTERM or SIGINT: stop claiming, let running syncs finish within "
        "the grace period, exit. Logs go to standard error (LOG_LEVEL, default INFO; "
        "--json for JSON lines).",
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=4, help="syncs at once (default: %(default)s)"
    )
    parser.add_argument(
        "--poll-interval",
        type=seconds_arg,
        default=5.0,
        metavar="SECONDS",
        help="longest sleep between two looks for due requests, should a notification be "
        "missed (default: %(default)g)",
    )
    parser.add_argument(
        "--grace",
        type=seconds_arg,
        default=30.0,
        metavar="SECONDS",
        help="how long running syncs may take to finish on shutdown (default: %(default)g)",
    )
    parser.add_argument(
        "--min-interval",
        type=seconds_arg,
        default=SyncPolicy().min_interval.total_seconds(),
        metavar="SECONDS",
        help="least time between two successful syncs of an org (default: %(default)g)",
    )
    add_roles_option(parser)
    parser.add_argument("--name", help="the worker's name in logs and the audit log")
    add_vapi_options(parser)
    parser.set_defaults(handler=run_worker)


async def run_worker(args: argparse.Namespace, out: Output) -> None:
    kb_logging.configure(os.environ.get("LOG_LEVEL") or "INFO", json=out.json or None)
    policy = SyncPolicy(
        request_timeout=sync_policy(args.vapi_timeout).request_timeout,
        min_interval=timedelta(seconds=args.min_interval),
    )
    async with (
        connect(database_url(args), max_size=args.concurrency + 2) as pool,
        httpx.AsyncClient() as http,
    ):
        store = PostgresStore(pool)
        # One coordinator, and so one HTTP client, for every sync of this process.
        coordinator = SyncCoordinator(
            store, vapi_base_url=args.vapi_base_url, http_client=http, policy=policy
        )
        named = {} if args.name is None else {"name": args.name}
        worker = SyncWorker(
            store,
            coordinator,
            concurrency=args.concurrency,
            poll_interval=args.poll_interval,
            grace=args.grace,
            roles=tuple(args.roles or ("inbound", "outbound")),
            **named,
        )
        await worker.run_until_signalled()


async def run_status(args: argparse.Namespace, out: Output) -> None:
    async with connect(database_url(args)) as pool:
        coordinator = SyncCoordinator(PostgresStore(pool))
        status = await coordinator.sync_status(args.org_id, tool_name=args.tool_name)
    out.result(status, describe(status))


async def run_resume(args: argparse.Namespace, out: Output) -> None:
    async with connect(database_url(args)) as pool:
        coordinator = SyncCoordinator(PostgresStore(pool))
        await coordinator.resume(args.org_id, tool_name=args.tool_name)
        status = await coordinator.sync_status(args.org_id, tool_name=args.tool_name)
    out.result(status, [f"Resumed: the next worker to look syncs org {args.org_id}."])


def describe(status: SyncStatus) -> list[str]:
    """Lines for people about an org's auto-sync."""
    if status.parked_reason is not None:
        state = f"Parked: {status.parked_reason} (an edit or `kbcore resume` restarts it)"
    elif status.running_on is not None:
        state = f"Syncing now on worker {status.running_on}"
    elif status.pending:
        state = f"Pending: {plural(status.edits_waiting, 'edit')}, due {_when(status.due_at)}"
    else:
        state = "Up to date: no edits wait for a sync"
    lines = [state, f"Last success: {_when(status.last_success_at)}"]
    if status.last_failure_at is not None:
        lines.append(f"Last failure: {_when(status.last_failure_at)}: {status.last_error}")
    if status.attempts and status.parked_reason is None:
        lines.append(f"Failed attempts in a row: {status.attempts}")
    return lines


def _when(instant: object) -> str:
    return "never" if instant is None else str(instant)
