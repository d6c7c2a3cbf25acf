"""Hostile input through VapiClient: its constructor, uploads and ids, against FakeVapi.

As in ``test_hostile_input``: a ``kbcore.KbError``, or a call that did what it was
asked. Today each of these finds bugs (marked strict xfail, with what they raise).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import pytest
from hypothesis import given

from kbcore import KbError, VapiClient
from kbcore.testing import FakeVapi, strategies
from kbcore.vapi import RetryPolicy, vapi_file_name

pytestmark = pytest.mark.anyio

hostile = strategies.hostile_values()


def vapi_bug(reason: str) -> pytest.MarkDecorator:
    """A known bug of kbcore.vapi: the test fails until it is fixed, then must be unmarked."""
    return pytest.mark.xfail(strict=True, reason=f"kbcore.vapi bug: {reason}")


@pytest.mark.parametrize(
    "argument",
    [
        pytest.param(
            "api_key", marks=vapi_bug("a non-ASCII key raises UnicodeEncodeError (httpx header)")
        ),
        pytest.param(
            "base_url",
            marks=vapi_bug(
                "None or bytes raise AttributeError or TypeError; '', '\\x7f' or a surrogate "
                "raise ValueError, httpx.InvalidURL or UnicodeEncodeError"
            ),
        ),
        pytest.param(
            "timeout", marks=vapi_bug("False or a str raise ValueError or TypeError (attrs)")
        ),
        pytest.param(
            "retry_policy", marks=vapi_bug("a non-RetryPolicy raises AttributeError when used")
        ),
    ],
)
@given(value=hostile)
async def test_vapi_client_construction(argument: str, value: object) -> None:
    """VapiClient(...): a KbError when built or used, or a client that uploads correctly."""
    fake = FakeVapi()
    arguments: dict[str, Any] = {
        "api_key": fake.api_key,
        "base_url": "https://api.vapi.ai",
        "timeout": 5.0,
        "retry_policy": RetryPolicy(attempts=1),
    }
    arguments[argument] = value
    async with fake.http_client() as http:
        try:
            async with VapiClient(http_client=http, **arguments) as client:
                uploaded = await client.upload_file("a.md", "x")
        except KbError:
            return
    assert fake.files[uploaded.id].content == b"x"


@pytest.mark.parametrize(
    "argument",
    [
        pytest.param(
            "filename",
            marks=vapi_bug(
                "a non-str raises AttributeError; control characters and '\"' arrive "
                "percent-encoded (httpx multipart), so the name on Vapi differs"
            ),
        ),
        pytest.param(
            "content",
            marks=vapi_bug("a surrogate raises UnicodeEncodeError; other types AttributeError"),
        ),
        pytest.param("metadata", marks=vapi_bug("non-JSON values raise TypeError (json.dumps)")),
    ],
)
@given(value=hostile)
async def test_vapi_upload(argument: str, value: object) -> None:
    """VapiClient.upload_file: a KbError, or the file as given."""
    fake = FakeVapi()
    arguments: dict[str, Any] = {"filename": "a.md", "content": "x", "metadata": None}
    arguments[argument] = value
    async with fake.http_client() as http:
        client = VapiClient(fake.api_key, http_client=http, retry_policy=RetryPolicy(attempts=1))
        try:
            uploaded = await client.upload_file(**arguments)
        except KbError:
            return
    stored = fake.files[uploaded.id]
    content = arguments["content"]
    assert stored.content == (content.encode() if isinstance(content, str) else content)
    assert stored.name == vapi_file_name(arguments["filename"])


@pytest.mark.parametrize(
    "method",
    [
        pytest.param(
            method,
            marks=vapi_bug("a surrogate raises UnicodeEncodeError, a non-str TypeError (quote)"),
        )
        for method in ("get_file", "delete_file", "get_query_tool", "delete_tool", "get_assistant")
    ],
)
@given(value=hostile)
async def test_vapi_ids(method: str, value: object) -> None:
    """Any id given to a Vapi call: a KbError or an answer, never a crash."""
    fake = FakeVapi()
    async with fake.http_client() as http:
        client = VapiClient(fake.api_key, http_client=http, retry_policy=RetryPolicy(attempts=1))
        with suppress(KbError):
            await getattr(client, method)(value)
