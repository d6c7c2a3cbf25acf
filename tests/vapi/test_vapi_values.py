"""Pure parts of the Vapi client: file names, values read from Vapi's JSON, errors, retry rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kbcore import ValidationError, VapiError
from kbcore.vapi import (
    KnowledgeBaseGroup,
    QueryTool,
    RetryPolicy,
    VapiAssistant,
    VapiAuthenticationError,
    VapiBadRequest,
    VapiConflict,
    VapiFile,
    VapiNotFound,
    VapiRateLimited,
    VapiServerError,
    VapiTimeout,
    VapiUnavailable,
    retry_wait,
)
from kbcore.vapi._errors import error_for_status
from kbcore.vapi._retries import parse_retry_after
from kbcore.vapi._uploads import mimetype_for, vapi_file_name

STAMP = "2026-03-01T10:00:00.000Z"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("pricing.md", "pricing.md"),
        ("x" * 40 + ".md", "x" * 37 + ".md"),
        (
            "a-very-long-name-about-our-pricing-and-discounts.md",
            "a-very-long-name-about-our-pricing-an.md",
        ),
        (
            "objection handling for enterprise customers.txt",
            "objection handling for enterprise cu.txt",
        ),
        (
            "no-extension-and-far-too-long-to-fit-in-forty",
            "no-extension-and-far-too-long-to-fit-in-",
        ),
        ("  padded.md  ", "padded.md"),
    ],
)
def test_file_names_fit_vapis_limit(filename: str, expected: str) -> None:
    """Names longer than 40 characters are cut before the extension."""
    assert vapi_file_name(filename) == expected


@given(
    st.text(min_size=1, max_size=255).filter(str.strip), st.sampled_from([".md", ".txt", ".csv"])
)
def test_any_file_name_fits_and_keeps_its_extension(stem: str, extension: str) -> None:
    """Whatever the name, Vapi gets at most 40 characters ending in the extension."""
    name = vapi_file_name(stem.strip() + extension)
    assert len(name) <= 40
    assert name.endswith(extension)


@pytest.mark.parametrize(
    ("filename", "mimetype"),
    [
        ("a.md", "text/markdown"),
        ("a.TXT", "text/plain"),
        ("a.csv", "text/csv"),
        ("a", "text/plain"),
    ],
)
def test_uploads_are_typed_by_extension(filename: str, mimetype: str) -> None:
    """The upload's content type follows Vapi's documented extensions."""
    assert mimetype_for(filename) == mimetype


def test_a_file_is_read_from_vapis_json() -> None:
    """Vapi's camelCase file JSON becomes a VapiFile with aware timestamps."""
    file = VapiFile.from_json(
        {
            "id": "f1",
            "orgId": "o1",
            "name": "a.md",
            "originalName": "a.md",
            "bytes": 12,
            "mimetype": "text/markdown",
            "status": "processing",
            "createdAt": STAMP,
            "updatedAt": STAMP,
            "url": "ignored",
        }
    )
    assert (file.id, file.org_id, file.size, file.status) == ("f1", "o1", 12, "processing")
    assert file.created_at == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_a_category_group_is_named_as_the_existing_system_did() -> None:
    """A category becomes a google knowledge base with sorted, unique file ids."""
    group = KnowledgeBaseGroup.for_category("operations", ["f2", "f1", "f2"])
    assert group.to_json() == {
        "provider": "google",
        "name": "operations",
        "description": "Contains operations information",
        "fileIds": ["f1", "f2"],
    }


def test_a_query_tool_lists_the_files_of_all_its_groups() -> None:
    """file_ids gathers every group's files once."""
    tool = QueryTool.from_json(
        {
            "id": "t1",
            "orgId": "o1",
            "type": "query",
            "latestVersion": "v3",
            "knowledgeBases": [
                KnowledgeBaseGroup.for_category("a", ["f1", "f2"]).to_json(),
                KnowledgeBaseGroup.for_category("b", ["f2", "f3"]).to_json(),
            ],
            "createdAt": STAMP,
            "updatedAt": STAMP,
        }
    )
    assert tool.latest_version == "v3"
    assert tool.file_ids == ("f1", "f2", "f3")


def test_an_assistant_keeps_its_model_apart_from_the_callers_dict() -> None:
    """The model is copied in, so later edits to the source dict do not leak in."""
    model: dict[str, Any] = {"provider": "openai", "model": "gpt-4o", "toolIds": ["t1"]}
    assistant = VapiAssistant.from_json(
        {"id": "a1", "orgId": "o1", "model": model, "createdAt": STAMP, "updatedAt": STAMP}
    )
    model["toolIds"].append("t2")
    assert assistant.tool_ids == ("t1",)
    assert "model" not in repr(assistant)


@pytest.mark.parametrize(
    ("status", "body", "kind", "vapi_message"),
    [
        (
            400,
            {"message": ["a should not exist", "b must be a string"]},
            VapiBadRequest,
            "a should not exist; b must be a string",
        ),
        (
            401,
            {"message": "Invalid Key.", "error": "Unauthorized"},
            VapiAuthenticationError,
            "Invalid Key.",
        ),
        (403, {"message": "Forbidden"}, VapiAuthenticationError, "Forbidden"),
        (404, {"message": "File not found"}, VapiNotFound, "File not found"),
        (408, {"message": "Request Timeout"}, VapiTimeout, "Request Timeout"),
        (
            409,
            {"error": "tool_pinned", "message": "Used by a workflow"},
            VapiConflict,
            "Used by a workflow",
        ),
        (422, None, VapiBadRequest, None),
        (
            429,
            {"message": "ThrottlerException: Too Many Requests"},
            VapiRateLimited,
            "ThrottlerException: Too Many Requests",
        ),
        (500, {"message": "Internal server error"}, VapiServerError, "Internal server error"),
        (503, "not json", VapiServerError, None),
        (418, {"message": "teapot"}, VapiError, "teapot"),
    ],
)
def test_each_status_maps_to_the_error_a_caller_acts_on(
    status: int, body: Any, kind: type[VapiError], vapi_message: str | None
) -> None:
    """The class follows the status; Vapi's words, joined if a list, stay in vapi_message."""
    error = error_for_status(status, body, what="file f1")
    assert type(error) is kind
    assert (error.status_code, error.vapi_message) == (status, vapi_message)
    assert vapi_message is None or vapi_message not in str(error)


def test_a_pinned_tool_conflict_names_its_reason() -> None:
    """A tool_pinned 409 says the tool is pinned and keeps Vapi's code."""
    error = error_for_status(409, {"error": "tool_pinned", "message": "x"}, what="tool t1")
    assert isinstance(error, VapiConflict)
    assert error.error == "tool_pinned"
    assert str(error) == "Vapi refused to change tool t1 because it is pinned"


def test_a_write_conflict_names_its_reason() -> None:
    """A tool_write_conflict 409 keeps Vapi's code and says another write got in the way."""
    error = error_for_status(409, {"error": "tool_write_conflict", "message": "x"}, what="tool t1")
    assert isinstance(error, VapiConflict)
    assert error.error == "tool_write_conflict"
    assert str(error) == "Vapi refused to change tool t1 because another write to it got in the way"


def test_unknown_properties_are_named_once_each() -> None:
    """Every "property X should not exist" of a 400 is kept, once, in Vapi's order."""
    body = {
        "message": [
            "property function should not exist",
            "knowledgeBases.0.property extra should not exist",
            "property function should not exist",
            "type must be one of the following values: query",
        ]
    }
    error = error_for_status(400, body, what="a query tool")
    assert isinstance(error, VapiBadRequest)
    assert error.unknown_properties == ("function", "extra")
    assert str(error).endswith("it does not accept the properties 'function', 'extra'")


def test_a_rate_limit_message_says_when_to_come_back() -> None:
    """The user-facing message rounds Retry-After up to whole seconds."""
    error = error_for_status(429, None, what="file f1", retry_after=2.2)
    assert str(error) == "Vapi is rate limiting requests; try again in 3s"


NOW = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("Sun, 01 Mar 2026 10:00:12 GMT", 12.0),
        ("Sun, 01 Mar 2026 09:59:00 GMT", 0.0),
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("inf", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    value: str | None, seconds: float | None
) -> None:
    """Delay-seconds and HTTP dates both give a wait; a past date none; junk means unknown."""
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    ("error", "decision"),
    [
        (VapiRateLimited("x", retry_after=4.0), 4.0),
        (VapiRateLimited("x", retry_after=400.0), 30.0),
        (VapiRateLimited("x"), True),
        (VapiServerError("x", status_code=503, retry_after=2.0), 2.0),
        (VapiServerError("x", status_code=500), True),
        (VapiTimeout("x"), True),
        (VapiUnavailable("x"), True),
        (VapiConflict("x", error="tool_pinned"), False),
        (VapiBadRequest("x", status_code=400), False),
        (VapiNotFound("x", status_code=404), False),
        (VapiAuthenticationError("x", status_code=401), False),
        (ValueError("x"), False),
    ],
)
def test_only_transient_errors_are_retried(error: Exception, decision: bool | float) -> None:
    """stamina's hook: a capped Retry-After wait, True for backoff, False to give up."""
    assert retry_wait(error, retry_after_cap=30.0) == decision


@pytest.mark.parametrize(
    "bad",
    [
        {"attempts": 0},
        {"timeout": 0},
        {"wait_max": -1},
        {"retry_after_cap": -0.1},
        {"timeout": "90"},
        {"attempts": True},
    ],
)
def test_a_retry_policy_rejects_impossible_bounds(bad: dict[str, object]) -> None:
    """Attempts and the total bound must be positive numbers, waits not negative."""
    with pytest.raises(ValidationError) as caught:
        RetryPolicy(**bad)  # type: ignore[arg-type]
    assert caught.value.field == next(iter(bad))
