"""An upload goes on the wire as one piece of known length, the same bytes on every try."""

from __future__ import annotations

import httpx
import pytest

from kbcore import VapiClient
from kbcore.testing import FakeVapi
from kbcore.vapi._uploads import encoded_form

from .conftest import API_KEY

pytestmark = pytest.mark.anyio


async def test_an_upload_is_one_piece_with_its_length(fake_vapi: FakeVapi) -> None:
    """The form is encoded once: one chunk, its Content-Length, no chunked encoding."""
    pieces: list[list[bytes]] = []

    async def note(request: httpx.Request) -> None:
        if request.method == "POST":
            pieces.append([chunk async for chunk in request.stream])  # type: ignore[union-attr]
            assert request.headers["content-length"] == str(len(b"".join(pieces[-1])))
            assert "transfer-encoding" not in request.headers

    async with (
        fake_vapi.http_client(event_hooks={"request": [note]}) as http,
        VapiClient(API_KEY, http_client=http) as vapi,
    ):
        uploaded = await vapi.upload_file("prices.md", "Plans: $99 ✓", metadata={"a": "b"})
    assert [len(chunks) for chunks in pieces] == [1]
    assert fake_vapi.files[uploaded.id].content == "Plans: $99 ✓".encode()
    assert uploaded.metadata == {"a": "b"}


@pytest.mark.usefixtures("no_backoff")
async def test_a_retried_upload_sends_the_same_form_again(fake_vapi: FakeVapi) -> None:
    fake_vapi.fail_next(2, "POST /file", status=503)
    async with fake_vapi.http_client() as http, VapiClient(API_KEY, http_client=http) as vapi:
        uploaded = await vapi.upload_file("prices.md", b"Plans: $99")
    bodies = [request.body for request in fake_vapi.requests_to("POST /file")]
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    assert b"Plans: $99" in bodies[0]
    assert list(fake_vapi.files) == [uploaded.id]


@pytest.mark.parametrize("filename", ["prices.md", 'a "quoted" \\ name.md'])
def test_the_form_is_the_one_httpx_would_encode(filename: str) -> None:
    """Byte for byte, boundary aside: what any multipart parser (and Vapi) already reads."""
    fields = {"purpose": "assistant", "metadata": '{"a":"b ✓"}'}
    body, content_type = encoded_form(fields, filename, "Plans: $99 ✓".encode())
    files = {"file": (filename, "Plans: $99 ✓".encode(), "text/markdown")}
    reference = httpx.Request("POST", "http://vapi.invalid/file", data=fields, files=files)
    ours = body.replace(content_type.split("boundary=")[1].encode(), b"BOUNDARY")
    theirs = reference.read().replace(
        reference.headers["content-type"].split("boundary=")[1].encode(), b"BOUNDARY"
    )
    assert ours == theirs
    assert content_type.startswith("multipart/form-data; boundary=")
