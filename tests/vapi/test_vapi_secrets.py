"""The API key never reaches a log line, an exception, or a repr, whatever fails."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from kbcore import VapiClient, VapiError
from kbcore.testing import FakeVapi
from kbcore.vapi import KnowledgeBaseGroup, RetryPolicy

RIGHT_KEY = "sk-live-0f9e8d7c-right-key-6b5a4"
WRONG_KEY = "sk-live-1a2b3c4d-wrong-key-5e6f7"
POLICY = RetryPolicy(attempts=3, timeout=100, retry_after_cap=5)


def chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every error it was raised from or during."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]


def exception_texts(error: BaseException) -> Iterator[str]:
    yield "".join(traceback.format_exception(error))
    for link in chain(error):
        yield str(link)
        yield repr(link)
        yield repr(vars(link))


async def fail_in_every_way(fake: FakeVapi, http: httpx.AsyncClient) -> list[VapiError]:
    """Run one call into each kind of failure and collect what was raised."""
    errors: list[VapiError] = []
    wrong = VapiClient(WRONG_KEY, http_client=http, retry_policy=POLICY, timeout=10)
    right = VapiClient(RIGHT_KEY, http_client=http, retry_policy=POLICY, timeout=10)
    tool = await right.create_query_tool([KnowledgeBaseGroup.for_category("general", [])])
    fake.pin_tool(tool.id)
    failing_calls: list[tuple[Any, ...]] = [
        (None, wrong.list_files()),
        (None, right.get_file("00000000-0000-0000-0000-000000000000")),
        (None, right.get_file("not-a-uuid")),
        (None, right.delete_tool(tool.id)),
        (("fail", 429, 3), right.list_files()),
        (("fail", 503, 3), right.list_files()),
        (("drop", 0, 3), right.list_files()),
        (("latency", 60, 3), right.list_files()),
    ]
    for fault, call in failing_calls:
        if fault is not None:
            kind, status, count = fault
            if kind == "fail":
                fake.fail_next(count, status=status, retry_after=1)
            elif kind == "drop":
                fake.drop_next(count)
            else:
                fake.add_latency(status, count=count)
        with pytest.raises(VapiError) as caught:
            await call
        errors.append(caught.value)
    return errors


@pytest.mark.virtual_time
async def test_no_key_in_logs_or_exceptions_across_failing_calls(
    caplog: pytest.LogCaptureFixture, retries: list[Any]
) -> None:
    """Across auth, client, server, rate-limit, drop and timeout failures, no key leaks."""
    fake = FakeVapi(RIGHT_KEY)
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        async with fake.http_client() as http:
            errors = await fail_in_every_way(fake, http)
    assert len(errors) == 8
    assert len({type(error) for error in errors}) >= 6
    texts = [
        *(repr(event) for event in events),
        *(record.getMessage() + repr(record.args) for record in caplog.records),
        *(text for error in errors for text in exception_texts(error)),
        *(repr(request) for request in fake.requests),
    ]
    assert events
    assert caplog.records
    for key in (RIGHT_KEY, WRONG_KEY):
        assert [text for text in texts if key in text] == []


@pytest.mark.virtual_time
async def test_no_httpx_error_travels_with_a_vapi_error(retries: list[Any]) -> None:
    """httpx errors hold the request and its Authorization header: none is chained on."""
    fake = FakeVapi(RIGHT_KEY)
    fake.drop_next(10)
    async with fake.http_client() as http:
        client = VapiClient(RIGHT_KEY, http_client=http, retry_policy=POLICY)
        with pytest.raises(VapiError) as caught:
            await client.list_files()
    assert [e for e in chain(caught.value) if isinstance(e, httpx.HTTPError)] == []


def test_the_client_repr_hides_the_key() -> None:
    """Neither repr nor str of a client shows the key."""
    client = VapiClient(RIGHT_KEY)
    assert RIGHT_KEY not in repr(client)
    assert RIGHT_KEY not in str(client)
