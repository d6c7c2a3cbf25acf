"""``kbcore agents add|list|remove``: the org's agents, each with its Vapi assistant."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from kbcore import Assistant, SyncSetup
from kbcore.cli.common import connect, database_url, uuid_arg
from kbcore.cli.output import Output, plural, table
from kbcore.cli.sync import VAPI_TIMEOUT
from kbcore.postgres import PostgresStore
from kbcore.vapi import DEFAULT_BASE_URL

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    agents = commands.add_parser(
        "agents",
        parents=[common],
        help="add, list, remove the org's agents (each with its Vapi assistant)",
        description="The agents a sync attaches the knowledge base to: rows of the host's "
        "agents table. A sync updates the Vapi assistant of every agent whose role it syncs "
        "(inbound and outbound by default).",
    )
    agents.set_defaults(parser=agents)
    actions = agents.add_subparsers(dest="action", metavar="ACTION")

    add = actions.add_parser("add", parents=[common], help="add an agent")
    add.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
    add.add_argument("--role", required=True, help="inbound, outbound, or the host's own")
    add.add_argument(
        "--assistant",
        metavar="ASSISTANT_ID",
        help="its Vapi assistant's id (`kbcore vapi check` lists them)",
    )
    add.set_defaults(handler=add_agent)

    listing = actions.add_parser("list", parents=[common], help="the org's agents")
    listing.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
    listing.set_defaults(handler=list_agents)

    remove = actions.add_parser("remove", parents=[common], help="remove an agent")
    remove.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
    remove.add_argument("agent_id", metavar="AGENT_ID", type=uuid_arg)
    remove.set_defaults(handler=remove_agent)


@asynccontextmanager
async def sync_setup(args: argparse.Namespace) -> AsyncIterator[SyncSetup]:
    """The org set-up on the command's database, and on its Vapi when it has Vapi options."""
    async with connect(database_url(args)) as pool:
        vapi = getattr(args, "vapi_base_url", DEFAULT_BASE_URL)
        timeout = getattr(args, "vapi_timeout", VAPI_TIMEOUT)
        yield SyncSetup(PostgresStore(pool), vapi_base_url=vapi, vapi_timeout=timeout)


def describe(agent: Assistant) -> str:
    """``inbound agent 5f3... (Vapi assistant asst-1)``."""
    assistant = agent.vapi_assistant_id or "no Vapi assistant yet"
    if agent.vapi_assistant_id:
        assistant = f"Vapi assistant {assistant}"
    return f"{agent.role} agent {agent.agent_id} ({assistant})"


async def add_agent(args: argparse.Namespace, out: Output) -> None:
    async with sync_setup(args) as setup:
        agent = await setup.add_agent(args.org_id, role=args.role, vapi_assistant_id=args.assistant)
    out.result(agent, [f"Added the {describe(agent)}"])


async def list_agents(args: argparse.Namespace, out: Output) -> None:
    async with sync_setup(args) as setup:
        agents = await setup.agents(args.org_id)
    rows = [(a.agent_id, a.role, a.vapi_assistant_id) for a in agents]
    lines = [*table(["ID", "ROLE", "VAPI ASSISTANT"], rows), plural(len(agents), "agent")]
    out.result(agents, lines)


async def remove_agent(args: argparse.Namespace, out: Output) -> None:
    async with sync_setup(args) as setup:
        agent = await setup.remove_agent(args.org_id, args.agent_id)
    out.result(agent, [f"Removed the {describe(agent)}"])
