"""FakeVapi as strict as Vapi's spec of 2026-08 and its SDK: whitelists, pins, versions, lists."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from kbcore.testing import FakeVapi
from kbcore.testing.fake_vapi._assistant_validation import ASSISTANT_FIELDS

pytestmark = pytest.mark.anyio

SPEC = json.loads((Path(__file__).parent / "openapi-kb-subset.json").read_text())
KB = {"provider": "google", "name": "general", "description": "Contains general information"}


async def create_tool(http: httpx.AsyncClient, file_ids: list[str]) -> Any:
    response = await http.post(
        "/tool", json={"type": "query", "knowledgeBases": [{**KB, "fileIds": file_ids}]}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_assistant_whitelist_is_the_specs() -> None:
    """The fake accepts exactly UpdateAssistantDTO's top-level properties, typed as the spec."""
    properties = SPEC["components"]["schemas"]["UpdateAssistantDTO"]["properties"]
    assert list(ASSISTANT_FIELDS) == list(properties)
    typed = {name: kind for name, kind in ASSISTANT_FIELDS.items() if kind is not None}
    assert {name: typed[name] for name in typed if "type" in properties[name]} == {
        name: schema["type"] for name, schema in properties.items() if "type" in schema
    }


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_a_query_tool_with_a_function_is_refused(
    http: httpx.AsyncClient, fake_vapi: FakeVapi, method: str
) -> None:
    """The spec's query tool DTOs have had no function since 2025-07: a 400 names it."""
    body = {"type": "query", "function": {"name": "kb"}, "knowledgeBases": []}
    path = "/tool" if method == "POST" else f"/tool/{(await create_tool(http, []))['id']}"
    response = await http.request(method, path, json=body)
    assert response.status_code == 400
    assert response.json()["message"] == ["property function should not exist"]


async def test_an_assistant_patch_with_an_unknown_field_is_refused(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """PATCH /assistant is whitelisted too, and checks the types of known fields."""
    assistant_id = fake_vapi.add_assistant()
    response = await http.patch(
        f"/assistant/{assistant_id}", json={"toolIds": [], "firstMessage": 3}
    )
    assert response.json()["message"] == [
        "property toolIds should not exist",
        "firstMessage must be a string",
    ]


@pytest.mark.parametrize(
    "model",
    [
        {"provider": "vapi"},
        {"provider": "custom-llm", "model": "mine", "url": "https://llm.example/v1"},
        {"provider": "anthropic", "model": "claude-sonnet-4", "anything": {"kept": True}},
    ],
)
async def test_models_are_accepted_as_their_provider_needs(
    http: httpx.AsyncClient, fake_vapi: FakeVapi, model: dict[str, Any]
) -> None:
    """vapi needs no model, custom-llm needs a url; unknown model keys are let through."""
    assistant_id = fake_vapi.add_assistant()
    response = await http.patch(f"/assistant/{assistant_id}", json={"model": model})
    assert response.status_code == 200, response.text
    assert fake_vapi.assistants[assistant_id]["model"] == model


async def test_a_pin_drops_its_tool_from_tool_ids_and_blocks_the_delete(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """toolRefs wins over toolIds on write; a pinned tool answers DELETE with tool_pinned."""
    tool = await create_tool(http, [])
    assistant_id = fake_vapi.add_assistant()
    model = {
        "provider": "openai",
        "model": "gpt-4o",
        "toolIds": [tool["id"], "other"],
        "toolRefs": [{"toolId": tool["id"], "version": "v1"}],
    }
    response = await http.patch(f"/assistant/{assistant_id}", json={"model": model})
    assert response.json()["model"]["toolIds"] == ["other"]
    refused = await http.delete(f"/tool/{tool['id']}")
    assert (refused.status_code, refused.json()) == (
        409,
        {"error": "tool_pinned", "message": "This tool is pinned and cannot be deleted."},
    )


async def test_every_tool_write_publishes_a_version(http: httpx.AsyncClient) -> None:
    """A tool is created at v1 and each PATCH moves latestVersion on."""
    tool = await create_tool(http, [])
    body = {"type": "query", "knowledgeBases": []}
    versions = [tool["latestVersion"]]
    for _ in range(2):
        versions.append(
            (await http.patch(f"/tool/{tool['id']}", json=body)).json()["latestVersion"]
        )
    assert versions == ["v1", "v2", "v3"]


async def test_the_file_list_leaves_out_chat_attachments_unless_asked(
    http: httpx.AsyncClient,
) -> None:
    """Without purpose: every file but composer-attachment ones; with purpose: only those."""
    ids = {}
    for purpose in (None, "assistant", "composer-attachment"):
        data = {"purpose": purpose} if purpose else {}
        response = await http.post("/file", files={"file": ("a.md", b"x")}, data=data)
        ids[purpose] = response.json()["id"]
    listed = {f["id"] for f in (await http.get("/file")).json()}
    attachments = (await http.get("/file", params={"purpose": "composer-attachment"})).json()
    assert listed == {ids[None], ids["assistant"]}
    assert [f["id"] for f in attachments] == [ids["composer-attachment"]]


@pytest.mark.parametrize(
    ("needs_purpose", "params", "status"),
    [(True, {}, 400), (True, {"purpose": "assistant"}, 200), (False, {"purpose": "x"}, 400)],
)
async def test_the_file_list_can_require_a_purpose(
    http: httpx.AsyncClient,
    fake_vapi: FakeVapi,
    needs_purpose: bool,
    params: dict[str, str],
    status: int,
) -> None:
    """As the 2026-08-18 spec says, purpose can be required; it is always one of three."""
    fake_vapi.file_list_needs_purpose = needs_purpose
    response = await http.get("/file", params=params)
    assert response.status_code == status
    if status == 400:
        assert response.json()["message"] == [
            "purpose must be one of the following values: "
            "assistant, composer-attachment, knowledge-base-v2"
        ]


async def test_the_tool_list_takes_the_sdks_limit_and_date_bounds(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """limit=10.0 is a number; createdAt and updatedAt bounds filter; unknown keys are refused."""
    first, second, third = [await create_tool(http, []) for _ in range(3)]
    fake_vapi.tools[first["id"]]["createdAt"] = "2026-01-01T00:00:00.000Z"
    fake_vapi.tools[second["id"]]["createdAt"] = "2026-02-01T00:00:00.000Z"
    fake_vapi.tools[third["id"]]["updatedAt"] = "2026-01-15T00:00:00.000Z"

    async def listed(**params: str) -> Any:
        response = await http.get("/tool", params=params)
        return response.status_code, [
            t["id"] for t in response.json()
        ] if response.is_success else None

    assert (await listed(limit="10.0"))[1] == [third["id"], second["id"], first["id"]]
    assert (await listed(limit="1"))[1] == [third["id"]]
    assert (await listed(createdAtGt="2026-01-15T00:00:00Z", createdAtLe="2026-02-01T00:00:00Z"))[
        1
    ] == [second["id"]]
    assert (await listed(updatedAtLt="2026-01-20T00:00:00+00:00"))[1] == [third["id"]]
    for bad in ({"limit": "1001"}, {"limit": "ten"}, {"createdAtGt": "soon"}, {"page": "2"}):
        assert (await listed(**bad))[0] == 400


async def test_the_assistant_list_is_newest_first_and_bounded(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """GET /assistant: an array of assistants, newest first, limit 0..1000 as the spec says."""
    older = fake_vapi.add_assistant(name="Older")
    newer = fake_vapi.add_assistant(name="Newer")
    fake_vapi.assistants[older]["createdAt"] = "2026-01-01T00:00:00.000Z"
    response = await http.get("/assistant")
    assert response.status_code == 200
    assert [(a["id"], a["name"]) for a in response.json()] == [(newer, "Newer"), (older, "Older")]
    assert [a["id"] for a in (await http.get("/assistant", params={"limit": "1"})).json()] == [
        newer
    ]
    assert (await http.get("/assistant", params={"limit": "1001"})).status_code == 400
    assert (await http.get("/assistant", params={"name": "x"})).status_code == 400


async def test_a_processing_fault_ends_in_failed(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """fail_processing makes the next upload end failed; the one after is done."""
    fake_vapi.fail_processing(1)
    failed = (await http.post("/file", files={"file": ("a.md", b"x")})).json()
    done = (await http.post("/file", files={"file": ("b.md", b"y")})).json()
    statuses = [(await http.get(f"/file/{f['id']}")).json()["status"] for f in (failed, done)]
    assert (failed["status"], statuses) == ("processing", ["failed", "done"])


@pytest.mark.parametrize("code", ["tool_write_conflict", "tool_pinned"])
async def test_a_conflict_answers_the_sdks_409_body_and_changes_nothing(
    http: httpx.AsyncClient, fake_vapi: FakeVapi, code: str
) -> None:
    """conflict_next answers {error, message} (no statusCode), as the SDK's ConflictErrorBody."""
    tool = await create_tool(http, ["f1"])
    fake_vapi.conflict_next(1, error=code)
    response = await http.patch(f"/tool/{tool['id']}", json={"type": "query", "knowledgeBases": []})
    assert response.status_code == 409
    assert sorted(response.json()) == ["error", "message"]
    assert response.json()["error"] == code
    assert fake_vapi.tools[tool["id"]]["knowledgeBases"][0]["fileIds"] == ["f1"]


async def test_an_id_is_checked_before_anything_else(http: httpx.AsyncClient) -> None:
    """A tool id that is not a UUID is a 400, as Vapi's ParseUUIDPipe answers."""
    response = await http.patch(f"/tool/{'x' * 8}", json={"type": "query"})
    assert response.json()["message"] == "Validation failed (uuid is expected)"
    assert (await http.get(f"/tool/{uuid.uuid4()}")).status_code == 404
