"""Each command module once as a process, ``python -m kbcore``, as an operator runs it.

The other tests here mostly run ``kbcore.cli.main`` in this process, where a module an
earlier test imported could hide an import a command forgot (only the named command's
module is loaded, and ``kbcore``'s names load on first use). The commands not run as a
process elsewhere run here: status, resume, report, search, agents, docs and live.
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from kbcore import KnowledgeBase
from kbcore.live import ServerSecret
from kbcore.postgres import PostgresStore
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anyio

SECRET = "live-secret-for-the-process-test-0123456789"


async def test_the_commands_run_as_processes(cli: Cli, kbcore_pool: asyncpg.Pool) -> None:
    org = uuid.uuid4()
    doc = await KnowledgeBase(PostgresStore(kbcore_pool)).create(
        org, filename="pricing.md", content="The Pro plan costs $99 per month."
    )
    expected = {
        ("agents", "list", str(org)): "0 agents",
        ("status", str(org)): "Pending: 1 edit",
        ("resume", str(org)): "Resumed: the next worker",
        ("report", "--org", str(org)): "0 attempts, 0 successful",
        ("search", str(org), "pricing"): "pricing.md",
        ("docs", "history", str(org), str(doc.id)): "Created: pricing.md",
        ("live", "secret", str(org)): ServerSecret(SECRET).for_org(org),
    }
    for args, shown in expected.items():
        run = await cli.subprocess(*args, KBCORE_LIVE_SECRET=SECRET)
        assert (run.code, run.stderr) == (0, ""), args
        assert shown in run.stdout, (args, run.stdout)
