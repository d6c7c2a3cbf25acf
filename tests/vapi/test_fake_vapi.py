"""FakeVapi answers raw HTTP as Vapi does: codes, bodies, validation, state and faults."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from kbcore.testing import FakeVapi
from kbcore.testing.fake_vapi import INVALID_KEY_MESSAGE

pytestmark = pytest.mark.anyio

KB = {"provider": "google", "name": "general", "description": "Contains general information"}


async def upload(http: httpx.AsyncClient, name: str = "a.md", content: bytes = b"hi") -> Any:
    response = await http.post("/file", files={"file": (name, content, "text/markdown")})
    assert response.status_code == 201, response.text
    return response.json()


async def create_tool(http: httpx.AsyncClient, file_ids: list[str]) -> Any:
    body = {"type": "query", "knowledgeBases": [{**KB, "fileIds": file_ids}]}
    response = await http.post("/tool", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-key", "Basic c2stdGVzdA==", "sk-test-no-scheme"]
)
async def test_a_bad_key_gets_vapis_401(fake_vapi: FakeVapi, authorization: str | None) -> None:
    """Without the right bearer key every route answers Vapi's exact 401 body."""
    headers = {"Authorization": authorization} if authorization else {}
    async with fake_vapi.http_client(base_url="https://api.vapi.ai") as client:
        response = await client.get("/file", headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "message": INVALID_KEY_MESSAGE,
        "error": "Unauthorized",
        "statusCode": 401,
    }


async def test_an_upload_is_created_processing_and_done_when_read(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """POST /file answers 201 processing; the stored bytes are the uploaded ones."""
    created = await upload(http, "pricing.md", b"Plans: $99")
    assert (created["status"], created["bytes"], created["name"]) == (
        "processing",
        10,
        "pricing.md",
    )
    assert fake_vapi.files[created["id"]].content == b"Plans: $99"
    fetched = await http.get(f"/file/{created['id']}")
    assert (fetched.status_code, fetched.json()["status"]) == (200, "done")


async def test_processing_lasts_as_long_as_the_fake_clock_says() -> None:
    """With processing_seconds set, a file turns done only once the clock has moved on."""
    now = [100.0]
    fake = FakeVapi("k", clock=lambda: now[0], processing_seconds=5.0)
    async with fake.http_client(headers={"Authorization": "Bearer k"}) as client:
        created = (await client.post("http://vapi/file", files={"file": ("a.md", b"x")})).json()
        now[0] = 104.9
        assert (await client.get(f"http://vapi/file/{created['id']}")).json()[
            "status"
        ] == "processing"
        now[0] = 105.0
        assert (await client.get(f"http://vapi/file/{created['id']}")).json()["status"] == "done"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"content": "new"}, ["property content should not exist"]),
        ({"name": "x" * 41}, ["name must be shorter than or equal to 40 characters"]),
        ({"name": ""}, ["name must be longer than or equal to 1 characters"]),
    ],
)
async def test_file_contents_cannot_change(
    http: httpx.AsyncClient, fake_vapi: FakeVapi, body: dict[str, Any], message: list[str]
) -> None:
    """PATCH /file only renames; anything else is a NestJS 400 and the bytes stay."""
    created = await upload(http)
    response = await http.patch(f"/file/{created['id']}", json=body)
    assert response.status_code == 400
    assert response.json() == {"message": message, "error": "Bad Request", "statusCode": 400}
    assert fake_vapi.files[created["id"]].content == b"hi"


async def test_a_rename_keeps_the_bytes(http: httpx.AsyncClient, fake_vapi: FakeVapi) -> None:
    """A valid PATCH /file renames the file and nothing else."""
    created = await upload(http)
    response = await http.patch(f"/file/{created['id']}", json={"name": "b.md"})
    assert (response.status_code, response.json()["name"]) == (200, "b.md")
    assert fake_vapi.files[created["id"]].content == b"hi"


async def test_delete_answers_the_deleted_file_then_404(http: httpx.AsyncClient) -> None:
    """DELETE returns the object with 200; the next DELETE is a NestJS 404."""
    created = await upload(http)
    first = await http.delete(f"/file/{created['id']}")
    assert (first.status_code, first.json()["id"]) == (200, created["id"])
    second = await http.delete(f"/file/{created['id']}")
    assert second.status_code == 404
    assert second.json() == {"message": "File not found", "error": "Not Found", "statusCode": 404}


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ("document", "property document should not exist"),
        ("file", None),
    ],
)
async def test_an_upload_needs_its_part_named_file(
    http: httpx.AsyncClient, part: str, message: str | None
) -> None:
    """Only the multipart part named file is accepted."""
    response = await http.post("/file", files={part: ("a.md", b"x")})
    assert response.status_code == (400 if message else 201)
    if message:
        assert message in response.json()["message"]


async def test_a_too_long_upload_name_is_rejected(http: httpx.AsyncClient) -> None:
    """The fake holds uploads to Vapi's 40-character name limit."""
    response = await http.post("/file", files={"file": ("x" * 41 + ".md", b"x")})
    assert response.status_code == 400


async def test_files_are_listed_as_a_bare_array(http: httpx.AsyncClient) -> None:
    """GET /file answers a JSON array, filtered by purpose when asked."""
    await upload(http)
    response = await http.post(
        "/file", files={"file": ("b.md", b"x")}, data={"purpose": "assistant"}
    )
    assert len((await http.get("/file")).json()) == 2
    filtered = (await http.get("/file", params={"purpose": "assistant"})).json()
    assert [f["id"] for f in filtered] == [response.json()["id"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"knowledgeBases": []}, "type must be one of the following values: query"),
        (
            {"type": "query", "knowledgeBases": [{**KB, "provider": "openai", "fileIds": []}]},
            "knowledgeBases.0.provider must be one of the following values: google",
        ),
        (
            {
                "type": "query",
                "knowledgeBases": [{"provider": "google", "name": "n", "fileIds": []}],
            },
            "knowledgeBases.0.description must be a string",
        ),
        ({"type": "query", "knowledgeBases": [KB]}, "knowledgeBases.0.fileIds must be an array"),
        ({"type": "query", "toolIds": []}, "property toolIds should not exist"),
        (
            {"type": "query", "knowledgeBases": [{**KB, "fileIds": [], "extra": 1}]},
            "knowledgeBases.0.property extra should not exist",
        ),
    ],
)
async def test_a_tool_body_is_validated_like_vapi(
    http: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    """Missing required fields, a non-google provider and unknown properties are 400s."""
    for response in (
        await http.post("/tool", json=body),
        await http.patch(f"/tool/{(await create_tool(http, []))['id']}", json=body),
    ):
        assert response.status_code == 400
        assert message in response.json()["message"]


async def test_a_tool_patch_replaces_its_knowledge_bases(http: httpx.AsyncClient) -> None:
    """PATCH /tool sends the full knowledgeBases array and it replaces the old one."""
    tool = await create_tool(http, ["f1", "f2"])
    body = {"type": "query", "knowledgeBases": [{**KB, "name": "other", "fileIds": ["f3"]}]}
    response = await http.patch(f"/tool/{tool['id']}", json=body)
    assert response.status_code == 200
    assert response.json()["knowledgeBases"] == body["knowledgeBases"]
    assert response.json()["createdAt"] == tool["createdAt"]


async def test_a_pinned_tool_cannot_be_deleted(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """A pinned tool's DELETE is a 409 tool_pinned, without statusCode, and the tool stays."""
    tool = await create_tool(http, [])
    fake_vapi.pin_tool(tool["id"])
    response = await http.delete(f"/tool/{tool['id']}")
    assert response.status_code == 409
    assert response.json()["error"] == "tool_pinned"
    assert "statusCode" not in response.json()
    assert tool["id"] in fake_vapi.tools


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"model": "gpt-4o"}, "model.provider must be one of the following values: anthropic,"),
        ({"provider": "trieve", "model": "x"}, "model.provider must be one of the following"),
        ({"provider": "openai"}, "model.model should not be empty"),
        ({"provider": "custom-llm", "model": "mine"}, "model.url should not be empty"),
        ("gpt-4o", "model must be an object"),
        (
            {"provider": "vapi", "toolRefs": [{"toolId": "t1", "version": "v1"}]},
            "model.toolRefs.0.toolId must be a UUID",
        ),
        (
            {"provider": "vapi", "messages": [{"role": "boss", "content": "x"}]},
            "model.messages.0.role must be one of the following values",
        ),
    ],
)
async def test_an_assistant_model_is_checked_per_provider(
    http: httpx.AsyncClient, fake_vapi: FakeVapi, model: Any, message: str
) -> None:
    """Each provider's required fields, pins and messages are checked; nothing changes."""
    assistant_id = fake_vapi.add_assistant()
    before = dict(fake_vapi.assistants[assistant_id])
    response = await http.patch(f"/assistant/{assistant_id}", json={"model": model})
    assert response.status_code == 400
    assert any(line.startswith(message) for line in response.json()["message"])
    assert fake_vapi.assistants[assistant_id] == before


async def test_an_assistant_patch_replaces_whole_subtrees(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """A model sent replaces the old model whole; top-level fields not sent stay."""
    assistant_id = fake_vapi.add_assistant(name="Inbound", firstMessage="Hello!")
    new_model = {"provider": "groq", "model": "llama-3.1-8b-instant", "toolIds": ["t1"]}
    response = await http.patch(f"/assistant/{assistant_id}", json={"model": new_model})
    assert response.status_code == 200
    stored = fake_vapi.assistants[assistant_id]
    assert stored["model"] == new_model
    assert (stored["name"], stored["firstMessage"]) == ("Inbound", "Hello!")


async def test_an_assistant_id_cannot_be_patched(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """Read-only fields in a PATCH are unknown properties to Vapi."""
    assistant_id = fake_vapi.add_assistant()
    response = await http.patch(f"/assistant/{assistant_id}", json={"id": str(uuid.uuid4())})
    assert response.json()["message"] == ["property id should not exist"]


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/file/not-a-uuid", 400, "Validation failed (uuid is expected)"),
        ("GET", f"/tool/{uuid.UUID(int=1)}", 404, "Tool not found"),
        ("GET", f"/assistant/{uuid.UUID(int=2)}", 404, "Assistant not found"),
        ("GET", "/knowledge-base", 404, "Cannot GET /knowledge-base"),
        ("PUT", "/file", 404, "Cannot PUT /file"),
    ],
)
async def test_unknown_objects_and_routes_get_nest_errors(
    http: httpx.AsyncClient, method: str, path: str, status: int, message: str
) -> None:
    """Bad ids, missing objects and removed endpoints answer as NestJS does."""
    response = await http.request(method, path)
    assert (response.status_code, response.json()["message"]) == (status, message)
    assert response.json()["statusCode"] == status


async def test_malformed_json_is_a_400(http: httpx.AsyncClient) -> None:
    """A body that is not JSON is rejected before validation."""
    response = await http.post("/tool", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 400


async def test_the_request_log_keeps_everything_but_the_key(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """Each request is logged with its answer; the Authorization header is left out."""
    await upload(http)
    await http.get(f"/tool/{uuid.uuid4()}")
    assert [(r.method, r.path, r.status) for r in fake_vapi.requests][:1] == [
        ("POST", "/file", 201)
    ]
    assert [r.status for r in fake_vapi.requests_to("GET /tool/*")] == [404]
    assert all("authorization" not in r.headers for r in fake_vapi.requests)
    assert fake_vapi.requests[0].response_json()["name"] == "a.md"


async def test_missing_file_ids_finds_files_a_tool_still_lists(
    http: httpx.AsyncClient, fake_vapi: FakeVapi
) -> None:
    """Deleting a file a tool lists shows up in missing_file_ids."""
    created = await upload(http)
    await create_tool(http, [created["id"]])
    assert fake_vapi.missing_file_ids() == set()
    await http.delete(f"/file/{created['id']}")
    assert fake_vapi.missing_file_ids() == {created["id"]}


async def test_add_assistant_takes_an_id_and_any_fields(fake_vapi: FakeVapi) -> None:
    """add_assistant stores Vapi-shaped JSON under the id given."""
    assistant_id = str(uuid.uuid4())
    assert fake_vapi.add_assistant(assistant_id=assistant_id, voice={"provider": "11labs"}) == (
        assistant_id
    )
    stored = fake_vapi.assistants[assistant_id]
    assert stored["orgId"] == fake_vapi.org_id
    assert stored["voice"] == {"provider": "11labs"}
    assert stored["model"]["provider"] == "openai"


def test_assistants_never_share_their_model() -> None:
    """Editing one assistant's model in place leaves the next default assistant alone."""
    first, second = FakeVapi(), FakeVapi()
    first.assistants[first.add_assistant()]["model"]["toolIds"].append("calendar-tool")
    assert second.assistants[second.add_assistant()]["model"]["toolIds"] == []
