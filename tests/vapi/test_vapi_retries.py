"""What the client retries, how long it waits, and when it gives up.

These tests run in virtual time (see conftest): stamina really computes and
schedules every wait, the loop's clock jumps over it, and the ``retries``
fixture reports each wait stamina chose.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, Literal

import anyio
import pytest
import structlog
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from kbcore import VapiError
from kbcore.testing import FakeVapi
from kbcore.vapi import (
    KnowledgeBaseGroup,
    RetryPolicy,
    VapiAuthenticationError,
    VapiBadRequest,
    VapiConflict,
    VapiNotFound,
    VapiRateLimited,
    VapiServerError,
    VapiTimeout,
    VapiUnavailable,
)

pytestmark = pytest.mark.virtual_time

#: Waits of 1 s, 2 s, 4 s ... plus up to 0.5 s of jitter.
POLICY = RetryPolicy(attempts=4, timeout=120, wait_initial=1, wait_max=10, wait_jitter=0.5)


def waits(retries: list[RetryDetails]) -> list[float]:
    return [round(r.wait_for, 6) for r in retries]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_transient_statuses_are_retried_with_exponential_backoff(
    connect: Any, fake_vapi: FakeVapi, retries: list[RetryDetails], status: int
) -> None:
    """Two failures, then success: two retries waiting 1-1.5 s and 2-2.5 s."""
    fake_vapi.fail_next(2, "POST /file", status=status)
    started = anyio.current_time()
    async with connect(policy=POLICY) as vapi:
        uploaded = await vapi.upload_file("a.md", b"x")
    assert list(fake_vapi.files) == [uploaded.id]
    assert [r.retry_num for r in retries] == [1, 2]
    assert 1 <= retries[0].wait_for <= 1.5
    assert 2 <= retries[1].wait_for <= 2.5
    assert anyio.current_time() - started == pytest.approx(sum(waits(retries)))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, VapiBadRequest),
        (401, VapiAuthenticationError),
        (403, VapiAuthenticationError),
        (404, VapiNotFound),
        (409, VapiConflict),
        (422, VapiBadRequest),
    ],
)
async def test_other_client_errors_are_not_retried(
    connect: Any,
    fake_vapi: FakeVapi,
    retries: list[RetryDetails],
    status: int,
    error: type[VapiError],
) -> None:
    """A 4xx other than 408 and 429 is raised after one request and no wait."""
    fake_vapi.fail_next(3, status=status)
    async with connect(policy=POLICY) as vapi:
        with pytest.raises(error):
            await vapi.get_file(str(uuid.uuid4()))
    assert (len(fake_vapi.requests), retries) == (1, [])


async def test_a_pinned_tool_is_not_retried(
    connect: Any, fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """409 tool_pinned is final, unlike in Vapi's own SDK."""
    async with connect(policy=POLICY) as vapi:
        tool = await vapi.create_query_tool([KnowledgeBaseGroup.for_category("general", [])])
        fake_vapi.pin_tool(tool.id)
        with pytest.raises(VapiConflict):
            await vapi.delete_tool(tool.id)
    assert (len(fake_vapi.requests_to("DELETE /tool/*")), retries) == (1, [])


@pytest.mark.parametrize(
    ("status", "retry_after", "form", "expected"),
    [
        (429, 7, "seconds", 7.0),
        (429, 7, "date", 7.0),
        (429, 2.5, "seconds", 2.5),
        (503, 4, "seconds", 4.0),
        (503, 12, "date", 12.0),
        (429, 0, "seconds", 0.0),
        (429, 100, "seconds", 30.0),
        (429, 100, "date", 30.0),
    ],
)
async def test_retry_after_sets_the_wait_up_to_its_cap(
    connect: Any,
    fake_vapi: FakeVapi,
    retries: list[RetryDetails],
    status: int,
    retry_after: float,
    form: Literal["seconds", "date"],
    expected: float,
) -> None:
    """The wait is what Retry-After says, in either form, capped at retry_after_cap."""
    fake_vapi.fail_next(
        1, "GET /file", status=status, retry_after=retry_after, retry_after_form=form
    )
    async with connect(policy=POLICY) as vapi:
        await vapi.list_files()
    assert waits(retries) == [expected]


async def test_a_retry_after_beyond_the_calls_bound_fails_at_once(
    connect: Any, fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """Waiting 25 s would pass a 20 s bound: the 429 is raised now, with its retry_after."""
    fake_vapi.fail_next(1, status=429, retry_after=25)
    policy = RetryPolicy(attempts=4, timeout=20, retry_after_cap=60)
    started = anyio.current_time()
    with structlog.testing.capture_logs() as logs:
        async with connect(policy=policy) as vapi:
            with pytest.raises(VapiRateLimited) as caught:
                await vapi.list_files()
    assert caught.value.retry_after == 25
    assert (retries, anyio.current_time() - started) == ([], 0)
    assert "kbcore.vapi.retry_abandoned" in [entry["event"] for entry in logs]


async def test_attempts_run_out_and_the_last_error_is_raised(
    connect: Any, fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """After `attempts` failures the last VapiServerError comes out."""
    fake_vapi.fail_next(10, status=500)
    async with connect(policy=POLICY) as vapi:
        with pytest.raises(VapiServerError) as caught:
            await vapi.list_files()
    assert caught.value.status_code == 500
    assert len(fake_vapi.requests) == POLICY.attempts
    assert len(retries) == POLICY.attempts - 1


async def test_a_slow_answer_times_out_and_is_retried(
    connect: Any, fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """An answer 60 s late is abandoned after the 30 s per-call timeout, then retried."""
    fake_vapi.add_latency(60, "GET /file", count=1)
    started = anyio.current_time()
    async with connect(policy=POLICY) as vapi:
        assert await vapi.list_files() == ()
    assert isinstance(retries[0].caused_by, VapiTimeout)
    assert anyio.current_time() - started == pytest.approx(30 + retries[0].wait_for)


async def test_the_total_bound_cuts_an_attempt_in_flight(
    connect: Any, fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """With every answer late, the call ends at its 45 s bound, mid-attempt, as a timeout."""
    fake_vapi.add_latency(60)
    policy = RetryPolicy(attempts=10, timeout=45, wait_initial=1, wait_jitter=0)
    started = anyio.current_time()
    async with connect(request_timeout=30, policy=policy) as vapi:
        with pytest.raises(VapiTimeout):
            await vapi.list_files()
    assert anyio.current_time() - started == pytest.approx(45)
    assert len(retries) == 1


async def test_the_total_bound_stops_retrying_a_failing_server(
    connect: Any, fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """Retries of a 503 stop at the 10 s bound and raise the last answer."""
    fake_vapi.fail_next(1000, status=503)
    policy = RetryPolicy(attempts=1000, timeout=10, wait_initial=1, wait_max=3, wait_jitter=0)
    started = anyio.current_time()
    async with connect(policy=policy) as vapi:
        with pytest.raises(VapiServerError):
            await vapi.list_files()
    assert anyio.current_time() - started == pytest.approx(10)
    assert waits(retries)[:3] == [1, 2, 3]


@pytest.mark.parametrize(("after_handling", "deleted_by_retry"), [(False, True), (True, False)])
async def test_a_dropped_connection_is_retried(
    connect: Any,
    fake_vapi: FakeVapi,
    retries: list[RetryDetails],
    after_handling: bool,
    deleted_by_retry: bool,
) -> None:
    """A dropped connection is retried; a retried delete of a file already deleted succeeds."""
    fake_vapi.drop_next(1, "DELETE /file/*", after_handling=after_handling)
    async with connect(policy=POLICY) as vapi:
        uploaded = await vapi.upload_file("a.md", b"x")
        assert await vapi.delete_file(uploaded.id) is deleted_by_retry
    assert fake_vapi.files == {}
    assert isinstance(retries[0].caused_by, VapiUnavailable)
    assert retries[0].caused_by.status_code is None


async def test_connections_that_keep_dropping_end_unavailable(
    connect: Any, fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """When every attempt is dropped the caller gets VapiUnavailable, not an httpx error."""
    fake_vapi.drop_next(10)
    async with connect(policy=POLICY) as vapi:
        with pytest.raises(VapiUnavailable, match="closed the connection without answering"):
            await vapi.list_files()
    assert len(retries) == POLICY.attempts - 1


async def test_the_fakes_rate_limit_is_ridden_out(
    connect: Any, fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """Against 2 requests a second, five uploads all land, waiting as Retry-After says."""
    fake_vapi.limit_rate(2)
    async with connect(policy=POLICY) as vapi:
        for index in range(5):
            await vapi.upload_file(f"{index}.md", b"x")
    assert len(fake_vapi.files) == 5
    assert waits(retries) == [1.0, 1.0]


async def test_each_retry_is_logged_with_what_caused_it(
    connect: Any, fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """kbcore.vapi.retrying names the attempt, the error and the status."""
    fake_vapi.fail_next(1, status=503, retry_after=1)
    with structlog.testing.capture_logs() as logs:
        async with connect(policy=POLICY) as vapi:
            await vapi.list_files()
    [retrying] = [entry for entry in logs if entry["event"] == "kbcore.vapi.retrying"]
    assert retrying == {
        "event": "kbcore.vapi.retrying",
        "log_level": "info",
        "method": "GET",
        "path": "/file",
        "attempt": 2,
        "after": "VapiServerError",
        "status_code": 503,
        "retry_after": 1.0,
    }


@pytest.fixture
def stamina_defaults() -> Iterator[None]:
    """stamina's own hooks as a host gets them, and structlog as nobody configured it."""
    previous = get_on_retry_hooks()
    set_on_retry_hooks(None)
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
    set_on_retry_hooks(previous)


@pytest.mark.usefixtures("stamina_defaults")
async def test_stamina_says_nothing_of_kbcores_retries_until_logging_is_configured(
    connect: Any, fake_vapi: FakeVapi, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unconfigured structlog prints; kbcore's own retry event stays behind the host's set-up."""
    fake_vapi.fail_next(1, "POST /file", status=503)
    async with connect(policy=POLICY) as vapi:
        await vapi.upload_file("a.md", b"x")
    assert "retry_scheduled" not in capsys.readouterr().out
    fake_vapi.fail_next(1, "POST /file", status=503)
    with structlog.testing.capture_logs() as logs:
        async with connect(policy=POLICY) as vapi:
            await vapi.upload_file("b.md", b"x")
    events = [entry["event"] for entry in logs]
    assert "stamina.retry_scheduled" in events
    assert "kbcore.vapi.retrying" in events
