"""The Vapi endpoints a knowledge-base sync uses, answering as Vapi does."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from kbcore.testing.fake_vapi._assistant_validation import validate_assistant_update
from kbcore.testing.fake_vapi._http import (
    FakeRequest,
    FakeResponse,
    conflict_error,
    json_response,
    nest_error,
    parse_multipart,
)
from kbcore.testing.fake_vapi._state import FakeFile, FakeState, timestamp
from kbcore.testing.fake_vapi._validation import (
    LIST_LIMIT,
    is_uuid,
    parse_date,
    validate_file_list_query,
    validate_file_update,
    validate_list_query,
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
    failing, state.failing_uploads = state.failing_uploads > 0, max(0, state.failing_uploads - 1)
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
        outcome="failed" if failing else "done",
    )
    state.files[stored.id] = stored
    return json_response(201, stored.to_json())


def list_files(state: FakeState, request: FakeRequest, _: str) -> FakeResponse:
    """Every file of one purpose; without one, all but chat attachments (as the SDK says)."""
    query = request.query_params()
    if errors := validate_file_list_query(query, required=state.file_list_needs_purpose()):
        return nest_error(400, errors)
    purposes = query.get("purpose")
    purpose = purposes[0] if purposes else None
    files = [state.file(file_id) for file_id in list(state.files)]
    return json_response(
        200,
        [
            f.to_json()
            for f in files
            if f is not None
            and (f.purpose == purpose if purpose else f.purpose != "composer-attachment")
        ],
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
    """A new tool, published as ``v1``: API writes publish a version (the spec hints so)."""
    tool = state.stamp(
        {**copy.deepcopy(_body(request, validate_query_tool)), "latestVersion": "v1"}
    )
    state.tools[tool["id"]] = tool
    return json_response(201, tool)


Objects = Callable[[FakeState], dict[str, dict[str, Any]]]


def _lister(objects: Objects) -> Handler:
    """Vapi's lists of tools and of assistants: a bare array, newest first, at most
    ``limit`` (default 100). ``createdAtGt`` ... ``updatedAtLe`` bound the timestamps,
    as the SDK sends them."""

    def list_objects(state: FakeState, request: FakeRequest, _: str) -> FakeResponse:
        query = request.query_params()
        if errors := validate_list_query(query):
            return nest_error(400, errors)
        limit = min(LIST_LIMIT, int(float(query.get("limit", ["100"])[0])))
        found = [item for item in objects(state).values() if _within(item, query)]
        newest_first = sorted(found, key=lambda item: item["createdAt"], reverse=True)
        return json_response(200, newest_first[:limit])

    return list_objects


_BOUNDS: dict[str, Callable[[str, str], bool]] = {
    "Gt": lambda value, bound: value > bound,
    "Lt": lambda value, bound: value < bound,
    "Ge": lambda value, bound: value >= bound,
    "Le": lambda value, bound: value <= bound,
}


def _within(tool: dict[str, Any], query: dict[str, list[str]]) -> bool:
    for name, values in query.items():
        field, bound = name[:-2], name[-2:]
        if field not in ("createdAt", "updatedAt"):
            continue
        for value in values:
            moment = parse_date(value)
            # Vapi's timestamps have one format, so they compare as text.
            if moment is None or not _BOUNDS[bound](tool[field], timestamp(moment)):
                return False
    return True


def update_tool(state: FakeState, request: FakeRequest, tool_id: str) -> FakeResponse:
    """A top-level partial update that publishes the next version; refused when pinned."""
    body = _body(request, validate_query_tool)
    tool = _existing(state.tools, tool_id, "Tool")
    if tool_id in state.pinned_tool_ids:
        return conflict_error("tool_pinned", "This tool is pinned and cannot be updated.")
    tool.update(copy.deepcopy(body))
    tool["latestVersion"] = f"v{_version_number(tool.get('latestVersion')) + 1}"
    state.touch(tool)
    return json_response(200, tool)


def _version_number(version: object) -> int:
    text = version[1:] if isinstance(version, str) and version.startswith("v") else ""
    return int(text) if text.isdigit() else 0


def delete_tool(state: FakeState, request: FakeRequest, tool_id: str) -> FakeResponse:
    """Deleted unless pinned: by ``pin_tool``, or by an assistant's ``model.toolRefs``."""
    tool = _existing(state.tools, tool_id, "Tool")
    if tool_id in state.pinned_tool_ids or state.pinning_assistants(tool_id):
        return conflict_error("tool_pinned", "This tool is pinned and cannot be deleted.")
    del state.tools[tool_id]
    return json_response(200, tool)


def _getter(objects: Objects, kind: str) -> Handler:
    def get(state: FakeState, request: FakeRequest, object_id: str) -> FakeResponse:
        return json_response(200, _existing(objects(state), object_id, kind))

    return get


def update_assistant(state: FakeState, request: FakeRequest, assistant_id: str) -> FakeResponse:
    """A top-level partial update: every field sent replaces that whole subtree."""
    body = _body(request, validate_assistant_update)
    stored = _existing(state.assistants, assistant_id, "Assistant")
    stored.update(copy.deepcopy(body))
    drop_pinned_tool_ids(stored)
    state.touch(stored)
    return json_response(200, stored)


def drop_pinned_tool_ids(assistant: dict[str, Any]) -> None:
    """A tool pinned in ``model.toolRefs`` leaves ``model.toolIds``: the pin wins on write."""
    model = assistant.get("model")
    if not isinstance(model, dict) or not model.get("toolRefs"):
        return
    pinned = {ref.get("toolId") for ref in model["toolRefs"] if isinstance(ref, dict)}
    if "toolIds" in model:
        model["toolIds"] = [tool_id for tool_id in model["toolIds"] if tool_id not in pinned]


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
        ("GET", "/tool", _lister(_tools)),
        ("GET", f"/tool/{_ID}", _getter(_tools, "Tool")),
        ("PATCH", f"/tool/{_ID}", update_tool),
        ("DELETE", f"/tool/{_ID}", delete_tool),
        ("GET", "/assistant", _lister(_assistants)),
        ("GET", f"/assistant/{_ID}", _getter(_assistants, "Assistant")),
        ("PATCH", f"/assistant/{_ID}", update_assistant),
    ]
]


def dispatch(state: FakeState, request: FakeRequest) -> FakeResponse:
    """Answer an authorised request as Vapi would."""
    for method, pattern, handler in _ROUTES:
        match = pattern.fullmatch(request.path)
        if match is None or method != request.method:
            continue
        object_id = unquote(match.groupdict().get("id") or "")
        if object_id and not is_uuid(object_id):
            return nest_error(400, "Validation failed (uuid is expected)")
        try:
            return handler(state, request, object_id)
        except _Rejected as rejected:
            return rejected.response
    return nest_error(404, f"Cannot {request.method} {request.path}")
