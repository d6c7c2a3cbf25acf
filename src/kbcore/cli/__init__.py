"""The ``kbcore`` command: a thin shell over the public API.

``kbcore migrate | agents | vapi | sync | worker | status | resume | report | docs | search |
import | export | demo | serve | live``;
``kbcore --help`` says more. Exit codes: 0 done, 1 failed, 2 bad input or usage,
3 rate limited or another sync running (try again later), 4 a version conflict.
Errors are one line on standard error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Collection, Sequence
from typing import TextIO

import anyio

from kbcore import logging as kb_logging
from kbcore.cli.common import (
    BAD_INPUT,
    OK,
    CliError,
    Parser,
    UsageError,
    common_options,
    error_message,
    exit_code,
)
from kbcore.cli.output import Output
from kbcore.errors import RateLimited

__all__ = ["main"]

_PROG = "kbcore"

# The modules of kbcore.cli that register the commands, in the order --help lists them,
# and the commands each registers. Only the module of the command given is imported: all
# of them together take about a second (httpx, uvicorn's parts, the sync machinery),
# more than most commands need in all.
_MODULES: dict[str, tuple[str, ...]] = {
    "schema": ("migrate",),
    "agents": ("agents",),
    "vapi": ("vapi",),
    "sync": ("sync",),
    "worker": ("worker", "status", "resume"),
    "report": ("report",),
    "docs": ("docs",),
    "search": ("search",),
    "transfer": ("import", "export"),
    "demo": ("demo",),
    "serve": ("serve",),
    "live": ("live",),
}
_MODULE_OF = {command: module for module, commands in _MODULES.items() for command in commands}
_INTERRUPTED = 130
# What a shell reports for a process that SIGPIPE ended: the reader went away (| head).
_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: the process's arguments); return its exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parse(arguments)
    except UsageError as error:
        _print_error(error, json_output="--json" in arguments, out=sys.stdout)
        return BAD_INPUT
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else OK
    if getattr(args, "handler", None) is None:
        # `kbcore` or `kbcore docs` alone: the usage of what was given, not an error.
        args.parser.print_help()
        return BAD_INPUT
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    debug = getattr(args, "debug", False)
    out = Output(json=getattr(args, "json", False), stdout=sys.stdout, stderr=sys.stderr)
    try:
        _configure_logging(debug)
        anyio.run(args.handler, args, out, backend="asyncio")
    except KeyboardInterrupt:
        sys.stderr.write(f"{_PROG}: interrupted\n")
        return _INTERRUPTED
    except BrokenPipeError:
        _discard_stdout()
        return _BROKEN_PIPE
    except Exception as error:
        if debug:
            traceback.print_exc()
        _print_error(error, json_output=out.json, out=sys.stdout)
        return exit_code(error)
    return OK


def _parse(arguments: list[str]) -> argparse.Namespace:
    """The arguments parsed by a parser of the command they name, or of every command."""
    named = [_MODULE_OF[word] for word in arguments if word in _MODULE_OF][:1]
    if not named and "--version" in arguments:
        return build_parser(()).parse_args(arguments)
    if named:
        try:
            return build_parser(named).parse_args(arguments)
        except UsageError:
            pass  # the word was an option's value, say: the whole parser will tell
    return build_parser().parse_args(arguments)


def build_parser(modules: Collection[str] = tuple(_MODULES)) -> argparse.ArgumentParser:
    """The command line: global options, then one subcommand (of ``modules`` only)."""
    common = common_options()
    parser = Parser(
        prog=_PROG,
        parents=[common],
        description="kbcore: a multi-tenant knowledge base for Vapi voice agents.",
        epilog="Exit codes: 0 done, 1 failed, 2 bad input, 3 rate limited or sync running, "
        "4 version conflict.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.set_defaults(parser=parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _MODULES:
        if module in modules:
            importlib.import_module(f"{__name__}.{module}").register(commands, common)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kbcore")
    except PackageNotFoundError:
        return "unknown"


def _configure_logging(debug: bool) -> None:
    # The command reports outcomes itself, in one line; logs are for whoever asks for
    # them (LOG_LEVEL, --debug).
    level = "DEBUG" if debug else os.environ.get("LOG_LEVEL") or "NONE"
    kb_logging.configure(level)


def _discard_stdout() -> None:
    # The reader of standard output went away: what is still buffered goes nowhere, so
    # that flushing it at exit does not fail again (the recipe of Python's signal docs).
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


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
