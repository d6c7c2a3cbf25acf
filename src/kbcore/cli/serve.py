"""``kbcore serve``: run the live-knowledge server on uvicorn, over the database.

The server secret comes from ``KBCORE_LIVE_SECRET`` (never from the command line, where
other users of the machine could read it); each org's credential derives from it.
``GET /healthz`` and ``GET /readyz`` are for the load balancer and the orchestrator.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

import asyncpg

from kbcore import logging as kb_logging
from kbcore.cli.common import CliError, UsageError, connect, database_url, positive_int, seconds_arg
from kbcore.cli.output import Output
from kbcore.errors import ValidationError
from kbcore.live import DEFAULT_DEADLINE, LiveKnowledgeServer, ServerSecret
from kbcore.postgres import PostgresStore
from kbcore.retrieval._similarity import SIMILARITY_THRESHOLD

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands

#: The environment variable that holds the server secret.
SECRET_VARIABLE = "KBCORE_LIVE_SECRET"  # noqa: S105 (a variable's name, not a secret)


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "serve",
        parents=[common],
        help="run the live-knowledge server that answers Vapi's knowledge-base requests",
        description="Answer POST /orgs/ORG_ID knowledge-base requests from the database's "
        f"passages. The server secret comes from {SECRET_VARIABLE}. Needs uvicorn "
        "(pip install 'kbcore[server]'). Logs at LOG_LEVEL (default INFO).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=positive_int, default=8000, help="port to listen on")
    parser.add_argument(
        "--deadline",
        type=seconds_arg,
        default=DEFAULT_DEADLINE,
        metavar="SECONDS",
        help="answer empty rather than later than this (default: %(default)g)",
    )
    parser.add_argument("--limit", type=positive_int, default=3, help="passages per answer")
    parser.add_argument(
        "--min-similarity",
        type=float,
        default=SIMILARITY_THRESHOLD,
        help="the least similarity worth answering with, 0..1 (default: %(default)g)",
    )
    parser.add_argument(
        "--pool-size", type=positive_int, default=10, help="database connections at most"
    )
    parser.set_defaults(handler=run)


def server_secret() -> ServerSecret:
    """The secret from the environment, or a usage error that says how to make one."""
    value = os.environ.get(SECRET_VARIABLE, "")
    if not value:
        raise UsageError(
            f"No server secret: set {SECRET_VARIABLE} (make one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    try:
        return ServerSecret(value)
    except ValidationError as error:
        raise UsageError(f"{SECRET_VARIABLE}: {error.message}") from None


async def run(args: argparse.Namespace, out: Output) -> None:
    uvicorn = _uvicorn()
    secret = server_secret()
    if not 0 <= args.min_similarity <= 1:
        raise UsageError("--min-similarity must be between 0 and 1")
    kb_logging.configure("DEBUG" if getattr(args, "debug", False) else _level())
    # JIT compiles plans whose estimated cost is high; a ranking of a few milliseconds
    # only pays for the compiling.
    settings = {"jit": "off"}
    async with connect(
        database_url(args), max_size=args.pool_size, server_settings=settings
    ) as pool:
        app = LiveKnowledgeServer(
            PostgresStore(pool),
            secret,
            limit=args.limit,
            min_similarity=args.min_similarity,
            deadline=args.deadline,
        )
        await _check_schema(pool)
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            lifespan="on",
            access_log=False,
            log_level="warning",
        )
        out.lines(
            [f"Serving live knowledge on http://{args.host}:{args.port}/orgs/ORG_ID (Ctrl-C stops)"]
        )
        await uvicorn.Server(config).serve()


def _level() -> str:
    return os.environ.get("LOG_LEVEL") or "INFO"


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise CliError("kbcore serve needs uvicorn: pip install 'kbcore[server]'") from None
    return uvicorn


async def _check_schema(pool: asyncpg.Pool) -> None:
    """Fail at start-up, not on the first call, when the passages table is missing."""
    await pool.fetchval("SELECT 1 FROM knowledge_passages LIMIT 1")
