"""``kbcore status`` and ``kbcore resume``; ``kbcore worker``'s own tests run
it as processes in tests/autosync/test_worker_processes.py."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import pytest

from kbcore import KnowledgeBase
from kbcore.postgres import PostgresStore
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anyio


async def test_status_shows_the_edits_waiting_and_resume_makes_them_due(
    cli: Cli, kbcore_pool: asyncpg.Pool
) -> None:
    org = uuid.uuid4()
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    doc = await kb.create(org, filename="a.md", content="one")
    await kb.update(org, doc.id, content="two")
    shown = await cli("status", str(org))
    assert shown.code == 0
    assert shown.stdout.startswith("Pending: 2 edits, due ")
    assert "Last success: never" in shown.stdout
    before = (await cli("status", str(org), "--json")).json()
    assert before["pending"] is True
    assert before["edits_waiting"] == 2
    resumed = await cli("resume", str(org), "--json")
    assert resumed.code == 0
    due = datetime.fromisoformat(resumed.json()["due_at"])
    assert due <= await kbcore_pool.fetchval("SELECT now()")
    assert resumed.json()["edits_waiting"] == 2


async def test_status_of_an_org_without_edits_says_it_is_up_to_date(cli: Cli) -> None:
    shown = await cli("status", str(uuid.uuid4()))
    assert shown.code == 0
    assert shown.stdout.splitlines()[0] == "Up to date: no edits wait for a sync"


async def test_status_refuses_a_bad_org_id(cli: Cli) -> None:
    shown = await cli("status", "not-a-uuid")
    assert shown.code == 2
    assert "not a valid UUID" in shown.stderr
