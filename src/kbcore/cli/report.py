"""``kbcore report``: the runbook's monitoring figures from the audit log."""

from __future__ import annotations

import argparse
from datetime import UTC
from typing import TYPE_CHECKING

from kbcore.cli.common import connect, database_url, since_arg, uuid_arg
from kbcore.cli.output import Output, plural, table
from kbcore.postgres import PostgresStore
from kbcore.report import DEFAULT_WINDOW, DurationStats, SyncStats, sync_stats

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "report",
        parents=[common],
        help="sync statistics: success rate, durations, rate limits, errors",
        description="The deployment runbook's monitoring figures, computed by the database.",
    )
    parser.add_argument("--org", dest="org_id", type=uuid_arg, help="one org (default: all)")
    parser.add_argument(
        "--since",
        type=since_arg,
        default=DEFAULT_WINDOW,
        help="a duration back from now (90m, 24h, 7d) or an ISO 8601 time (default: 24h)",
    )
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, out: Output) -> None:
    async with connect(database_url(args)) as pool:
        stats = await sync_stats(PostgresStore(pool), since=args.since, org_id=args.org_id)
    out.result(stats, render(stats))


def render(stats: SyncStats) -> list[str]:
    """The statistics for people: a header, the days, durations, refusals and errors."""
    scope = "all orgs" if stats.org_id is None else f"org {stats.org_id}"
    start = stats.since.astimezone(UTC)
    # The year by hand: strftime leaves years before 1000 unpadded on some platforms.
    since = f"{start.year:04d}-{start:%m-%d %H:%M} UTC"
    attempts = plural(stats.total, "attempt")
    lines = [f"Syncs since {since} ({scope}): {attempts}, {stats.successful} successful"]
    if stats.days:
        days = [(d.date, d.total, d.successful, f"{d.success_rate:.2f}%") for d in stats.days]
        lines += ["", *table(["DATE", "TOTAL", "SUCCESSFUL", "SUCCESS RATE"], days)]
    lines += [
        "",
        f"Durations of successful syncs: {durations(stats.durations)}",
        f"Rate-limit hits: {stats.rate_limit_hits}",
        f"Refused while another sync ran: {stats.in_progress_rejections}",
    ]
    if stats.errors:
        errors = [(e.kind, e.count, e.message or "(no message)") for e in stats.errors]
        lines += ["", *table(["FAILURE", "COUNT", "LATEST MESSAGE"], errors)]
    return lines


def durations(stats: DurationStats) -> str:
    """``avg 40 ms, min 31 ms, max 52 ms, p95 50 ms``, or ``none``."""
    if stats.count == 0:
        return "none"
    return (
        f"avg {stats.average_ms or 0:.0f} ms, min {stats.min_ms} ms, "
        f"max {stats.max_ms} ms, p95 {stats.p95_ms or 0:.0f} ms"
    )
