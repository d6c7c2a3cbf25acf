"""Contract: every request the client sends and every answer FakeVapi gives keep Vapi's spec.

The spec is ``openapi-kb-subset.json`` (Vapi's own OpenAPI document cut down to the
endpoints a sync uses, with ``GET /tool`` added from Vapi's SDK and ``GET /assistant``
from its full spec). Request bodies are held
to Vapi's whitelist: no unknown properties. Whole syncs, with their failures, are checked
too, so that every call kbcore makes is covered.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kbcore import VapiClient, VapiError
from kbcore.testing import FakeVapi
from kbcore.vapi import KnowledgeBaseGroup, RetryPolicy

from .openapi_contract import OpenApiContract

pytestmark = pytest.mark.anyio

Scenario = Callable[[VapiClient, FakeVapi], Awaitable[None]]


async def files(vapi: VapiClient, fake: FakeVapi) -> None:
    uploaded = await vapi.upload_file("pricing.md", "Plans: $99", metadata={"doc": "d1"})
    await vapi.upload_file("chat.md", "Hi", purpose="composer-attachment")
    await vapi.get_file(uploaded.id)
    await vapi.list_files()
    await vapi.list_files(purpose="assistant")
    fake.file_list_needs_purpose = True
    await vapi.list_files()  # a 400 naming purpose, then the list of the upload purpose
    await vapi.delete_file(uploaded.id)
    await vapi.delete_file(uploaded.id)


async def tools(vapi: VapiClient, fake: FakeVapi) -> None:
    groups = [KnowledgeBaseGroup.for_category("general", [str(uuid.uuid4())])]
    tool = await vapi.create_query_tool(groups)
    await vapi.get_query_tool(tool.id)
    await vapi.list_query_tools()
    await vapi.update_query_tool(tool.id, [])
    for code in ("tool_write_conflict", "tool_pinned"):
        fake.conflict_next(1, error=code)
        with pytest.raises(VapiError):
            await vapi.update_query_tool(tool.id, groups)
    pinned = await vapi.create_query_tool(groups)
    fake.pin_tool(pinned.id)
    with pytest.raises(VapiError):
        await vapi.update_query_tool(pinned.id, [])
    with pytest.raises(VapiError):
        await vapi.delete_tool(pinned.id)
    await vapi.delete_tool(tool.id)
    await vapi.delete_tool(tool.id)


async def assistants(vapi: VapiClient, fake: FakeVapi) -> None:
    pinned_tool = str(uuid.uuid4())
    assistant_id = fake.add_assistant(
        model={
            "provider": "vapi",
            "toolRefs": [{"toolId": pinned_tool, "version": "v1"}],
            "messages": [{"role": "system", "content": "Search the knowledge base first."}],
        }
    )
    assert [a.id for a in await vapi.list_assistants()] == [assistant_id]
    await vapi.list_assistants(limit=10)
    await vapi.attach_tools(assistant_id, ["kb-tool", pinned_tool])
    await vapi.update_assistant_tools(assistant_id, attach=["kb-tool-2"], detach=["kb-tool"])
    with pytest.raises(VapiError):
        await vapi.get_assistant(str(uuid.uuid4()))


async def failures(vapi: VapiClient, fake: FakeVapi) -> None:
    fake.fail_next(1, "GET /file", status=429, retry_after=3)
    fake.fail_next(1, "GET /file", status=429, retry_after=3, retry_after_form="date")
    await vapi.list_files()
    fake.fail_next(1, "POST /tool", status=500)
    fake.fail_next(1, "POST /tool", status=503)
    await vapi.create_query_tool([])
    fake.fail_next(1, "POST /tool", status=400)
    with pytest.raises(VapiError):
        await vapi.create_query_tool([])
    fake.limit_rate(1, retry_after=False)
    await vapi.list_files()
    with pytest.raises(VapiError):
        await vapi.list_files()


@pytest.mark.usefixtures("no_backoff")
@pytest.mark.parametrize(
    ("scenario", "operations"),
    [
        (
            files,
            {
                "FileController_create",
                "FileController_findOne",
                "FileController_findAll",
                "FileController_remove",
            },
        ),
        (
            tools,
            {
                "ToolController_create",
                "ToolController_findAll",
                "ToolController_findOne",
                "ToolController_update",
                "ToolController_remove",
            },
        ),
        (
            assistants,
            {
                "AssistantController_findAll",
                "AssistantController_findOne",
                "AssistantController_update",
            },
        ),
        (failures, {"FileController_findAll", "ToolController_create"}),
    ],
)
async def test_every_exchange_keeps_the_contract(
    vapi: VapiClient,
    fake_vapi: FakeVapi,
    openapi: OpenApiContract,
    scenario: Scenario,
    operations: set[str],
) -> None:
    """The client's requests and the fake's answers, errors included, all match the spec."""
    await scenario(vapi, fake_vapi)
    used = {openapi.operation(r.method, r.path)[0]["operationId"] for r in fake_vapi.requests}
    assert used == operations
    assert [p for r in fake_vapi.requests for p in openapi.problems(r)] == []


async def test_a_wrong_key_answer_keeps_the_contract(
    connect: Any, fake_vapi: FakeVapi, openapi: OpenApiContract
) -> None:
    """Vapi's 401 body is a valid error body."""
    async with connect(api_key="wrong", policy=RetryPolicy(attempts=1)) as vapi:
        with pytest.raises(VapiError):
            await vapi.list_files()
    [record] = fake_vapi.requests
    assert (record.status, openapi.problems(record)) == (401, [])


@pytest.mark.parametrize(
    ("method", "path", "body", "flagged"),
    [
        ("POST", "/tool", {"type": "query", "toolIds": []}, "'toolIds' was unexpected"),
        (
            "POST",
            "/tool",
            {"type": "query", "function": {"name": "kb"}},
            "'function' was unexpected",
        ),
        ("PATCH", "/tool/{tool}", {"type": "query", "function": {}}, "'function' was unexpected"),
        ("POST", "/tool", {"knowledgeBases": []}, "'type' is a required property"),
        ("PATCH", "/file/{id}", {"name": "x" * 41}, "is too long"),
        ("PATCH", "/assistant/{assistant}", {"toolIds": []}, "'toolIds' was unexpected"),
        ("PATCH", "/assistant/{assistant}", {"model": {"provider": "openai"}}, "'model' is a"),
        (
            "PATCH",
            "/assistant/{assistant}",
            {"model": {"provider": "openai", "model": "gpt-4o", "toolRefs": [{"toolId": "x"}]}},
            "'version' is a required property",
        ),
    ],
)
async def test_the_contract_check_catches_what_vapi_rejects(
    fake_vapi: FakeVapi,
    openapi: OpenApiContract,
    method: str,
    path: str,
    body: dict[str, Any],
    flagged: str,
) -> None:
    """The checker is not vacuous: bodies Vapi refuses are flagged, as the fake refuses them."""
    headers = {"Authorization": f"Bearer {fake_vapi.api_key}"}
    async with fake_vapi.http_client(headers=headers) as http:
        uploaded = await http.post("http://vapi/file", files={"file": ("a.md", b"x")})
        tool = await http.post("http://vapi/tool", json={"type": "query"})
        target = path.format(
            id=uploaded.json()["id"], tool=tool.json()["id"], assistant=fake_vapi.add_assistant()
        )
        response = await http.request(method, f"http://vapi{target}", json=body)
    assert response.status_code == 400
    assert flagged in " ".join(openapi.problems(fake_vapi.requests[-1]))


@settings(max_examples=25, deadline=None)
@given(
    filename=st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=80)
    .map(str.strip)
    .filter(lambda name: name and "/" not in name and "\\" not in name)
    .map(lambda name: name + ".md"),
    content=st.binary(max_size=300),
    categories=st.dictionaries(
        st.sampled_from(["products_services", "operations", "ai_guidelines", "general"]),
        st.lists(st.uuids().map(str), max_size=3),
        max_size=4,
    ),
)
async def test_any_upload_and_tool_keep_the_contract(
    openapi: OpenApiContract, filename: str, content: bytes, categories: dict[str, list[str]]
) -> None:
    """Whatever the file name, bytes and file grouping, the exchanges stay valid."""
    fake = FakeVapi("k")
    async with fake.http_client() as http:
        vapi = VapiClient("k", http_client=http)
        await vapi.upload_file(filename, content)
        groups = [KnowledgeBaseGroup.for_category(c, ids) for c, ids in categories.items()]
        await vapi.create_query_tool(groups)
    assert [p for r in fake.requests for p in openapi.problems(r)] == []
    assert [r.status for r in fake.requests] == [201, 201]
