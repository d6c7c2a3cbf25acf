"""``kbcore migrate``: create or upgrade kbcore's tables."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from kbcore.cli.common import connect, database_url
from kbcore.cli.output import Output
from kbcore.postgres import migrate
from kbcore.postgres._migrate import migrations

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "migrate",
        parents=[common],
        help="create or upgrade kbcore's tables",
        description="Apply the migrations the database lacks. Idempotent; safe to run from "
        "many processes at once.",
    )
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, out: Output) -> None:
    async with connect(database_url(args)) as pool:
        applied = await migrate(pool)
    names = {migration.version: migration.name for migration in migrations()}
    lines = (
        [f"Applied migration {version:04d} ({names[version]})" for version in applied]
        if applied
        else ["The schema is up to date; nothing to apply"]
    )
    out.result({"applied": applied, "latest": max(names, default=0)}, lines)
