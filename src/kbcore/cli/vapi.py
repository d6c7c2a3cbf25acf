"""``kbcore vapi set-key|check``: the org's Vapi key, set without echo and checked by one GET."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from kbcore.cli.agents import sync_setup
from kbcore.cli.common import CliError, UsageError, uuid_arg
from kbcore.cli.output import Output, plural, table
from kbcore.cli.sync import add_vapi_options
from kbcore.sync import VapiKeyCheck

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    vapi = commands.add_parser(
        "vapi",
        parents=[common],
        help="set and check the org's Vapi private key",
        description="The org's Vapi private key, kept in its vapi integration (the host's "
        "integrations table). A sync uses it, else VAPI_API_KEY.",
    )
    vapi.set_defaults(parser=vapi)
    actions = vapi.add_subparsers(dest="action", metavar="ACTION")

    set_key = actions.add_parser(
        "set-key",
        parents=[common],
        help="set the org's Vapi private key, read from a prompt or standard input",
        description="Reads the key from a prompt that does not echo it, or from standard "
        "input when that is not a terminal (kbcore vapi set-key ORG_ID < key.txt). The key "
        "is never a command-line argument, so it stays out of shell history.",
    )
    set_key.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
    # Caught, so that a key given by mistake is refused without being printed back.
    set_key.add_argument("given", nargs="*", help=argparse.SUPPRESS)
    set_key.set_defaults(handler=set_vapi_key)

    check = actions.add_parser(
        "check",
        parents=[common],
        help="check the org's key with one harmless Vapi call",
        description="Lists the assistants the key can see (one GET, which changes nothing) "
        "and says which of the org's agents name an assistant Vapi does not show.",
    )
    check.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
    add_vapi_options(check)
    check.set_defaults(handler=check_vapi_key)


def read_key(org: str) -> str:
    """The key from a prompt without echo on a terminal, else the whole of standard input."""
    if sys.stdin.isatty():
        key = getpass.getpass(f"Vapi private key for org {org} (not shown): ")
    else:
        key = sys.stdin.read()
    key = key.strip()
    if not key:
        raise UsageError("No key given: type it at the prompt, or pipe it in")
    return key


async def set_vapi_key(args: argparse.Namespace, out: Output) -> None:
    if args.given:
        raise UsageError(
            "The key is never a command-line argument (shell history keeps those): "
            "type it at the prompt, or pipe it in"
        )
    key = read_key(str(args.org_id))
    async with sync_setup(args) as setup:
        await setup.set_vapi_key(args.org_id, key)
    out.result(
        {"org_id": str(args.org_id), "saved": True},
        [f"Saved the Vapi key of org {args.org_id}; `kbcore vapi check {args.org_id}` tries it"],
    )


async def check_vapi_key(args: argparse.Namespace, out: Output) -> None:
    async with sync_setup(args) as setup:
        check = await setup.check_vapi_key(args.org_id)
        agents = await setup.agents(args.org_id)
    if not check.works:
        raise CliError(
            f"Vapi rejected the key from {check.key_source}; set the right one with "
            f"`kbcore vapi set-key {args.org_id}`",
            detail={"key_source": check.key_source},
        )
    roles = {agent.vapi_assistant_id: agent.role for agent in agents if agent.vapi_assistant_id}
    seen = [(a.id, a.name, roles.get(a.id)) for a in check.assistants]
    lines = [
        f"The key from {check.key_source} works: Vapi shows "
        f"{plural(len(check.assistants), 'assistant')}.",
        *table(["ASSISTANT ID", "NAME", "AGENT"], seen),
        *_advice(check, args.org_id, has_agents=bool(agents)),
    ]
    result = {
        "works": True,
        "key_source": check.key_source,
        "assistants": [{"id": id_, "name": name, "agent_role": role} for id_, name, role in seen],
        "missing": list(check.missing),
    }
    out.result(result, lines)


def _advice(check: VapiKeyCheck, org: object, *, has_agents: bool) -> list[str]:
    if not has_agents:
        return [
            "The org has no agents yet: "
            f"`kbcore agents add {org} --role inbound --assistant ASSISTANT_ID`"
        ]
    return [
        f"Warning: an agent names assistant {missing}, which Vapi does not show to this key"
        for missing in check.missing
    ]
