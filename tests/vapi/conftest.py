"""Fixtures for the Vapi client and FakeVapi: clients wired to a fake, observed retries,
the OpenAPI contract, and a virtual clock.

Tests marked ``virtual_time`` run on an event loop whose clock jumps ahead
whenever every task is waiting. Backoff waits, ``Retry-After`` waits and
timeouts then take no real time, yet stamina computes and reports them as in
production (its testing mode would make every wait zero, so nothing could be
observed). Such tests take sync fixtures only.
"""

from __future__ import annotations

import asyncio
import inspect
import selectors
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
import stamina
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from kbcore.testing import FakeVapi
from kbcore.vapi import RetryPolicy, VapiClient

from .openapi_contract import OpenApiContract

API_KEY = "sk-test-7f3a9c1e-0b5d-4e2a-9d8c-2f6e1a4b3c5d"


# Virtual time


class _VirtualClock:
    now = 0.0


class _FastForwardSelector(selectors.DefaultSelector):
    """Polls without blocking; when nothing is ready, the clock jumps to the next timer."""

    def __init__(self, clock: _VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("Deadlock: every task waits and no timer is set")
        self._clock.now += timeout
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _VirtualClock()
        super().__init__(selector=_FastForwardSelector(self._virtual))

    def time(self) -> float:
        return self._virtual.now


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "virtual_time: run this async test on a loop whose clock only jumps ahead"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if pyfuncitem.get_closest_marker("virtual_time") is None:
        return None
    wanted = inspect.signature(pyfuncitem.obj).parameters
    kwargs = {name: pyfuncitem.funcargs[name] for name in wanted}
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        runner.run(pyfuncitem.obj(**kwargs))
    return True


# Clients and fakes


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_vapi() -> FakeVapi:
    """An empty fake with one assistant-less org, accepting ``API_KEY``."""
    return FakeVapi(API_KEY)


ClientFactory = Callable[..., AbstractAsyncContextManager[VapiClient]]


@pytest.fixture
def connect(fake_vapi: FakeVapi) -> ClientFactory:
    """Open a ``VapiClient`` wired in process to ``fake_vapi``: ``async with connect() as vapi``."""

    @asynccontextmanager
    async def open_client(
        *, api_key: str = API_KEY, request_timeout: float = 30.0, policy: RetryPolicy | None = None
    ) -> AsyncIterator[VapiClient]:
        async with fake_vapi.http_client() as http:
            yield VapiClient(
                api_key,
                http_client=http,
                timeout=request_timeout,
                retry_policy=policy or RetryPolicy(),
            )

    return open_client


@pytest.fixture
async def vapi(connect: ClientFactory) -> AsyncIterator[VapiClient]:
    """A client of ``fake_vapi`` with the default policy."""
    async with connect() as client:
        yield client


@pytest.fixture
async def http(fake_vapi: FakeVapi) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP to the fake, authorised with its key."""
    headers = {"Authorization": f"Bearer {fake_vapi.api_key}"}
    async with fake_vapi.http_client(base_url="https://api.vapi.ai", headers=headers) as client:
        yield client


@pytest.fixture
def no_backoff() -> Iterator[None]:
    """stamina's testing mode: up to 3 attempts, no waits (for tests on a real clock)."""
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


@pytest.fixture
def retries() -> Iterator[list[RetryDetails]]:
    """The retries stamina schedules, with the wait it chose for each; real backoff on."""
    seen: list[RetryDetails] = []

    def record(details: RetryDetails) -> None:
        seen.append(details)

    previous = get_on_retry_hooks()
    set_on_retry_hooks([record])
    with stamina.set_testing(False):
        yield seen
    set_on_retry_hooks(previous)


@pytest.fixture(scope="session")
def openapi() -> OpenApiContract:
    """The contract the client's requests and the fake's answers must keep."""
    return OpenApiContract.load(strict_requests=True)
