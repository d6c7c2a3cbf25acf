"""Validation rules: every rule, its exact message, and its boundaries."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kbcore import Rules, ValidationError
from kbcore import _validators as check
from kbcore.documents import _rules as rules

RULES = Rules()

# Four bytes each in UTF-8, so byte limits are hit well before character limits.
EMOJI = "\N{GRINNING FACE}"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("filename", "", "Filename cannot be empty"),
        ("filename", "   \t ", "Filename cannot be empty"),
        ("filename", "a" * 256, "Filename too long. Max 255 characters."),
        ("filename", "../etc.md", "Filename cannot contain path separators or traversal sequences"),
        ("filename", "..", "Filename cannot contain path separators or traversal sequences"),
        ("filename", " . ", "Filename cannot contain path separators or traversal sequences"),
        ("filename", "dir/a.md", "Filename cannot contain path separators or traversal sequences"),
        ("filename", "dir\\a.md", "Filename cannot contain path separators or traversal sequences"),
        ("filename", "a\x00b.md", "Filename cannot contain control characters"),
        ("filename", "a\nb.md", "Filename cannot contain control characters"),
        ("filename", "a\x7fb.md", "Filename cannot contain control characters"),
        ("filename", "a\ud800.md", "must be valid Unicode text"),
        ("filename", 42, "must be a string, not int"),
        ("content", "", "Content cannot be empty or whitespace-only"),
        ("content", " \n\t\u3000 ", "Content cannot be empty or whitespace-only"),
        ("content", "x" * 300_001, "File too large. Max 300000 bytes."),
        ("content", EMOJI * 75_000 + "x", "File too large. Max 300000 bytes."),
        ("content", "abc\x00def", "Content cannot contain NUL characters"),
        ("content", "abc\udfff", "must be valid Unicode text"),
        ("content", b"bytes", "must be a string, not bytes"),
        (
            "category",
            "pricing",
            "Invalid category. Must be one of: "
            "ai_guidelines, general, operations, products_services",
        ),
        ("category", 3, "must be a string, not int"),
    ],
)
def test_invalid_input_is_rejected_with_its_message(
    field: str, value: object, message: str
) -> None:
    """Each rule rejects its input with the field named and the documented message."""
    check = getattr(RULES, field)
    with pytest.raises(ValidationError) as caught:
        check(value)
    assert caught.value.field == field
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("filename", "a" * 255, "a" * 255),
        ("filename", "  pricing.md  ", "pricing.md"),
        ("filename", EMOJI * 255, EMOJI * 255),
        ("filename", "v1.2 notes.md", "v1.2 notes.md"),
        # ".." cannot climb out of a folder without a separator beside it.
        ("filename", "v1..2 notes.md", "v1..2 notes.md"),
        ("filename", "...", "..."),
        ("filename", ".env", ".env"),
        ("content", "x" * 300_000, "x" * 300_000),
        ("content", EMOJI * 75_000, EMOJI * 75_000),
        ("content", "  padded  ", "  padded  "),
        ("category", None, "general"),
        ("category", " operations ", "operations"),
    ],
)
def test_valid_input_at_the_boundary_is_accepted(field: str, value: object, expected: str) -> None:
    """Inputs exactly at each limit pass, trimmed where the rule trims."""
    assert getattr(RULES, field)(value) == expected


def test_a_host_can_configure_its_own_categories() -> None:
    """A Rules with custom categories accepts those and rejects the defaults."""
    custom = Rules(categories={"faq", "legal"}, default_category="faq")
    assert custom.category("legal") == "legal"
    assert custom.category(None) == "faq"
    with pytest.raises(ValidationError):
        custom.category("general")


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"categories": {"faq"}}, "default_category"),
        ({"categories": "faq", "default_category": "faq"}, "categories"),
        ({"categories": set(), "default_category": "faq"}, "categories"),
        ({"categories": {" faq"}, "default_category": " faq"}, "categories"),
        ({"categories": {3}, "default_category": 3}, "categories"),
        ({"default_category": None}, "default_category"),
    ],
)
def test_a_bad_category_configuration_is_a_validation_error(
    arguments: dict[str, object], field: str
) -> None:
    """Rules refuses unusable categories and a default category that is not among them."""
    with pytest.raises(ValidationError) as caught:
        Rules(**arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    "value", ["not-a-uuid", "", "1234", 12, None, "6f1c0f5e-1111-2222-3333-44445555666"]
)
def test_malformed_ids_are_validation_errors(value: object) -> None:
    """A malformed id is a ValidationError naming the field, never a NotFound."""
    with pytest.raises(ValidationError) as caught:
        check.uuid("document_id", value)
    assert caught.value.field == "document_id"


def test_uuid_strings_and_values_are_accepted() -> None:
    """Both a UUID and its string form give the same UUID."""
    value = UUID("6f1c0f5e-1111-2222-3333-444455556666")
    assert check.uuid("org_id", value) == check.uuid("org_id", str(value)) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["a"], "must be a JSON object with string keys"),
        ({1: "a"}, "must be a JSON object with string keys"),
        ({"a": object()}, "must be JSON-serialisable"),
        ({"a": float("nan")}, "must be JSON-serialisable"),
        ({"a": "\x00"}, "cannot contain NUL characters"),
        ({"a\x00": 1}, "cannot contain NUL characters"),
        ({"a": [{"b": "\x00"}]}, "cannot contain NUL characters"),
        (
            {"a": 1e23},
            "the number 1e+23 cannot be stored exactly; send it as an integer or a string",
        ),
        ({"a": "x" * 20_000}, "Metadata too large. Max 16384 bytes."),
    ],
)
def test_invalid_metadata_is_rejected(value: object, message: str) -> None:
    """Metadata must be a small JSON object."""
    with pytest.raises(ValidationError) as caught:
        rules.metadata(value)
    assert caught.value.message == message


def nested(levels: int, inner: object = 1) -> dict[str, object]:
    """Metadata whose objects and arrays nest ``levels`` deep, alternating."""
    value = inner
    for level in range(levels - 1):
        value = [value] if level % 2 else {"k": value}
    return {"top": value}


DEEP = "Metadata nested too deeply. Max 64 levels."


def test_metadata_nests_at_most_64_levels() -> None:
    """64 levels are kept; 65 are refused, before anything recursive meets them."""
    assert rules.metadata(nested(64)) == nested(64)
    for too_deep in (nested(65), nested(100_000)):
        with pytest.raises(ValidationError) as caught:
            rules.metadata(too_deep)
        assert caught.value.message == DEEP


def test_metadata_that_contains_itself_is_refused() -> None:
    """A cycle nests for ever: refused as too deep, not a RecursionError."""
    looped: dict[str, object] = {}
    looped["self"] = [looped]
    with pytest.raises(ValidationError) as caught:
        rules.metadata(looped)
    assert caught.value.message == DEEP


def test_metadata_comes_back_in_the_form_the_database_keeps() -> None:
    """Tuples become lists, nested keys strings, and an escaped NUL spelled out is just text."""
    assert rules.metadata({"a": (1, 2), "b": {1: "x"}, "c": "\\u0000", "d": 1e15}) == {
        "a": [1, 2],
        "b": {"1": "x"},
        "c": "\\u0000",
        "d": 1e15,
    }


def page_size(value: int) -> int:
    """The check ``KnowledgeBase.list`` makes of its ``limit``."""
    return check.integer("limit", value, low=1, high=rules.MAX_PAGE_SIZE)


@pytest.mark.parametrize(("value", "valid"), [(0, False), (1, True), (500, True), (501, False)])
def test_page_size_bounds(value: int, valid: bool) -> None:
    """Pages hold between 1 and 500 items."""
    if valid:
        assert page_size(value) == value
    else:
        with pytest.raises(ValidationError):
            page_size(value)


@given(st.text(max_size=300))
def test_filename_rule_either_cleans_or_rejects(text: str) -> None:
    """Any text is either a clean filename (trimmed, no separators) or a ValidationError."""
    try:
        cleaned = RULES.filename(text)
    except ValidationError as error:
        assert error.field == "filename"
    else:
        assert cleaned == cleaned.strip() != ""
        assert not {"/", "\\"} & set(cleaned)
        assert ".." not in cleaned
        assert 1 <= len(cleaned) <= 255


@given(st.text(max_size=100))
def test_content_rule_either_accepts_or_rejects(text: str) -> None:
    """Any text is either accepted unchanged or a ValidationError naming content."""
    try:
        accepted = RULES.content(text)
    except ValidationError as error:
        assert error.field == "content"
    else:
        assert accepted == text
        assert accepted.strip()
