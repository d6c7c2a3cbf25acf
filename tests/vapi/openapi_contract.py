"""Checks recorded exchanges against Vapi's OpenAPI document (``openapi-kb-subset.json``).

The subset is a copy of the team's reference file, as it is. Added here: ``GET
/assistant`` (``AssistantController_findAll`` of Vapi's spec of 2026-08-18: ``limit`` up
to 1000 and the same bounds, an array of assistants); from ``vapi-server-sdk`` 3.0.0,
which the subset leaves out, ``GET /tool`` (``tools.list``:
``limit`` and the ``createdAt*``/``updatedAt*`` bounds, an array of tools) and the
model's required fields per provider (the subset's one ``AssistantModel`` requires
``model`` of all, the SDK's union not of ``vapi`` and ``url`` of ``custom-llm`` too);
and, for the strict checks, ``additionalProperties: false`` on ``KnowledgeBase`` too
(Vapi's whitelist reaches nested objects).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jsonschema import Draft202012Validator, FormatChecker

from kbcore.testing.fake_vapi import RecordedRequest

_SPEC_PATH = Path(__file__).parent / "openapi-kb-subset.json"
# The subset closes the request DTOs already; Vapi's whitelist closes their nested objects.
_CLOSED_REQUEST_SCHEMAS = ("KnowledgeBase",)
_DATE_BOUNDS = [
    f"{field}{bound}" for field in ("createdAt", "updatedAt") for bound in ("Gt", "Lt", "Ge", "Le")
]


def _list_operation(operation_id: str, schema: str, limit: dict[str, Any]) -> dict[str, Any]:
    """A list of Vapi's: ``limit`` and the ``createdAt*``/``updatedAt*`` bounds, an array."""
    bounds = [
        {"name": name, "in": "query", "schema": {"type": "string", "format": "date-time"}}
        for name in _DATE_BOUNDS
    ]
    items = {"$ref": f"#/components/schemas/{schema}"}
    return {
        "operationId": operation_id,
        "parameters": [{"name": "limit", "in": "query", "schema": limit}, *bounds],
        "responses": {
            "200": {"content": {"application/json": {"schema": {"type": "array", "items": items}}}}
        },
    }


#: ``GET /tool`` as ``vapi-server-sdk`` 3.0.0's ``tools.list`` calls it (not in the subset).
LIST_TOOLS = _list_operation(
    "ToolController_findAll", "QueryTool", {"type": "number", "minimum": 0}
)
#: ``GET /assistant`` as Vapi's spec of 2026-08-18 has it (not in the subset).
LIST_ASSISTANTS = _list_operation(
    "AssistantController_findAll",
    "Assistant",
    {"type": "number", "minimum": 0, "maximum": 1000},
)
#: ``AssistantModel``'s required fields as the SDK's union of per-provider models has them.
MODEL_REQUIREMENTS = {
    "required": ["provider"],
    "allOf": [
        {
            "if": {"properties": {"provider": {"not": {"const": "vapi"}}}},
            "then": {"required": ["model"]},
        },
        {
            "if": {"properties": {"provider": {"const": "custom-llm"}}},
            "then": {"required": ["url"]},
        },
    ],
}
_FORMATS = FormatChecker()


def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


# jsonschema checks date-time only with an optional package; this is the check we need.
_FORMATS.checks("date-time", raises=ValueError)(_is_datetime)


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema to JSON Schema: ``nullable`` becomes a ``null`` type."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") and "type" in node:
        converted["type"] = [node["type"], "null"]
    return converted


class OpenApiContract:
    """Checks recorded exchanges against ``openapi-kb-subset.json``."""

    @classmethod
    def load(cls, *, strict_requests: bool) -> OpenApiContract:
        return cls(json.loads(_SPEC_PATH.read_text()), strict_requests=strict_requests)

    def __init__(self, spec: dict[str, Any], *, strict_requests: bool) -> None:
        spec["paths"].setdefault("/tool", {}).setdefault("get", LIST_TOOLS)
        spec["paths"].setdefault("/assistant", {}).setdefault("get", LIST_ASSISTANTS)
        self.components = _json_schema(spec["components"])
        self.components["schemas"]["AssistantModel"].update(MODEL_REQUIREMENTS)
        if strict_requests:
            for name in _CLOSED_REQUEST_SCHEMAS:
                self.components["schemas"][name]["additionalProperties"] = False
        self.operations = [
            (re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)), method.upper(), op)
            for path, item in spec["paths"].items()
            for method, op in item.items()
        ]

    def validate(self, schema: dict[str, Any], instance: Any) -> list[str]:
        validator = Draft202012Validator(
            {**schema, "components": self.components}, format_checker=_FORMATS
        )
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]

    def operation(self, method: str, path: str) -> tuple[dict[str, Any], dict[str, str]]:
        for pattern, op_method, op in self.operations:
            if op_method == method and (match := pattern.fullmatch(path)):
                return op, match.groupdict()
        raise AssertionError(f"{method} {path} is not in the spec")

    def problems(self, record: RecordedRequest) -> list[str]:
        """Everything about one exchange that the spec does not allow."""
        op, path_params = self.operation(record.method, record.path)
        problems = []
        query = parse_qs(record.query, keep_blank_values=True)
        declared = {param["name"] for param in op.get("parameters", []) if param["in"] == "query"}
        problems += [
            f"query parameter {name} is not in the spec" for name in query.keys() - declared
        ]
        for param in op.get("parameters", []):
            if param["in"] == "path":
                problems += self.validate(param["schema"], path_params[param["name"]])
            elif param["in"] == "query" and param["name"] in query:
                problems += [
                    f"query {param['name']}: {problem}"
                    for value in query[param["name"]]
                    for problem in self.validate(param["schema"], _query_value(param, value))
                ]
        problems += self._request_problems(op, record)
        if record.status is not None:
            problems += self._response_problems(op, record)
        return [f"{record.method} {record.path} ({record.status}): {p}" for p in problems]

    def _request_problems(self, op: dict[str, Any], record: RecordedRequest) -> list[str]:
        body = op.get("requestBody")
        if body is None:
            return [] if not record.body else ["a body was sent where none is expected"]
        content_type = record.headers.get("content-type", "").split(";")[0]
        if content_type not in body["content"]:
            return [f"content type {content_type!r} is not one of {list(body['content'])}"]
        schema = body["content"][content_type]["schema"]
        if content_type == "multipart/form-data":
            return self.validate(schema, _form_fields(record))
        return self.validate(schema, record.json())

    def _response_problems(self, op: dict[str, Any], record: RecordedRequest) -> list[str]:
        declared = op["responses"].get(str(record.status))
        if declared is None and record.status is not None and record.status < 300:
            return [f"{record.status} is not a documented answer"]
        content = (declared or {}).get("content", {}).get("application/json")
        schema = content["schema"] if content else {"$ref": "#/components/schemas/ErrorBody"}
        return self.validate(schema, record.response_json())


def _query_value(param: dict[str, Any], value: str) -> Any:
    """A query string value as the schema's type: ``limit=10.0`` is the number 10."""
    if param["schema"].get("type") == "number":
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _form_fields(record: RecordedRequest) -> dict[str, str]:
    """A multipart body as the form it encodes, read by the standard library's parser."""
    head = f"Content-Type: {record.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + record.body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        fields[name] = "<binary>" if part.get_filename() is not None else payload.decode()
    return fields
