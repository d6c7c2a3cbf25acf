"""The Vapi endpoints a knowledge-base sync uses, answering as Vapi does."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from kbcore.testing.fake_vapi._http import (
    FakeRequest,
    FakeResponse,
    json_response,
    nest_error,
    parse_multipart,
)
from kbcore.testing.fake_vapi._state import FakeFile, FakeState
from kbcore.testing.fake_vapi._validation import (
    validate_assistant_update,
    validate_file_update,
    validate_query_tool,
    validate_upload_fields,
)

__all__ = ["dispatch"]

Handler = Callable[[FakeState, FakeRequest, str], FakeResponse]
T = TypeVar("T")


class _Rejected(Exception):
    """Ends a handler with an error answer."""

    def __init__(self, response: FakeResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _body(request: FakeRequest, validate: Callable[[Any], list[str]]) -> Any:
    try:
        body = request.json()
    except ValueError:
        raise _Rejected(nest_error(400, "Unexpected token in JSON body")) from None
    if errors := validate(body):
        raise _Rejected(nest_error(400, errors))
    return body


def _existing(objects: dict[str, T], object_id: str, kind: str) -> T:
    stored = objects.get(object_id)
    if stored is None:
        raise _Rejected(nest_error(404, f"{kind} not found"))
    return stored


def _file(state: FakeState, file_id: str) -> FakeFile:
    stored = state.file(file_id)
    if stored is None:
        raise _Rejected(nest_error(404, "File not found"))
    return stored


def upload_file(state: FakeState, request: FakeRequest, _: str) -> FakeResponse:
    parts = parse_multipart(request.headers.get("content-type", ""), request.body)
    if parts is None:
        return nest_error(400, ["file should not be empty"])
    uploads = [part for part in parts if part.filename is not None]
    fields = {
        part.name: part.data.decode("utf-8", "replace") for part in parts if part.filename is None
    }
    upload = uploads[0] if uploads and uploads[0].name == "file" else None
    errors = validate_upload_fields(fields, upload.filename if upload else None, upload is not None)
    errors += [f"property {part.name} should not exist" for part in uploads if part.name != "file"]
    if errors or upload is None or upload.filename is None:
        return nest_error(400, errors)
    now = state.wall_clock()
    stored = FakeFile(
        id=state.new_id(),
        org_id=state.org_id,
        name=upload.filename,
        original_name=upload.filename,
        content=upload.data,
        mimetype=(upload.content_type or "application/octet-stream").split(";")[0],
        purpose=fields.get("purpose"),
        metadata=json.loads(fields["metadata"]) if "metadata" in fields else None,
        status="processing",
        created_at=now,
        updated_at=now,
        ready_at=state.clock() + state.processing_seconds(),
    )
    state.files[stored.id] = stored
    return json_response(201, stored.to_json())


def list_files(state: FakeState, request: FakeRequest, _: str) -> FakeResponse:
    purposes = request.query_params().get("purpose")
    files = [state.file(file_id) for file_id in list(state.files)]
    return json_response(
        200,
        [f.to_json() for f in files if f is not None and (not purposes or f.purpose in purposes)],
    )


def get_file(state: FakeState, request: FakeRequest, file_id: str) -> FakeResponse:
    return json_response(200, _file(state, file_id).to_json())


def update_file(state: FakeState, request: FakeRequest, file_id: str) -> FakeResponse:
    body = _body(request, validate_file_update)
    stored = _file(state, file_id)
    if "name" in body:
        stored.name = body["name"]
        stored.updated_at = state.wall_clock()
    return json_response(200, stored.to_json())


def delete_file(state: FakeState, request: FakeRequest, file_id: str) -> FakeResponse:
    stored = _file(state, file_id)
    del state.files[file_id]
    return json_response(200, stored.to_json())


def create_tool(state: FakeState, request: FakeRequest, _: str) -> FakeResponse:
    tool = state.stamp(copy.deepcopy(_body(request, validate_query_tool)))
    state.tools[tool["id"]] = tool
    return json_response(201, tool)


def list_tools(state: FakeState, request: FakeRequest, _: str) -> FakeResponse:
    """Vapi's tool list: a bare array, newest first, at most ``limit`` (default 100)."""
    limits = request.query_params().get("limit") or ["100"]
    try:
        limit = int(limits[0])
    except ValueError:
        return nest_error(400, ["limit must be a number"])
    newest_first = sorted(state.tools.values(), key=lambda t: t["createdAt"], reverse=True)
    return json_response(200, newest_first[:limit])


def delete_tool(state: FakeState, request: FakeRequest, tool_id: str) -> FakeResponse:
    tool = _existing(state.tools, tool_id, "Tool")
    if tool_id in state.pinned_tool_ids:
        # Vapi's pinned-delete answer has no statusCode, unlike its other errors.
        return json_response(
            409,
            {"error": "tool_pinned", "message": "This tool is pinned and cannot be deleted."},
        )
    del state.tools[tool_id]
    return json_response(200, tool)


Objects = Callable[[FakeState], dict[str, dict[str, Any]]]


def _getter(objects: Objects, kind: str) -> Handler:
    def get(state: FakeState, request: FakeRequest, object_id: str) -> FakeResponse:
        return json_response(200, _existing(objects(state), object_id, kind))

    return get


def _patcher(objects: Objects, kind: str, validate: Callable[[Any], list[str]]) -> Handler:
    """A top-level partial update: every field sent replaces that whole subtree."""

    def patch(state: FakeState, request: FakeRequest, object_id: str) -> FakeResponse:
        body = _body(request, validate)
        stored = _existing(objects(state), object_id, kind)
        stored.update(copy.deepcopy(body))
        state.touch(stored)
        return json_response(200, stored)

    return patch


def _tools(state: FakeState) -> dict[str, dict[str, Any]]:
    return state.tools


def _assistants(state: FakeState) -> dict[str, dict[str, Any]]:
    return state.assistants


_ID = "(?P<id>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in [
        ("POST", "/file", upload_file),
        ("GET", "/file", list_files),
        ("GET", f"/file/{_ID}", get_file),
        ("PATCH", f"/file/{_ID}", update_file),
        ("DELETE", f"/file/{_ID}", delete_file),
        ("POST", "/tool", create_tool),
        ("GET", "/tool", list_tools),
        ("GET", f"/tool/{_ID}", _getter(_tools, "Tool")),
        ("PATCH", f"/tool/{_ID}", _patcher(_tools, "Tool", validate_query_tool)),
        ("DELETE", f"/tool/{_ID}", delete_tool),
        ("GET", f"/assistant/{_ID}", _getter(_assistants, "Assistant")),
        (
            "PATCH",
            f"/assistant/{_ID}",
            _patcher(_assistants, "Assistant", validate_assistant_update),
        ),
    ]
]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def dispatch(state: FakeState, request: FakeRequest) -> FakeResponse:
    """Answer an authorised request as Vapi would."""
    for method, pattern, handler in _ROUTES:
        match = pattern.fullmatch(request.path)
        if match is None or method != request.method:
            continue
        object_id = unquote(match.groupdict().get("id") or "")
        if object_id and not _is_uuid(object_id):
            return nest_error(400, "Validation failed (uuid is expected)")
        try:
            return handler(state, request, object_id)
        except _Rejected as rejected:
            return rejected.response
    return nest_error(404, f"Cannot {request.method} {request.path}")
