"""``kbcore live secret|attach|detach ORG_ID``: an org's credential, and its assistants' link.

``secret`` prints the org's credential, derived from ``KBCORE_LIVE_SECRET``, for a Vapi
custom credential. ``attach`` points the org's assistants at the server (``--url``, else
``KBCORE_LIVE_URL``): with ``--credential-id`` Vapi authenticates with that credential,
otherwise the org's secret travels in the ``X-Vapi-Secret`` header. ``detach`` undoes it.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from kbcore.cli.common import UsageError, connect, database_url, seconds_arg, url_arg, uuid_arg
from kbcore.cli.output import Output, plural
from kbcore.cli.serve import server_secret
from kbcore.cli.sync import add_vapi_url
from kbcore.live import (
    DEFAULT_TIMEOUT_SECONDS,
    LiveKnowledgeLinks,
    attach_live_knowledge,
    detach_live_knowledge,
)
from kbcore.postgres import PostgresStore

if TYPE_CHECKING:
    from kbcore.cli.common import Subcommands

#: The environment variable with the server's public URL (what Vapi calls).
URL_VARIABLE = "KBCORE_LIVE_URL"


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "live",
        parents=[common],
        help="live knowledge: an org's credential, and pointing its assistants at the server",
        description="secret: print the org's credential (from KBCORE_LIVE_SECRET) for a "
        "Vapi custom credential. attach: point the org's assistants at the server (--url, "
        "else KBCORE_LIVE_URL), authenticated by --credential-id or by the org's secret "
        "in the X-Vapi-Secret header. detach: undo it.",
    )
    parser.set_defaults(parser=parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    secret = actions.add_parser(
        "secret", parents=[common], help="print the org's credential for a Vapi credential"
    )
    secret.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
    secret.set_defaults(handler=show_secret)
    for name, handler, text in (
        ("attach", attach, "point the org's assistants at the live-knowledge server"),
        ("detach", detach, "remove the live-knowledge server from the org's assistants"),
    ):
        action = actions.add_parser(name, parents=[common], help=text, description=text)
        action.add_argument("org_id", metavar="ORG_ID", type=uuid_arg)
        action.add_argument(
            "--url",
            type=url_arg,
            default=os.environ.get(URL_VARIABLE),
            help=f"the server's public base URL (default: {URL_VARIABLE})",
        )
        action.add_argument(
            "--role",
            dest="roles",
            action="append",
            metavar="ROLE",
            help="agent role (repeatable; default: inbound and outbound)",
        )
        add_vapi_url(action)
        action.set_defaults(handler=handler)
    attach_parser = actions.choices["attach"]
    attach_parser.add_argument(
        "--credential-id", help="a Vapi credential made with the org's secret (see: live secret)"
    )
    attach_parser.add_argument(
        "--timeout-seconds",
        type=seconds_arg,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="how long Vapi waits for the server (default: %(default)g)",
    )


async def show_secret(args: argparse.Namespace, out: Output) -> None:
    value = server_secret().for_org(args.org_id)
    out.result({"org_id": str(args.org_id), "secret": value}, [value])


async def attach(args: argparse.Namespace, out: Output) -> None:
    secret = server_secret()
    async with connect(database_url(args)) as pool:
        links = await attach_live_knowledge(
            PostgresStore(pool),
            args.org_id,
            server_url=_url(args),
            secret=secret,
            credential_id=args.credential_id,
            roles=tuple(args.roles or ("inbound", "outbound")),
            timeout_seconds=args.timeout_seconds,
            vapi_base_url=args.vapi_base_url,
        )
    out.result(links, _describe(links, "now ask", "already asked"))


async def detach(args: argparse.Namespace, out: Output) -> None:
    async with connect(database_url(args)) as pool:
        links = await detach_live_knowledge(
            PostgresStore(pool),
            args.org_id,
            server_url=_url(args),
            roles=tuple(args.roles or ("inbound", "outbound")),
            vapi_base_url=args.vapi_base_url,
        )
    out.result(links, _describe(links, "no longer ask", "did not ask"))


def _url(args: argparse.Namespace) -> str:
    if not args.url:
        raise UsageError(f"No server URL: pass --url or set {URL_VARIABLE}")
    url: str = args.url
    return url


def _describe(links: LiveKnowledgeLinks, changed: str, unchanged: str) -> list[str]:
    lines = [f"{plural(len(links.changed), 'assistant')} {changed} {links.url}."]
    if links.unchanged:
        lines.append(f"{plural(len(links.unchanged), 'assistant')} {unchanged} it.")
    return lines
