"""Hostile input through VapiClient: its constructor, uploads and ids, against FakeVapi.

As in ``test_hostile_input``: a ``kbcore.KbError``, or a call that did what it was
asked.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import pytest
from hypothesis import given

from kbcore import KbError, VapiClient
from kbcore.testing import FakeVapi, strategies
from kbcore.vapi import RetryPolicy
from kbcore.vapi._uploads import vapi_file_name

pytestmark = pytest.mark.anyio

hostile = strategies.hostile_values()


@pytest.mark.parametrize(
    "argument",
    [
        "api_key",
        "base_url",
        "timeout",
        "retry_policy",
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
        "filename",
        "content",
        "metadata",
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
    ["get_file", "delete_file", "get_query_tool", "delete_tool", "get_assistant"],
)
@given(value=hostile)
async def test_vapi_ids(method: str, value: object) -> None:
    """Any id given to a Vapi call: a KbError or an answer, never a crash."""
    fake = FakeVapi()
    async with fake.http_client() as http:
        client = VapiClient(fake.api_key, http_client=http, retry_policy=RetryPolicy(attempts=1))
        with suppress(KbError):
            await getattr(client, method)(value)
