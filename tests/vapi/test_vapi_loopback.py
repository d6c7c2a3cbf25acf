"""FakeVapi served on a loopback port: real sockets, real drops, real timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kbcore import VapiClient
from kbcore.testing import FakeVapi, serve_fake_vapi
from kbcore.vapi import RetryPolicy, VapiTimeout, VapiUnavailable

from .openapi_contract import OpenApiContract

pytestmark = pytest.mark.anyio

ONE_ATTEMPT = RetryPolicy(attempts=1)


@pytest.fixture
async def base_url(fake_vapi: FakeVapi) -> AsyncIterator[str]:
    """The URL of ``fake_vapi`` served on 127.0.0.1."""
    async with serve_fake_vapi(fake_vapi) as url:
        yield url


async def test_a_sync_round_trip_over_a_socket(
    base_url: str, fake_vapi: FakeVapi, openapi: OpenApiContract
) -> None:
    """Upload, tool and attach work over real HTTP/1.1 and keep the contract."""
    assistant_id = fake_vapi.add_assistant()
    async with VapiClient(fake_vapi.api_key, base_url=base_url) as vapi:
        uploaded = await vapi.upload_file("pricing.md", "Plans: $99")
        tool = await vapi.create_query_tool([])
        result = await vapi.attach_tools(assistant_id, [tool.id])
        assert await vapi.delete_file(uploaded.id) is True
    assert result.assistant.tool_ids == (tool.id,)
    assert [r.status for r in fake_vapi.requests] == [201, 201, 200, 200, 200]
    assert [p for r in fake_vapi.requests for p in openapi.problems(r)] == []


async def test_a_dropped_connection_is_a_closed_socket(base_url: str, fake_vapi: FakeVapi) -> None:
    """The server closes the socket without a word; the client says Vapi is unreachable."""
    fake_vapi.drop_next(1)
    async with VapiClient(fake_vapi.api_key, base_url=base_url, retry_policy=ONE_ATTEMPT) as vapi:
        with pytest.raises(VapiUnavailable, match="closed the connection without answering"):
            await vapi.list_files()
        assert await vapi.list_files() == ()
    assert [r.status for r in fake_vapi.requests] == [None, 200]


@pytest.mark.usefixtures("no_backoff")
async def test_a_dropped_connection_is_retried_on_a_new_one(
    base_url: str, fake_vapi: FakeVapi
) -> None:
    """After a drop the client reconnects and the retry succeeds."""
    fake_vapi.drop_next(1, "POST /file")
    async with VapiClient(fake_vapi.api_key, base_url=base_url) as vapi:
        uploaded = await vapi.upload_file("a.md", b"x")
    assert list(fake_vapi.files) == [uploaded.id]


async def test_a_late_answer_times_out_on_the_socket(base_url: str, fake_vapi: FakeVapi) -> None:
    """An answer later than the per-call timeout ends the call as VapiTimeout."""
    fake_vapi.add_latency(5, count=1)
    async with VapiClient(
        fake_vapi.api_key, base_url=base_url, timeout=0.2, retry_policy=ONE_ATTEMPT
    ) as vapi:
        with pytest.raises(VapiTimeout):
            await vapi.list_files()
        assert await vapi.list_files() == ()
