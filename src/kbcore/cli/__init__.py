"""The ``kbcore`` command: a thin shell over the public API.

``kbcore migrate | sync | report | docs | import | export | demo``; ``kbcore --help``
says more. Exit codes: 0 done, 1 failed, 2 bad input or usage, 3 rate limited or
another sync running (try again later). Errors are one line on standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TextIO

import anyio

from kbcore import logging as kb_logging
from kbcore.cli import demo, docs, report, schema, sync, transfer
from kbcore.cli.common import (
    BAD_INPUT,
    OK,
    CliError,
    Parser,
    UsageError,
    error_message,
    exit_code,
)
from kbcore.cli.output import Output
from kbcore.errors import RateLimited

__all__ = ["main"]

_PROG = "kbcore"
_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: the process's arguments); return its exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(arguments)
    except UsageError as error:
        _print_error(error, json_output="--json" in arguments, out=sys.stdout)
        return BAD_INPUT
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else OK
    debug = getattr(args, "debug", False)
    out = Output(json=getattr(args, "json", False), stdout=sys.stdout, stderr=sys.stderr)
    try:
        _configure_logging(debug)
        anyio.run(args.handler, args, out, backend="asyncio")
    except KeyboardInterrupt:
        sys.stderr.write(f"{_PROG}: interrupted\n")
        return _INTERRUPTED
    except Exception as error:
        if debug:
            traceback.print_exc()
        _print_error(error, json_output=out.json, out=sys.stdout)
        return exit_code(error)
    return OK


def build_parser() -> argparse.ArgumentParser:
    """The command line: global options, then one subcommand."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--dsn", help="PostgreSQL URL (default: DATABASE_URL)")
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser = Parser(
        prog=_PROG,
        parents=[common],
        description="kbcore: a multi-tenant knowledge base for Vapi voice agents.",
        epilog="Exit codes: 0 done, 1 failed, 2 bad input, 3 rate limited or sync running.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (schema, sync, report, docs, transfer, demo):
        module.register(commands, common)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kbcore")
    except PackageNotFoundError:
        return "unknown"


def _configure_logging(debug: bool) -> None:
    # The command reports outcomes itself; logs are for whoever asks (LOG_LEVEL, --debug).
    level = "DEBUG" if debug else os.environ.get("LOG_LEVEL") or "ERROR"
    kb_logging.configure(level)


def _print_error(error: BaseException, *, json_output: bool, out: TextIO) -> None:
    message = error_message(error)
    sys.stderr.write(f"{_PROG}: error: {message}\n")
    if json_output:
        detail: dict[str, object] = {
            "type": type(error).__name__,
            "message": message,
            "exit_code": exit_code(error),
        }
        if isinstance(error, RateLimited):
            detail["retry_after"] = error.retry_after
        if isinstance(error, CliError):
            detail.update(error.detail)
        out.write(json.dumps({"error": detail}) + "\n")
