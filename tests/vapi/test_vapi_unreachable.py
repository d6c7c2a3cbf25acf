"""An unreachable Vapi: each cause named, small budgets of tries, a bound of seconds.

A refused connection and a TLS failure use real sockets on loopback; a host name that
does not resolve is raised by an httpx transport (no DNS in tests). A server that never
answers runs in virtual time (see conftest), so its timeouts take no real time.
"""

from __future__ import annotations

import socket
import uuid
from typing import Any

import anyio
import httpx
import pytest
from stamina.instrumentation import RetryDetails

from kbcore import KnowledgeBase, SyncCoordinator, SyncFailed, VapiClient
from kbcore.cli.sync import VAPI_TIMEOUT, sync_policy
from kbcore.memory import MemoryStore
from kbcore.testing import FakeVapi, serve_fake_vapi
from kbcore.vapi import RetryPolicy, VapiServerError, VapiTimeout, VapiUnreachable

#: No waits between tries, so that real-time tests count tries, not seconds.
NO_WAITS = RetryPolicy(attempts=10, wait_initial=0, wait_jitter=0, wait_max=0)


def refusing_url() -> str:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.anyio
async def test_a_refused_connection_gets_its_own_small_budget(retries: list[RetryDetails]) -> None:
    """Three tries (connect_attempts), not ten; the error names the cause and the URL."""
    url = refusing_url()
    async with VapiClient("sk-test", base_url=url, retry_policy=NO_WAITS) as vapi:
        with pytest.raises(VapiUnreachable) as caught:
            await vapi.list_files()
    assert str(caught.value) == f"Vapi at {url} refused the connection"
    assert len(retries) == NO_WAITS.connect_attempts - 1 == 2


@pytest.mark.anyio
async def test_credentials_in_the_url_stay_out_of_the_message() -> None:
    """A URL with a user and password is shown without them (and without its query)."""
    url = refusing_url()
    with_credentials = url.replace("http://", "http://ops:s3cret@") + "/?token=abc"
    policy = RetryPolicy(attempts=1)
    async with VapiClient("sk-test", base_url=with_credentials, retry_policy=policy) as vapi:
        with pytest.raises(VapiUnreachable) as caught:
            await vapi.list_files()
    assert str(caught.value) == f"Vapi at {url}/ refused the connection"


@pytest.mark.anyio
async def test_a_host_that_does_not_resolve_is_named() -> None:
    """DNS failure: the message says the host name does not resolve."""

    def unknown_host(request: httpx.Request) -> httpx.Response:
        error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        raise httpx.ConnectError(str(error), request=request) from error

    transport = httpx.MockTransport(unknown_host)
    async with httpx.AsyncClient(transport=transport) as http:
        vapi = VapiClient("sk-test", base_url="https://api.vapi.invalid", http_client=http)
        with pytest.raises(VapiUnreachable) as caught:
            await vapi.list_files()
    assert str(caught.value) == (
        "Vapi at https://api.vapi.invalid could not be found: its host name does not resolve (DNS)"
    )


@pytest.mark.anyio
async def test_a_failed_tls_handshake_is_named(fake_vapi: FakeVapi) -> None:
    """https:// to a server that speaks plain HTTP: the TLS handshake fails, and says so."""
    async with serve_fake_vapi(fake_vapi) as url:
        https = url.replace("http://", "https://")
        policy = RetryPolicy(attempts=1)
        async with VapiClient(fake_vapi.api_key, base_url=https, retry_policy=policy) as vapi:
            with pytest.raises(VapiUnreachable, match="failed the TLS handshake") as caught:
                await vapi.list_files()
    assert str(caught.value).startswith(f"Vapi at {https} failed the TLS handshake (")


@pytest.mark.virtual_time
async def test_a_server_that_never_answers_costs_two_timeouts(
    fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """timeout_attempts (2) tries of 30 s each and one wait, not the call's 120 s bound."""
    fake_vapi.add_latency(3600)
    policy = RetryPolicy(attempts=10, timeout=120, wait_initial=1, wait_jitter=0)
    started = anyio.current_time()
    async with fake_vapi.http_client() as http:
        vapi = VapiClient(fake_vapi.api_key, http_client=http, timeout=30, retry_policy=policy)
        with pytest.raises(VapiTimeout) as caught:
            await vapi.list_files()
    assert anyio.current_time() - started == pytest.approx(30 + 1 + 30)
    assert str(caught.value) == "Vapi at https://api.vapi.ai did not answer within 30 s"
    assert len(retries) == 1


@pytest.mark.virtual_time
async def test_the_small_budgets_leave_other_failures_their_attempts(
    fake_vapi: FakeVapi, retries: list[RetryDetails]
) -> None:
    """Five 503s in a row are retried as before: the small budgets count their kind only."""
    fake_vapi.fail_next(5, "GET /file", status=503)
    policy = RetryPolicy(attempts=10, timeout=300, wait_initial=1, wait_jitter=0)
    async with fake_vapi.http_client() as http:
        vapi = VapiClient(fake_vapi.api_key, http_client=http, retry_policy=policy)
        assert await vapi.list_files() == ()
    assert [type(retry.caused_by) for retry in retries] == [VapiServerError] * 5


@pytest.mark.virtual_time
async def test_the_command_s_sync_gives_up_on_a_silent_vapi_within_10_seconds() -> None:
    """With the command's policy, a sync whose Vapi never answers fails in under 10 s."""
    fake = FakeVapi()
    fake.add_latency(3600)
    store = MemoryStore()
    org_id = uuid.uuid4()
    store.set_vapi_key(org_id, fake.api_key)
    store.add_agent(org_id, role="inbound", vapi_assistant_id=fake.add_assistant())
    await KnowledgeBase(store).create(org_id, filename="a.md", content="x")
    started = anyio.current_time()
    async with fake.http_client() as http:
        coordinator = SyncCoordinator(store, http_client=http, policy=sync_policy())
        with pytest.raises(SyncFailed) as caught:
            await coordinator.sync(org_id)
    elapsed = anyio.current_time() - started
    assert 2 * VAPI_TIMEOUT <= elapsed < 10
    assert caught.value.reason == (
        "Could not list the org's files on Vapi: Vapi at https://api.vapi.ai "
        f"did not answer within {VAPI_TIMEOUT:g} s"
    )


def test_tries_for_each_kind_of_failure() -> None:
    """Each kind of failure has its budget, never more than ``attempts``."""
    policy = RetryPolicy(attempts=4, connect_attempts=3, timeout_attempts=2)
    cases: list[tuple[Any, int]] = [
        (VapiUnreachable("refused"), 3),
        (VapiTimeout("no answer"), 2),
        (VapiTimeout("HTTP 408", status_code=408), 4),  # an answer: the general budget
        (VapiServerError("HTTP 503", status_code=503), 4),
    ]
    assert [policy.tries_for(error) for error, _ in cases] == [tries for _, tries in cases]
    assert RetryPolicy(attempts=1).tries_for(VapiUnreachable("refused")) == 1
