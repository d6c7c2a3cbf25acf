"""What a sync logs: named events with the org and the run, the host's request id, no secrets."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import anyio
import attrs
import pytest
import structlog
from structlog.contextvars import bind_contextvars, merge_contextvars

from kbcore import KnowledgeBase, RateLimited, SyncCoordinator, SyncFailed, SyncPolicy
from kbcore._ports import Store
from kbcore.testing import FakeVapi
from kbcore.testing.host_tables import HostTables

from .conftest import PassTime
from .test_sync import WINDOW, runs, seed

pytestmark = pytest.mark.anyio

SYNC_EVENTS = frozenset(
    {"kbcore.sync.started", "kbcore.sync.finished", "kbcore.sync.rejected", "kbcore.sync.failed"}
)
#: Distinctive keys, so that any copy of them anywhere is found.
GOOD_KEY = "sk-live-4b7e1f0c9a2d48e6b3f5a1c7d9e2f480"
WRONG_KEY = "sk-live-0d3c5e7a9b1f42c6a8e0d2b4f6a8c1e3"


@pytest.fixture
def host_log() -> Iterator[io.StringIO]:
    """structlog configured as a host would (contextvars merged, JSON lines); what it wrote."""
    lines = io.StringIO()
    structlog.configure(
        processors=[
            merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.WriteLoggerFactory(lines),
    )
    try:
        yield lines
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


def events(lines: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines.getvalue().splitlines()]


async def add_org(host_tables: HostTables, fake: FakeVapi, key: str) -> UUID:
    """A new org with ``key`` as its Vapi key and one agent with an assistant on ``fake``."""
    org_id = uuid.uuid4()
    await host_tables.set_vapi_key(org_id, key)
    await host_tables.add_agent(org_id, "inbound", fake.add_assistant())
    return org_id


async def test_sync_events_name_their_org_and_run(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_store: Store,
    kbcore_host_tables: HostTables,
    kbcore_org: UUID,
    pass_time: PassTime,
) -> None:
    """Started, finished, rejected and failed events carry the org id and the audit row's id."""
    await seed(kbcore_kb, kbcore_org)
    locked_out = await add_org(kbcore_host_tables, fake_vapi, "not-the-key")
    await seed(kbcore_kb, locked_out, 1)
    with structlog.testing.capture_logs() as logs:
        await kbcore_coordinator.sync(kbcore_org)
        with pytest.raises(RateLimited):
            await kbcore_coordinator.sync(kbcore_org)
        with pytest.raises(SyncFailed):  # 401: the key is wrong
            await kbcore_coordinator.sync(locked_out)
        await pass_time(WINDOW)
        fake_vapi.fail_next(100, status=500)
        with pytest.raises(SyncFailed):  # a 500 storm outlasts the retries
            await kbcore_coordinator.sync(kbcore_org)
    ran, refused, storm = [run.id for run in await runs(kbcore_store, kbcore_org)]
    [rejected_key] = [run.id for run in await runs(kbcore_store, locked_out)]
    assert [
        (log["event"], log["org_id"], log["run_id"]) for log in logs if log["event"] in SYNC_EVENTS
    ] == [
        ("kbcore.sync.started", str(kbcore_org), str(ran)),
        ("kbcore.sync.finished", str(kbcore_org), str(ran)),
        ("kbcore.sync.rejected", str(kbcore_org), str(refused)),
        ("kbcore.sync.started", str(locked_out), str(rejected_key)),
        ("kbcore.sync.failed", str(locked_out), str(rejected_key)),
        ("kbcore.sync.started", str(kbcore_org), str(storm)),
        ("kbcore.sync.failed", str(kbcore_org), str(storm)),
    ]


async def test_each_task_s_request_id_reaches_the_events_of_its_own_sync(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_host_tables: HostTables,
    kbcore_org: UUID,
    host_log: io.StringIO,
) -> None:
    """Two concurrent requests bind their own request ids; each sync's events carry its own."""
    other = await add_org(kbcore_host_tables, fake_vapi, fake_vapi.api_key)
    request_ids = {str(kbcore_org): "req-a", str(other): "req-b"}
    for org_id in (kbcore_org, other):
        await seed(kbcore_kb, org_id, 2)
    host_log.seek(0)
    host_log.truncate()  # what follows is logged while handling the two requests

    async def handle(org_id: UUID) -> None:  # a host's request handler, one task per request
        bind_contextvars(request_id=request_ids[str(org_id)])
        await kbcore_coordinator.sync(org_id)

    async with anyio.create_task_group() as tg:
        for org_id in (kbcore_org, other):
            tg.start_soon(handle, org_id)
    logged = events(host_log)
    assert [log["event"] for log in logged if log["event"] in SYNC_EVENTS].count(
        "kbcore.sync.finished"
    ) == 2
    assert all(log["request_id"] == request_ids[log["org_id"]] for log in logged if "org_id" in log)
    assert {log.get("request_id") for log in logged} == {"req-a", "req-b"}


async def test_no_api_key_reaches_a_log_line_an_error_or_a_provider_message(
    kbcore_kb: KnowledgeBase,
    kbcore_store: Store,
    kbcore_host_tables: HostTables,
    host_log: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Across a success, a 401 and a 500 storm, neither key is logged, raised or passed on."""
    caplog.set_level(logging.DEBUG)
    fake = FakeVapi(GOOD_KEY)
    good = await add_org(kbcore_host_tables, fake, GOOD_KEY)
    wrong = await add_org(kbcore_host_tables, fake, WRONG_KEY)
    stormy = await add_org(kbcore_host_tables, fake, GOOD_KEY)
    for org_id in (good, wrong, stormy):
        await seed(kbcore_kb, org_id, 1)
    failures: list[SyncFailed] = []
    async with fake.http_client() as http:
        coordinator = SyncCoordinator(
            kbcore_store,
            http_client=http,
            policy=SyncPolicy(retry_policy=attrs.evolve(SyncPolicy().retry_policy, attempts=3)),
        )
        result = await coordinator.sync(good)
        with pytest.raises(SyncFailed) as unauthorised:
            await coordinator.sync(wrong)
        failures.append(unauthorised.value)
        fake.fail_next(100, status=500)
        with pytest.raises(SyncFailed) as storm:
            await coordinator.sync(stormy)
        failures.append(storm.value)
    assert (
        unauthorised.value.reason == "Vapi rejected the API key; check the org's Vapi integration"
    )
    assert storm.value.provider_message is not None
    everything = [host_log.getvalue(), caplog.text, repr(result)]
    for failure in failures:
        everything += [failure.provider_message or "", *map(str, _chain(failure))]
        everything += map(repr, _chain(failure))
    for key in (GOOD_KEY, WRONG_KEY):
        assert not [text for text in everything if key in text]


async def test_a_sync_leaves_structlog_unconfigured(
    kbcore_kb: KnowledgeBase, kbcore_coordinator: SyncCoordinator, kbcore_org: UUID
) -> None:
    """Logging is the host's to configure: a sync configures nothing."""
    structlog.reset_defaults()
    await seed(kbcore_kb, kbcore_org, 1)
    await kbcore_coordinator.sync(kbcore_org)
    assert not structlog.is_configured()


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every error it was raised from or during."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


async def test_vapi_client_events_carry_the_org_and_run(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
) -> None:
    """Events the Vapi client logs during a sync name the org and the run."""
    await kbcore_kb.create(kbcore_org, filename="a.md", content="x")
    fake_vapi.fail_next(1, "POST /file", status=503)
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as events:
        result = await kbcore_coordinator.sync(kbcore_org)
    vapi_events = [e for e in events if e["event"].startswith("kbcore.vapi.")]
    assert vapi_events
    assert {(e["org_id"], e["run_id"]) for e in vapi_events} == {
        (str(kbcore_org), str(result.run_id))
    }
    assert structlog.contextvars.get_contextvars() == {}
