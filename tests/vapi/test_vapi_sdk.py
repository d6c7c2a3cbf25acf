"""FakeVapi driven by Vapi's own Python SDK (``vapi-server-sdk`` 3.0.0), over a loopback socket.

The SDK sends what Vapi's API expects and reads answers with Vapi's own models, so
every call below that succeeds, and every error it raises as the SDK's own class, is
evidence that FakeVapi speaks Vapi's API and not just kbcore's idea of it. The
SDK is in the ``vapi-sdk`` dependency group (installed by ``uv sync --all-groups``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest

from kbcore.testing import FakeVapi, serve_fake_vapi

from .openapi_contract import OpenApiContract

vapi_sdk = pytest.importorskip("vapi", reason="needs the vapi-sdk dependency group")

from vapi.core.api_error import ApiError  # noqa: E402
from vapi.errors import BadRequestError, ConflictError  # noqa: E402

from vapi import AsyncVapi, KnowledgeBase, ToolRef  # noqa: E402

if TYPE_CHECKING:
    from vapi.assistants.types import UpdateAssistantDtoModel_Openai
    from vapi.tools.types import CreateToolsRequest_Query, UpdateToolsRequestBody_Query

# One worker runs them all: each worker that imports the SDK pays its import again.
pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("vapi-sdk")]

#: The SDK retries 409s and 5xx itself; a test that expects one says so.
ONCE = {"max_retries": 0}


@pytest.fixture
async def sdk(fake_vapi: FakeVapi) -> AsyncIterator[AsyncVapi]:
    """The SDK's async client, pointed at ``fake_vapi`` served on 127.0.0.1."""
    async with serve_fake_vapi(fake_vapi) as base_url, httpx.AsyncClient(timeout=10) as http:
        yield AsyncVapi(token=fake_vapi.api_key, base_url=base_url, httpx_client=http)


# The SDK's tool and assistant types are imported where they are used: pydantic builds
# their models on import (about 13 s each), which would otherwise be paid at collection,
# by every xdist worker, whether or not it runs these tests.


def create_query_tool(*file_ids: str) -> CreateToolsRequest_Query:
    from vapi.tools.types import CreateToolsRequest_Query

    return CreateToolsRequest_Query(knowledge_bases=[knowledge_base(*file_ids)] if file_ids else [])


def update_query_tool(*file_ids: str) -> UpdateToolsRequestBody_Query:
    from vapi.tools.types import UpdateToolsRequestBody_Query

    return UpdateToolsRequestBody_Query(
        knowledge_bases=[knowledge_base(*file_ids)] if file_ids else []
    )


def openai_model_pinning(tool_id: str) -> UpdateAssistantDtoModel_Openai:
    """gpt-4o with ``tool_id`` both listed and pinned at v1, beside another tool."""
    from vapi.assistants.types import UpdateAssistantDtoModel_Openai

    return UpdateAssistantDtoModel_Openai(
        model="gpt-4o",
        tool_ids=[tool_id, "calendar"],
        tool_refs=[ToolRef(tool_id=tool_id, version="v1")],
    )


def knowledge_base(*file_ids: str) -> KnowledgeBase:
    return KnowledgeBase(
        name="general",
        provider="google",
        description="Contains general information",
        file_ids=list(file_ids),
    )


async def test_files_round_trip_through_the_sdk(sdk: AsyncVapi, fake_vapi: FakeVapi) -> None:
    """Upload with purpose and metadata, read, list by purpose, delete, as the SDK does it."""
    metadata = json.dumps({"source": "kbcore"})
    uploaded = await sdk.files.create(
        file=("pricing.md", b"Pro: $99", "text/markdown"), purpose="assistant", metadata=metadata
    )
    chat = await sdk.files.create(
        file=("chat.md", b"hi", "text/plain"), purpose="composer-attachment"
    )
    fetched = await sdk.files.get(uploaded.id)
    assert (fetched.name, fetched.bytes, fetched.purpose) == ("pricing.md", 8, "assistant")
    assert fetched.metadata == {"source": "kbcore"}
    assert [f.id for f in await sdk.files.list()] == [uploaded.id]
    assert [f.id for f in await sdk.files.list(purpose="assistant")] == [uploaded.id]
    deleted = await sdk.files.delete(uploaded.id)
    assert deleted.id == uploaded.id
    with pytest.raises(ApiError) as missing:
        await sdk.files.get(uploaded.id, request_options=ONCE)
    assert missing.value.status_code == 404
    with pytest.raises(BadRequestError):
        await sdk.files.create(file=("x" * 41 + ".md", b"x", "text/markdown"))
    assert list(fake_vapi.files) == [chat.id]


async def test_query_tools_round_trip_through_the_sdk(sdk: AsyncVapi, fake_vapi: FakeVapi) -> None:
    """Create, get, list with the SDK's float limit and date bounds, update, delete."""
    created = await sdk.tools.create(request=create_query_tool("f1"))
    assert created.type == "query"
    assert created.latest_version == "v1"
    updated = await sdk.tools.update(created.id, request=update_query_tool("f2"))
    assert updated.latest_version == "v2"
    fetched = await sdk.tools.get(created.id)
    assert fetched.knowledge_bases is not None
    assert fetched.knowledge_bases[0].file_ids == ["f2"]
    since = datetime.now(UTC) - timedelta(hours=1)
    until = datetime.now(UTC) + timedelta(hours=1)
    listed = await sdk.tools.list(limit=10.0, created_at_ge=since, updated_at_le=until)
    assert [tool.id for tool in listed] == [created.id]
    assert await sdk.tools.list(created_at_gt=until) == []
    [list_request] = [r for r in fake_vapi.requests_to("GET /tool") if "limit" in r.query]
    assert "limit=10.0" in list_request.query
    assert (await sdk.tools.delete(created.id)).id == created.id


@pytest.mark.parametrize("code", ["tool_write_conflict", "tool_pinned"])
async def test_a_tool_conflict_is_the_sdks_conflict_error_body(
    sdk: AsyncVapi, fake_vapi: FakeVapi, code: str
) -> None:
    """The 409 body parses as the SDK's ConflictErrorBody, discriminated by error."""
    created = await sdk.tools.create(request=create_query_tool())
    fake_vapi.conflict_next(1, error=code)
    with pytest.raises(ConflictError) as caught:
        await sdk.tools.update(
            created.id,
            request=update_query_tool(),
            request_options=ONCE,
        )
    assert caught.value.status_code == 409
    assert caught.value.body["error"] == code


async def test_assistants_round_trip_through_the_sdk(
    sdk: AsyncVapi, fake_vapi: FakeVapi, openapi: OpenApiContract
) -> None:
    """A full-model PATCH with a pin: the pin wins over toolIds, as the SDK's docs say."""
    tool = await sdk.tools.create(request=create_query_tool())
    assistant_id = fake_vapi.add_assistant(name="Inbound")
    assistant = await sdk.assistants.get(assistant_id)
    assert assistant.name == "Inbound"
    updated = await sdk.assistants.update(
        assistant_id,
        model=openai_model_pinning(tool.id),
    )
    assert updated.model is not None
    stored = fake_vapi.assistants[assistant_id]["model"]
    assert (stored["toolIds"], stored["toolRefs"]) == (
        ["calendar"],
        [{"toolId": tool.id, "version": "v1"}],
    )
    with pytest.raises(ConflictError):
        await sdk.tools.delete(tool.id, request_options=ONCE)
    assert [p for r in fake_vapi.requests for p in openapi.problems(r)] == []
