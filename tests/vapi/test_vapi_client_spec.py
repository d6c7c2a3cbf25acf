"""VapiClient against Vapi as its spec and SDK have it since 2026-08: purposes, pins, 409s."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kbcore import VapiClient
from kbcore.testing import FakeVapi
from kbcore.vapi import (
    UPLOAD_PURPOSE,
    KnowledgeBaseGroup,
    ToolRef,
    VapiBadRequest,
    VapiConflict,
)
from kbcore.vapi._errors import error_for_status

pytestmark = pytest.mark.anyio

GENERAL = KnowledgeBaseGroup.for_category("general", ["f1"])


async def test_uploads_carry_the_assistant_purpose_unless_told_otherwise(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """upload_file sends purpose=assistant by default, and no purpose when given None."""
    tagged = await vapi.upload_file("a.md", "x")
    untagged = await vapi.upload_file("b.md", "y", purpose=None)
    assert (fake_vapi.files[tagged.id].purpose, UPLOAD_PURPOSE) == ("assistant", "assistant")
    assert fake_vapi.files[untagged.id].purpose is None


async def test_the_file_list_falls_back_to_the_upload_purpose_when_vapi_requires_one(
    connect: Any, fake_vapi: FakeVapi
) -> None:
    """Vapi's 2026-08 spec requires purpose: a 400 naming it is answered by asking again with it."""
    fake_vapi.file_list_needs_purpose = True
    async with connect() as vapi:
        ours = await vapi.upload_file("a.md", "x")
        await vapi.upload_file("chat.md", "y", purpose="composer-attachment")
        listed = await vapi.list_files()
    assert [file.id for file in listed] == [ours.id]
    queries = [(r.query, r.status) for r in fake_vapi.requests_to("GET /file")]
    assert queries == [("", 400), ("purpose=assistant", 200)]


async def test_without_a_purpose_the_list_leaves_out_chat_attachments(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """Vapi's default list has every purpose but composer-attachment; a purpose filters."""
    kept = await vapi.upload_file("a.md", "x", purpose=None)
    assistant = await vapi.upload_file("b.md", "x")
    await vapi.upload_file("c.md", "x", purpose="composer-attachment")
    assert {f.id for f in await vapi.list_files()} == {kept.id, assistant.id}
    assert [f.id for f in await vapi.list_files(purpose="assistant")] == [assistant.id]


async def test_a_bad_request_that_is_not_about_purpose_is_not_retried_with_one(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """Only a 400 that names purpose leads to the second list; others are raised."""
    fake_vapi.fail_next(1, "GET /file", status=400)
    with pytest.raises(VapiBadRequest):
        await vapi.list_files()
    assert len(fake_vapi.requests_to("GET /file")) == 1


async def test_a_property_vapi_does_not_know_is_named_and_not_retried(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """A 400 "property function should not exist" becomes VapiBadRequest naming function."""
    tool = await vapi.create_query_tool([GENERAL])
    headers = {"Authorization": f"Bearer {fake_vapi.api_key}"}
    async with fake_vapi.http_client(headers=headers) as http:
        response = await http.patch(
            f"http://vapi/tool/{tool.id}",
            json={"type": "query", "function": {"name": "kb"}, "knowledgeBases": []},
        )
    assert response.json()["message"] == ["property function should not exist"]
    error = error_for_status(400, response.json(), what="tool t1")
    assert isinstance(error, VapiBadRequest)
    assert error.unknown_properties == ("function",)
    assert str(error) == (
        "Vapi rejected the request for tool t1: it does not accept the property 'function'"
    )


@pytest.mark.parametrize("code", ["tool_write_conflict", "tool_pinned"])
async def test_a_tool_update_conflict_is_raised_after_one_request(
    vapi: VapiClient, fake_vapi: FakeVapi, code: str
) -> None:
    """A 409 on PATCH /tool is VapiConflict with Vapi's code; the client never retries it."""
    tool = await vapi.create_query_tool([GENERAL])
    fake_vapi.conflict_next(1, error=code)
    with pytest.raises(VapiConflict) as caught:
        await vapi.update_query_tool(tool.id, [])
    assert caught.value.error == code
    assert len(fake_vapi.requests_to("PATCH /tool/*")) == 1
    assert fake_vapi.tools[tool.id]["knowledgeBases"] == [GENERAL.to_json()]


async def test_a_tool_pinned_by_pin_tool_refuses_updates_and_deletes(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """pin_tool makes both writes answer tool_pinned; unpin_tool lets them through."""
    tool = await vapi.create_query_tool([GENERAL])
    fake_vapi.pin_tool(tool.id)
    for write in (vapi.update_query_tool(tool.id, []), vapi.delete_tool(tool.id)):
        with pytest.raises(VapiConflict, match="pinned"):
            await write
    fake_vapi.unpin_tool(tool.id)
    assert await vapi.delete_tool(tool.id) is True


async def test_a_tool_pinned_in_tool_refs_counts_as_attached(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """Attaching a tool the assistant pins sends no PATCH and says it is pinned."""
    tool_id = str(uuid.uuid4())
    assistant_id = fake_vapi.add_assistant(
        model={
            "provider": "openai",
            "model": "gpt-4o",
            "toolIds": [tool_id, "other"],
            "toolRefs": [{"toolId": tool_id, "version": "v2"}],
        }
    )
    assert fake_vapi.assistants[assistant_id]["model"]["toolIds"] == ["other"]
    result = await vapi.attach_tools(assistant_id, [tool_id])
    assert (result.changed, result.pinned) == (False, (tool_id,))
    assert result.assistant.tool_refs == (ToolRef(tool_id, "v2"),)
    assert result.assistant.uses_tool(tool_id)
    assert fake_vapi.requests_to("PATCH /assistant/*") == []


async def test_update_assistant_model_sends_the_whole_model_only_when_it_changes(
    vapi: VapiClient, fake_vapi: FakeVapi
) -> None:
    """The change sees the assistant as read; an equal model or None sends nothing."""
    assistant_id = fake_vapi.add_assistant()
    same = await vapi.update_assistant_model(assistant_id, lambda a: dict(a.model or {}))
    skipped = await vapi.update_assistant_model(assistant_id, lambda a: None)
    changed = await vapi.update_assistant_model(
        assistant_id, lambda a: {**(a.model or {}), "temperature": 0.9}
    )
    assert (same.changed, skipped.changed, changed.changed) == (False, False, True)
    assert changed.before.model is not None
    assert changed.before.model["temperature"] == 0.3
    assert changed.after.model is not None
    assert changed.after.model["temperature"] == 0.9
    [patch] = fake_vapi.requests_to("PATCH /assistant/*")
    assert patch.json() == {"model": fake_vapi.assistants[assistant_id]["model"]}


@pytest.mark.usefixtures("no_backoff")
async def test_before_write_runs_once_before_each_write_and_can_stop_it(
    fake_vapi: FakeVapi,
) -> None:
    """The hook runs before POST, PATCH and DELETE (not GET, not per retry); raising stops it."""
    calls: list[int] = []
    stop = False

    async def before_write() -> None:
        calls.append(len(fake_vapi.requests))
        if stop:
            raise RuntimeError("the claim is gone")

    async with fake_vapi.http_client() as http:
        vapi = VapiClient(fake_vapi.api_key, http_client=http, before_write=before_write)
        fake_vapi.fail_next(1, "POST /file", status=503)
        file = await vapi.upload_file("a.md", "x")
        await vapi.get_file(file.id)
        await vapi.list_files()
        assert calls == [0]
        stop = True
        with pytest.raises(RuntimeError, match="claim"):
            await vapi.delete_file(file.id)
    assert [r.method for r in fake_vapi.requests] == ["POST", "POST", "GET", "GET"]
    assert file.id in fake_vapi.files
