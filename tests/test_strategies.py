"""kbcore.testing.strategies: valid values pass the rules unchanged, invalid ones fail theirs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kbcore import Rules, ValidationError
from kbcore import _validators as check
from kbcore._domain import DocumentDraft
from kbcore.documents import _rules as rules
from kbcore.documents._rules import MAX_CONTENT_BYTES, MAX_FILENAME_CHARS
from kbcore.testing import strategies
from kbcore.testing.strategies import DocumentEdit

RULES = Rules()


@given(strategies.filenames())
def test_filenames_are_valid_and_stored_as_generated(name: str) -> None:
    """Generated filenames are accepted and already trimmed."""
    assert RULES.filename(name) == name
    assert 1 <= len(name) <= MAX_FILENAME_CHARS


@given(strategies.contents())
def test_contents_are_valid_and_stored_as_generated(text: str) -> None:
    """Generated contents are accepted as they are, within the byte limit."""
    assert RULES.content(text) == text
    assert len(text.encode()) <= MAX_CONTENT_BYTES


@given(strategies.contents(max_bytes=10))
def test_contents_respect_a_smaller_limit(text: str) -> None:
    """``max_bytes`` bounds the UTF-8 size, edge cases included."""
    assert 1 <= len(text.encode()) <= 10


@given(strategies.categories(Rules(categories={"faq", "legal"}, default_category="faq")))
def test_categories_follow_the_rules_given(category: str) -> None:
    """A host's own categories are the ones drawn."""
    assert category in {"faq", "legal"}


@given(strategies.new_documents())
def test_new_documents_pass_every_rule(draft: DocumentDraft) -> None:
    """Every field of a generated draft passes its rule unchanged."""
    assert RULES.filename(draft.filename) == draft.filename
    assert RULES.content(draft.content) == draft.content
    assert RULES.category(draft.category) in RULES.categories
    assert rules.metadata(draft.metadata) == (draft.metadata or {})


@given(strategies.edit_sequences())
def test_edits_pass_every_rule(edits: list[DocumentEdit]) -> None:
    """Edits name only update's fields, and only those they change."""
    for edit in edits:
        arguments = edit.as_kwargs()
        assert set(arguments) <= {"filename", "content", "category", "active"}
        assert all(value is not None for value in arguments.values())


INVALID: list[tuple[str, st.SearchStrategy[object], Any]] = [
    ("filename", strategies.invalid_filenames(), RULES.filename),
    ("content", strategies.invalid_contents(), RULES.content),
    ("category", strategies.invalid_categories(), RULES.category),
    ("org_id", strategies.invalid_ids(), lambda value: check.uuid("org_id", value)),
]


@pytest.mark.parametrize(("field", "strategy", "check"), INVALID, ids=[i[0] for i in INVALID])
@given(data=st.data())
def test_invalid_values_fail_their_rule(
    field: str, strategy: st.SearchStrategy[object], check: Any, data: st.DataObject
) -> None:
    """Each invalid strategy's values fail their rule, with the field named."""
    value = data.draw(strategy)
    with pytest.raises(ValidationError) as refused:
        check(value)
    assert refused.value.field == field
