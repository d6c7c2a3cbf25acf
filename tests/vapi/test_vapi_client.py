"""VapiClient's operations against FakeVapi, when Vapi answers."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from kbcore import ValidationError, VapiClient, VapiError
from kbcore.testing import FakeVapi
from kbcore.vapi import (
    KnowledgeBaseGroup,
    VapiAuthenticationError,
    VapiBadRequest,
    VapiConflict,
    VapiNotFound,
)

pytestmark = pytest.mark.anyio

GENERAL = KnowledgeBaseGroup.for_category("general", ["f1"])


def assistant_patches(fake: FakeVapi) -> list[Any]:
    return [r.json() for r in fake.requests_to("PATCH /assistant/*")]


async def test_upload_sends_a_file_part_and_returns_the_file(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """upload_file posts one multipart part named file and reads back a VapiFile."""
    uploaded = await vapi.upload_file("pricing.md", "Plans: $99 ✓")
    assert (uploaded.name, uploaded.status, uploaded.mimetype) == (
        "pricing.md",
        "processing",
        "text/markdown",
    )
    assert uploaded.size == len("Plans: $99 ✓".encode())
    assert fake_vapi.files[uploaded.id].content == "Plans: $99 ✓".encode()


async def test_a_long_name_is_cut_to_40_characters_keeping_its_extension(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """The name Vapi stores fits its limit and still ends in .md."""
    uploaded = await vapi.upload_file("objection-handling-for-enterprise-customers.md", b"x")
    assert uploaded.name == "objection-handling-for-enterprise-cus.md"
    assert fake_vapi.files[uploaded.id].name == uploaded.name


async def test_upload_metadata_travels_as_a_json_string(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """metadata is sent as Vapi's JSON-encoded form field and comes back as an object."""
    uploaded = await vapi.upload_file("a.md", b"x", metadata={"document_id": "d1"})
    assert uploaded.metadata == {"document_id": "d1"}


async def test_oversized_metadata_is_refused_before_any_request(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """More than 4096 characters of metadata is a ValidationError and nothing is sent."""
    with pytest.raises(ValidationError, match="metadata"):
        await vapi.upload_file("a.md", b"x", metadata={"k": "v" * 5000})
    assert fake_vapi.requests == []


async def test_files_are_read_back_and_listed(vapi: VapiClient) -> None:
    """get_file and list_files return the uploaded files, processing finished."""
    first = await vapi.upload_file("a.md", b"1")
    second = await vapi.upload_file("b.txt", b"2")
    assert (await vapi.get_file(first.id)).status == "done"
    assert {f.id for f in await vapi.list_files()} == {first.id, second.id}


async def test_deleting_a_file_twice_is_not_an_error(vapi: VapiClient, fake_vapi: FakeVapi) -> None:
    """The first delete reports True, the second (already gone) False."""
    uploaded = await vapi.upload_file("a.md", b"x")
    assert await vapi.delete_file(uploaded.id) is True
    assert await vapi.delete_file(uploaded.id) is False
    assert fake_vapi.files == {}


async def test_getting_a_missing_file_is_vapi_not_found(vapi: VapiClient) -> None:
    """A 404 on a read is VapiNotFound with Vapi's words kept apart."""
    with pytest.raises(VapiNotFound) as caught:
        await vapi.get_file(str(uuid.uuid4()))
    assert caught.value.status_code == 404
    assert caught.value.vapi_message == "File not found"


async def test_a_query_tool_is_created_with_grouped_knowledge_bases(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """create_query_tool sends type query and every group, and no name or function."""
    groups = [GENERAL, KnowledgeBaseGroup.for_category("operations", ["f2", "f3"])]
    tool = await vapi.create_query_tool(groups)
    assert (tool.knowledge_bases, tool.latest_version) == (tuple(groups), "v1")
    [sent] = fake_vapi.requests_to("POST /tool")
    assert sorted(sent.json()) == ["knowledgeBases", "type"]
    stored = fake_vapi.tools[tool.id]
    assert stored["type"] == "query"
    assert stored["knowledgeBases"][1] == {
        "provider": "google",
        "name": "operations",
        "description": "Contains operations information",
        "fileIds": ["f2", "f3"],
    }


async def test_a_query_tool_is_updated_in_place(vapi: VapiClient, fake_vapi: FakeVapi) -> None:
    """update_query_tool keeps the id and replaces the knowledge bases."""
    tool = await vapi.create_query_tool([GENERAL])
    replacement = KnowledgeBaseGroup.for_category("general", ["f9"])
    updated = await vapi.update_query_tool(tool.id, [replacement])
    assert (updated.id, updated.file_ids, updated.latest_version) == (tool.id, ("f9",), "v2")
    assert (await vapi.get_query_tool(tool.id)).knowledge_bases == (replacement,)
    assert len(fake_vapi.tools) == 1


async def test_a_tool_that_is_not_a_query_tool_is_refused(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """get_query_tool on a function tool raises instead of returning a wrong value."""
    tool = await vapi.create_query_tool([GENERAL])
    fake_vapi.tools[tool.id]["type"] = "function"
    with pytest.raises(VapiError, match="could not read"):
        await vapi.get_query_tool(tool.id)


async def test_query_tools_are_listed_without_other_tools(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """list_query_tools returns the org's query tools and leaves other tool types out."""
    first = await vapi.create_query_tool([GENERAL])
    second = await vapi.create_query_tool([GENERAL])
    function_tool = await vapi.create_query_tool([GENERAL])
    fake_vapi.tools[function_tool.id]["type"] = "function"
    listed = await vapi.list_query_tools()
    assert {tool.id for tool in listed} == {first.id, second.id}
    assert fake_vapi.requests_to("GET /tool")[-1].query == "limit=1000"


async def test_deleting_a_tool_twice_is_not_an_error(vapi: VapiClient) -> None:
    """delete_tool is True, then False once the tool is gone."""
    tool = await vapi.create_query_tool([GENERAL])
    assert await vapi.delete_tool(tool.id) is True
    assert await vapi.delete_tool(tool.id) is False


async def test_a_pinned_tool_is_a_conflict_sent_once(vapi: VapiClient, fake_vapi: FakeVapi) -> None:
    """tool_pinned is raised as VapiConflict after a single request: no retry."""
    tool = await vapi.create_query_tool([GENERAL])
    fake_vapi.pin_tool(tool.id)
    with pytest.raises(VapiConflict) as caught:
        await vapi.delete_tool(tool.id)
    assert caught.value.error == "tool_pinned"
    assert len(fake_vapi.requests_to("DELETE /tool/*")) == 1


async def test_an_invalid_tool_is_a_bad_request_with_vapis_list_joined(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """A 400 is VapiBadRequest; the list of messages becomes one vapi_message."""
    bad = KnowledgeBaseGroup(name="x", description="y", file_ids=["f1"], provider="trieve")
    with pytest.raises(VapiBadRequest) as caught:
        await vapi.create_query_tool([bad])
    assert caught.value.vapi_message == (
        "knowledgeBases.0.provider must be one of the following values: google"
    )
    assert len(fake_vapi.requests) == 1


async def test_a_wrong_key_is_an_authentication_error_sent_once(
    connect: Any, fake_vapi: FakeVapi
) -> None:
    """A 401 is VapiAuthenticationError, not retried, with a message fit for users."""
    async with connect(api_key="sk-wrong") as vapi:
        with pytest.raises(VapiAuthenticationError) as caught:
            await vapi.list_files()
    assert str(caught.value) == (
        "Vapi rejected the API key; check the organisation's Vapi private key"
    )
    assert caught.value.vapi_message is not None
    assert caught.value.vapi_message.startswith("Invalid Key.")
    assert len(fake_vapi.requests) == 1


async def test_an_assistant_is_read_with_its_tool_ids(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """get_assistant returns the model whole and its toolIds."""
    assistant_id = fake_vapi.add_assistant(
        model={"provider": "openai", "model": "gpt-4o", "toolIds": ["t1", "t2"]}
    )
    assistant = await vapi.get_assistant(assistant_id)
    assert assistant.tool_ids == ("t1", "t2")
    assert assistant.model is not None
    assert assistant.model["provider"] == "openai"


async def test_attach_keeps_other_tool_ids_and_model_fields(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """The PATCH carries the full model: other tools, messages and settings survive."""
    model = {
        "provider": "openai",
        "model": "gpt-4o",
        "temperature": 0.2,
        "messages": [{"role": "system", "content": "Sell well."}],
        "toolIds": ["transfer-call"],
    }
    assistant_id = fake_vapi.add_assistant(model=model, firstMessage="Hi!")
    result = await vapi.attach_tools(assistant_id, ["kb-tool"])
    assert (result.changed, result.added) == (True, ("kb-tool",))
    stored = fake_vapi.assistants[assistant_id]
    assert stored["model"] == {**model, "toolIds": ["transfer-call", "kb-tool"]}
    assert stored["firstMessage"] == "Hi!"
    assert assistant_patches(fake_vapi) == [{"model": stored["model"]}]


async def test_attach_is_idempotent(vapi: VapiClient, fake_vapi: FakeVapi) -> None:
    """Attaching what is already attached reads the assistant and sends no PATCH."""
    assistant_id = fake_vapi.add_assistant()
    await vapi.attach_tools(assistant_id, ["kb-tool"])
    again = await vapi.attach_tools(assistant_id, ["kb-tool", "kb-tool"])
    assert again.changed is False
    assert again.assistant.tool_ids == ("kb-tool",)
    assert len(assistant_patches(fake_vapi)) == 1


async def test_detach_removes_only_the_ids_asked(vapi: VapiClient, fake_vapi: FakeVapi) -> None:
    """detach_tools drops the given ids, keeps the rest, and skips the PATCH when absent."""
    assistant_id = fake_vapi.add_assistant(
        model={"provider": "openai", "model": "gpt-4o", "toolIds": ["a", "old", "b"]}
    )
    result = await vapi.detach_tools(assistant_id, ["old", "never-there"])
    assert (result.removed, result.assistant.tool_ids) == (("old",), ("a", "b"))
    assert (await vapi.detach_tools(assistant_id, ["old"])).changed is False
    assert len(assistant_patches(fake_vapi)) == 1


async def test_attach_and_detach_happen_in_one_patch(vapi: VapiClient, fake_vapi: FakeVapi) -> None:
    """Swapping a stale tool for the current one is one PATCH."""
    assistant_id = fake_vapi.add_assistant(
        model={"provider": "openai", "model": "gpt-4o", "toolIds": ["stale", "other"]}
    )
    result = await vapi.update_assistant_tools(assistant_id, attach=["current"], detach=["stale"])
    assert result.assistant.tool_ids == ("other", "current")
    assert len(assistant_patches(fake_vapi)) == 1


async def test_an_assistant_without_a_model_cannot_get_tools(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """Without a model there is nothing valid to PATCH: a clear error, no request."""
    assistant_id = fake_vapi.add_assistant()
    del fake_vapi.assistants[assistant_id]["model"]
    with pytest.raises(VapiError, match="has no model"):
        await vapi.attach_tools(assistant_id, ["kb-tool"])
    assert assistant_patches(fake_vapi) == []


@pytest.mark.parametrize("object_id", ["", "../file"])
async def test_ids_cannot_reach_another_endpoint(
    vapi: VapiClient, fake_vapi: FakeVapi, object_id: str
) -> None:
    """An empty id is refused; a path-like id stays one escaped path segment."""
    with pytest.raises((ValidationError, VapiBadRequest)):
        await vapi.get_file(object_id)
    assert all(r.path.startswith("/file/") for r in fake_vapi.requests)


async def test_a_client_needs_a_context_or_an_http_client() -> None:
    """Calling before `async with` without an injected client says what to do."""
    with pytest.raises(RuntimeError, match="async with"):
        await VapiClient("k").list_files()


async def test_an_injected_http_client_is_left_open(fake_vapi: FakeVapi) -> None:
    """Leaving the VapiClient context does not close a client the caller owns."""
    async with fake_vapi.http_client() as http:
        async with VapiClient(fake_vapi.api_key, http_client=http) as vapi:
            await vapi.list_files()
        assert not http.is_closed


def test_the_key_stays_out_of_the_repr() -> None:
    """repr shows the base URL and *** for the key."""
    client = VapiClient("sk-live-secret", base_url="https://vapi.example/")
    assert repr(client) == (
        "VapiClient(base_url='https://vapi.example', api_key='***', timeout=30.0)"
    )


async def test_answers_that_are_not_vapis_shape_are_an_error(fake_vapi: FakeVapi) -> None:
    """A 200 whose body is not JSON or lacks fields is a VapiError, not a crash."""

    async def garbage(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps({"id": 1}).encode()})

    transport = httpx.ASGITransport(app=garbage)
    async with httpx.AsyncClient(transport=transport) as http:
        vapi = VapiClient("k", http_client=http)
        with pytest.raises(VapiError, match="could not read"):
            await vapi.get_file(str(uuid.uuid4()))
