"""FakeVapi's fault injection: planned failures, drops, latency and a rate limit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest

from kbcore.testing import FakeVapi
from kbcore.testing.fake_vapi import ConnectionDropped

pytestmark = pytest.mark.anyio


async def test_fail_next_fails_only_matching_requests_then_recovers(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """Two POST /file fail with 503; GETs pass meanwhile; the third upload succeeds."""
    fake_vapi.fail_next(2, "POST /file", status=503)
    statuses = [
        (await http.post("/file", files={"file": ("a.md", b"x")})).status_code,
        (await http.get("/file")).status_code,
        (await http.post("/file", files={"file": ("a.md", b"x")})).status_code,
        (await http.post("/file", files={"file": ("a.md", b"x")})).status_code,
    ]
    assert statuses == [503, 200, 503, 201]
    assert len(fake_vapi.files) == 1


@pytest.mark.parametrize(
    ("form", "header"),
    [("seconds", "7"), ("date", "Sun, 01 Mar 2026 10:00:07 GMT")],
)
async def test_an_injected_429_can_carry_retry_after_in_both_forms(form: Any, header: str) -> None:
    """Retry-After is sent in seconds or as an HTTP date agreeing with the Date header."""
    fake = FakeVapi("k", wall_clock=lambda: datetime(2026, 3, 1, 10, 0, 0, 250000, tzinfo=UTC))
    fake.fail_next(1, status=429, retry_after=7, retry_after_form=form)
    async with fake.http_client() as client:
        response = await client.get("http://vapi/file", headers={"Authorization": "Bearer k"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == header
    assert response.headers["date"] == "Sun, 01 Mar 2026 10:00:00 GMT"


async def test_a_dropped_request_raises_the_httpx_error_of_a_real_drop(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """In process, a drop reaches the client as httpx.RemoteProtocolError and is logged."""
    fake_vapi.drop_next(1, "/file")
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        await http.get("/file")
    assert isinstance(caught.value, ConnectionDropped)
    assert fake_vapi.requests[-1].status is None
    assert (await http.get("/file")).status_code == 200


async def test_the_rate_limit_answers_429_until_the_window_moves() -> None:
    """Two requests a second pass; the third gets 429 with Retry-After; later ones pass again."""
    now = [0.0]
    fake = FakeVapi("k", clock=lambda: now[0])
    fake.limit_rate(2)
    async with fake.http_client(headers={"Authorization": "Bearer k"}) as client:
        first = [(await client.get("http://vapi/file")).status_code for _ in range(3)]
        limited = await client.get("http://vapi/file")
        now[0] = 1.0
        later = (await client.get("http://vapi/file")).status_code
    assert first == [200, 200, 429]
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["message"] == "ThrottlerException: Too Many Requests"
    assert later == 200


async def test_the_rate_limit_can_leave_out_retry_after() -> None:
    """limit_rate(retry_after=False) answers 429 with no Retry-After header."""
    fake = FakeVapi("k", clock=lambda: 0.0)
    fake.limit_rate(1, retry_after=False)
    async with fake.http_client(headers={"Authorization": "Bearer k"}) as client:
        await client.get("http://vapi/file")
        response = await client.get("http://vapi/file")
    assert response.status_code == 429
    assert "retry-after" not in response.headers


async def test_clear_faults_disarms_everything(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """After clear_faults no injected failure or limit remains."""
    fake_vapi.fail_next(5, status=500)
    fake_vapi.limit_rate(1)
    fake_vapi.clear_faults()
    assert [(await http.get("/file")).status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.virtual_time
async def test_latency_holds_the_answer_back() -> None:
    """add_latency delays matching answers by the given time on the event loop's clock."""
    fake = FakeVapi("k")
    fake.add_latency(45, "GET /file", count=1)
    async with fake.http_client(headers={"Authorization": "Bearer k"}) as http:
        started = anyio.current_time()
        await http.get("http://vapi/file")
        assert anyio.current_time() - started == 45
        await http.get("http://vapi/file")
        assert anyio.current_time() - started == 45


async def test_a_late_write_loses_its_answer_and_lands_when_told(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """apply_late: the client sees a dropped connection; the write lands at apply_late_writes."""
    fake_vapi.apply_late(1, "/file*")
    assert (await http.get("/file")).status_code == 200  # a read is never late
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post("/file", files={"file": ("a.md", b"late")})
    assert (fake_vapi.files, fake_vapi.late_writes) == ({}, 1)
    assert fake_vapi.requests[-1].status is None
    [applied] = fake_vapi.apply_late_writes()
    assert applied.status == 201
    [file] = fake_vapi.files.values()
    assert (file.content, fake_vapi.late_writes) == (b"late", 0)
    assert fake_vapi.apply_late_writes() == []


async def test_late_writes_land_in_order_and_overwrite_what_came_since(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """A late PATCH replaces what a later PATCH wrote: Vapi has no conditional writes."""
    assistant_id = fake_vapi.add_assistant()
    model = dict(fake_vapi.assistants[assistant_id]["model"])
    fake_vapi.apply_late(1, "PATCH /assistant/*")
    with pytest.raises(httpx.RemoteProtocolError):
        await http.patch(f"/assistant/{assistant_id}", json={"model": {**model, "toolIds": ["a"]}})
    await http.patch(f"/assistant/{assistant_id}", json={"model": {**model, "toolIds": ["b"]}})
    fake_vapi.clear_faults()  # faults go; writes already held stay held
    fake_vapi.apply_late_writes()
    assert fake_vapi.assistants[assistant_id]["model"]["toolIds"] == ["a"]


async def test_a_paused_request_waits_for_resume(fake_vapi: FakeVapi) -> None:
    """pause_next holds the next matching request before it is handled, others pass."""
    pause = fake_vapi.pause_next("POST /file")
    done: list[int] = []
    async with fake_vapi.http_client(
        base_url="https://api.vapi.ai", headers={"Authorization": f"Bearer {fake_vapi.api_key}"}
    ) as http:

        async def upload() -> None:
            response = await http.post("/file", files={"file": ("a.md", b"x")})
            done.append(response.status_code)

        async with anyio.create_task_group() as tg:
            tg.start_soon(upload)
            await pause.reached()
            assert (await http.get("/file")).json() == []
            assert (done, fake_vapi.files) == ([], {})
            pause.resume()
    assert done == [201]
    assert len(fake_vapi.files) == 1
