"""SyncWorker in one process: debounced, one sync per burst, windows, parking, back-off."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID

import anyio
import asyncpg
import httpx
import pytest

from kbcore import (
    AutoSync,
    Backoff,
    KnowledgeBase,
    SyncCoordinator,
    SyncWorker,
    ValidationError,
)
from kbcore._domain import CANCELLED_MESSAGE, Secret
from kbcore._ports import Store
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore
from kbcore.testing import FakeVapi
from tests.sync.test_sync import WINDOW, file_texts, runs, tool_file_ids

from .conftest import WORKER, Elapse, quick_backoff, status

pytestmark = pytest.mark.anyio

DEBOUNCE = timedelta(seconds=10)


def live_texts(fake: FakeVapi) -> set[str]:
    """The texts the org's current query tool serves."""
    (tool_id,) = fake.tools
    return file_texts(fake, tool_file_ids(fake, tool_id))


async def test_an_edit_is_synced_once_its_debounce_has_passed(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_org: UUID,
    worker: SyncWorker,
    fake_vapi: FakeVapi,
    elapse: Elapse,
) -> None:
    await kbcore_kb.create(kbcore_org, filename="a.md", content="first", category="general")
    assert await worker.run_due() == 0
    await elapse(DEBOUNCE)
    assert await worker.run_due() == 1
    assert live_texts(fake_vapi) == {"first"}
    assert not (await status(kbcore_coordinator, kbcore_org)).pending


async def test_a_burst_of_ten_edits_makes_one_sync(
    kbcore_kb: KnowledgeBase,
    kbcore_store: Store,
    kbcore_org: UUID,
    worker: SyncWorker,
    fake_vapi: FakeVapi,
    elapse: Elapse,
) -> None:
    """Ten edits within the debounce: one sync, logged under the worker's name."""
    doc = await kbcore_kb.create(kbcore_org, filename="a.md", content="0", category="general")
    for edit in range(1, 10):
        await kbcore_kb.update(kbcore_org, doc.id, content=str(edit))
    await elapse(DEBOUNCE)
    assert await worker.run_due() == 1
    assert await worker.run_due() == 0
    (run,) = await runs(kbcore_store, kbcore_org)
    assert run.status == "success"
    assert run.triggered_by == f"kbcore worker {WORKER}"
    assert live_texts(fake_vapi) == {"9"}


async def test_an_edit_during_a_sync_is_synced_after_the_window(
    kbcore_kb: KnowledgeBase,
    kbcore_store: Store,
    kbcore_org: UUID,
    fake_vapi: FakeVapi,
    elapse: Elapse,
) -> None:
    """The request outlives a sync that began before the edit, and is due after the window."""
    doc = await kbcore_kb.create(kbcore_org, filename="a.md", content="old", category="general")
    edited: list[str] = []

    async def edit_on_first_upload(request: httpx.Request) -> None:
        if request.url.path == "/file" and not edited:
            edited.append("new")
            await kbcore_kb.update(kbcore_org, doc.id, content="new")

    hooks = {"request": [edit_on_first_upload]}
    async with fake_vapi.http_client(event_hooks=hooks) as http:
        coordinator = SyncCoordinator(kbcore_store, http_client=http)
        worker = SyncWorker(kbcore_store, coordinator, name=WORKER)
        await elapse(DEBOUNCE)
        assert await worker.run_due() == 1
        assert edited == ["new"]
        waiting = await coordinator.sync_status(kbcore_org)
        assert waiting.edits_waiting == 1
        assert waiting.last_success_at is not None
        assert waiting.due_at is not None
        assert waiting.due_at >= waiting.last_success_at + timedelta(minutes=5)
        await elapse(DEBOUNCE)
        assert await worker.run_due() == 0
        await elapse(WINDOW)
        assert await worker.run_due() == 1
    assert live_texts(fake_vapi) == {"new"}
    assert not (await coordinator.sync_status(kbcore_org)).pending


async def test_a_rate_limited_request_waits_for_the_window_without_counting_a_failure(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_store: Store,
    kbcore_org: UUID,
    worker: SyncWorker,
) -> None:
    await kbcore_kb.create(kbcore_org, filename="a.md", content="one", category="general")
    await kbcore_coordinator.sync(kbcore_org)
    await kbcore_kb.create(kbcore_org, filename="b.md", content="two", category="general")
    await kbcore_coordinator.resume(kbcore_org)
    assert await worker.run_due() == 1
    now = await status(kbcore_coordinator, kbcore_org)
    assert now.pending
    assert now.attempts == 0
    assert now.last_success_at is not None
    assert now.due_at is not None
    assert now.due_at >= now.last_success_at + timedelta(minutes=4, seconds=59)
    assert [run.status for run in await runs(kbcore_store, kbcore_org)] == ["success", "failed"]


async def test_a_permanent_failure_parks_until_the_set_up_changes(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_store: Store,
    worker: SyncWorker,
    fake_vapi: FakeVapi,
    org: UUID,
    elapse: Elapse,
) -> None:
    """No agents: parked with the reason; adding an agent makes it due at once."""
    await kbcore_store.store_vapi_key(org, _secret(fake_vapi.api_key))
    await kbcore_kb.create(org, filename="a.md", content="one", category="general")
    await elapse(DEBOUNCE)
    assert await worker.run_due() == 1
    parked = await status(kbcore_coordinator, org)
    assert parked.parked_reason is not None
    assert parked.parked_reason.startswith("No agents with role")
    await elapse(timedelta(hours=1))
    assert await worker.run_due() == 0
    await kbcore_store.insert_agent(org, "inbound", fake_vapi.add_assistant(name="inbound"))
    assert (await status(kbcore_coordinator, org)).parked_reason is None
    assert await worker.run_due() == 1
    assert live_texts(fake_vapi) == {"one"}


async def test_an_edit_resumes_a_parked_request(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    worker: SyncWorker,
    org: UUID,
    elapse: Elapse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VAPI_API_KEY", raising=False)
    doc = await kbcore_kb.create(org, filename="a.md", content="one", category="general")
    await elapse(DEBOUNCE)
    await worker.run_due()
    parked = await status(kbcore_coordinator, org)
    assert parked.parked_reason is not None
    assert "No Vapi API key" in parked.parked_reason
    await kbcore_kb.update(org, doc.id, content="two")
    resumed = await status(kbcore_coordinator, org)
    assert resumed.parked_reason is None
    assert resumed.attempts == 0
    assert resumed.edits_waiting == 2


async def test_a_transient_failure_backs_off_with_jitter(
    kbcore_kb: KnowledgeBase, kbcore_store: Store, kbcore_org: UUID, elapse: Elapse
) -> None:
    """Vapi unreachable: the request stays, due again within the back-off's bound."""
    unreachable = SyncCoordinator(kbcore_store, vapi_base_url="http://127.0.0.1:9")
    worker = SyncWorker(
        kbcore_store, unreachable, name=WORKER, backoff=quick_backoff(), draw=random.Random(3)
    )
    await kbcore_kb.create(kbcore_org, filename="a.md", content="one", category="general")
    await elapse(DEBOUNCE)
    for attempt in (1, 2, 3):
        assert await worker.run_due() == 1
        now = await unreachable.sync_status(kbcore_org)
        assert now.attempts == attempt
        assert now.parked_reason is None
        assert now.last_error is not None
        assert "Vapi" in now.last_error
        assert now.last_failure_at is not None
        assert now.due_at is not None
        bound = min(4.0, 2.0**attempt)
        assert now.due_at - now.last_failure_at <= timedelta(seconds=bound + 0.5)
        await elapse(timedelta(seconds=5))


async def test_an_edit_during_a_back_off_keeps_its_later_due_time(
    kbcore_kb: KnowledgeBase, kbcore_store: Store, kbcore_org: UUID, elapse: Elapse
) -> None:
    """A request backing off is not made due sooner by an edit: only later, if at all."""
    unreachable = SyncCoordinator(kbcore_store, vapi_base_url="http://127.0.0.1:9")
    hours = Backoff(base=timedelta(hours=1), cap=timedelta(hours=2))
    worker = SyncWorker(
        kbcore_store, unreachable, name=WORKER, backoff=hours, draw=random.Random(3)
    )
    doc = await kbcore_kb.create(kbcore_org, filename="a.md", content="one", category="general")
    await elapse(DEBOUNCE)
    assert await worker.run_due() == 1
    backing_off = await unreachable.sync_status(kbcore_org)
    assert backing_off.attempts == 1
    assert backing_off.due_at is not None
    await kbcore_kb.update(kbcore_org, doc.id, content="two")
    edited = await unreachable.sync_status(kbcore_org)
    assert edited.edits_waiting == backing_off.edits_waiting + 1
    assert edited.attempts == 1
    # The draw puts the retry minutes away, far past the edit's debounce.
    assert edited.due_at == backing_off.due_at
    assert edited.due_at - (await kbcore_kb.get(kbcore_org, doc.id)).updated_at > DEBOUNCE


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    backoff = Backoff(base=timedelta(seconds=1), cap=timedelta(seconds=60))
    draw = random.Random(11)
    for attempts in range(1, 40):
        ceiling = min(60.0, 2.0**attempts)
        delays = [backoff.delay(attempts, draw).total_seconds() for _ in range(50)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling / 2


@pytest.mark.parametrize(
    "settings",
    [{"concurrency": 0}, {"poll_interval": 0}, {"grace": -1.0}, {"concurrency": True}],
)
def test_bad_worker_settings_are_validation_errors(settings: dict[str, object]) -> None:
    store = MemoryStore()
    with pytest.raises(ValidationError):
        SyncWorker(store, SyncCoordinator(store), **settings)  # type: ignore[arg-type]


@pytest.fixture
async def prompt_store(kbcore_store: Store, request: pytest.FixtureRequest) -> Store:
    """The suite's kind of store, with edits due at once."""
    prompt = AutoSync(debounce=timedelta(0))
    if isinstance(kbcore_store, MemoryStore):
        return MemoryStore(auto_sync=prompt)
    pool: asyncpg.Pool = request.getfixturevalue("kbcore_pool")
    return PostgresStore(pool, auto_sync=prompt)


@pytest.fixture
async def prompt_org(prompt_store: Store, fake_vapi: FakeVapi) -> UUID:
    org = UUID(int=random.getrandbits(128))
    await prompt_store.store_vapi_key(org, _secret(fake_vapi.api_key))
    await prompt_store.insert_agent(org, "inbound", fake_vapi.add_assistant(name="inbound"))
    return org


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    """Wait until ``condition()`` holds; fail after ``seconds``."""
    with anyio.fail_after(seconds):
        while not await condition():  # noqa: ASYNC110 (a state in another process or task)
            await anyio.sleep(0.01)


async def test_a_sleeping_worker_wakes_for_a_new_edit(
    prompt_store: Store, prompt_org: UUID, fake_vapi: FakeVapi, fake_vapi_http: httpx.AsyncClient
) -> None:
    """With an hour between polls, only the notification of the edit can wake the worker."""
    coordinator = SyncCoordinator(prompt_store, http_client=fake_vapi_http)
    worker = SyncWorker(prompt_store, coordinator, name=WORKER, poll_interval=3600)
    kb = KnowledgeBase(prompt_store)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run, stop)
        await kb.create(prompt_org, filename="a.md", content="one", category="general")

        async def synced() -> bool:
            return not (await coordinator.sync_status(prompt_org)).pending

        await _until(synced)
        stop.set()
    assert live_texts(fake_vapi) == {"one"}
    assert [run.status for run in await runs(prompt_store, prompt_org)] == ["success"]


async def test_a_stopped_worker_cancels_what_outlasts_the_grace_and_hands_it_back(
    prompt_store: Store, prompt_org: UUID, fake_vapi: FakeVapi, fake_vapi_http: httpx.AsyncClient
) -> None:
    fake_vapi.add_latency(3600, "POST /file")
    coordinator = SyncCoordinator(prompt_store, http_client=fake_vapi_http)
    worker = SyncWorker(prompt_store, coordinator, name=WORKER, grace=0.1, poll_interval=3600)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run, stop)
        await KnowledgeBase(prompt_store).create(
            prompt_org, filename="a.md", content="one", category="general"
        )

        async def running() -> bool:
            return (await coordinator.sync_status(prompt_org)).running_on == WORKER

        await _until(running)
        stop.set()
    (run,) = await runs(prompt_store, prompt_org)
    assert run.status == "failed"
    assert run.error_message == CANCELLED_MESSAGE
    handed_back = await coordinator.sync_status(prompt_org)
    assert handed_back.pending
    assert handed_back.running_on is None
    assert handed_back.attempts == 0


def _secret(value: str) -> Secret:
    return Secret(value)


async def test_a_key_vapi_rejects_parks_the_request_until_a_new_key(
    kbcore_kb: KnowledgeBase,
    kbcore_coordinator: SyncCoordinator,
    kbcore_store: Store,
    worker: SyncWorker,
    fake_vapi: FakeVapi,
    kbcore_org: UUID,
    elapse: Elapse,
) -> None:
    await kbcore_store.store_vapi_key(kbcore_org, _secret("not-the-key"))
    await kbcore_kb.create(kbcore_org, filename="a.md", content="one", category="general")
    await elapse(DEBOUNCE)
    assert await worker.run_due() == 1
    parked = await status(kbcore_coordinator, kbcore_org)
    assert parked.parked_reason is not None
    assert parked.parked_reason.startswith("Vapi rejected the API key")
    assert "not-the-key" not in parked.parked_reason
    await kbcore_store.store_vapi_key(kbcore_org, _secret(fake_vapi.api_key))
    assert await worker.run_due() == 1
    assert live_texts(fake_vapi) == {"one"}
