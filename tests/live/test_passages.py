"""Splitting Markdown into passages: nothing lost, nothing over the cap, order kept."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kbcore.retrieval._markdown import _FENCE, heading, opens_with_marker
from kbcore.retrieval._passages import (
    DEFAULT_MAX_WORDS,
    Passage,
    _ascii_word_counts,
    split_document,
    word_count,
)

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
SENTENCE = st.lists(WORD, min_size=1, max_size=30).map(lambda words: " ".join(words) + ".")


@st.composite
def blocks(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A Markdown block and its lines; a heading is ("heading", [line])."""
    kind = draw(st.sampled_from(["heading", "paragraph", "list", "table", "code"]))
    if kind == "heading":
        level = draw(st.integers(1, 4))
        return kind, ["#" * level + " " + " ".join(draw(st.lists(WORD, max_size=5)))]
    if kind == "paragraph":
        sentences = draw(st.lists(SENTENCE, min_size=1, max_size=12))
        return kind, [" ".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2)]
    if kind == "list":
        return kind, [f"- {s}" for s in draw(st.lists(SENTENCE, min_size=1, max_size=10))]
    if kind == "table":
        rows = draw(st.lists(st.lists(WORD, min_size=2, max_size=4), min_size=1, max_size=20))
        return kind, ["| " + " | ".join(row) + " |" for row in rows]
    body = draw(st.lists(st.sampled_from(["# not a heading", "x = 1", "| a | b |"]), max_size=6))
    return kind, ["```", *body, "```"]


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, list[tuple[str, list[str]]]]:
    parts = draw(st.lists(blocks(), max_size=25))
    return "\n\n".join("\n".join(lines) for _, lines in parts), parts


def body_words(parts: list[tuple[str, list[str]]]) -> list[str]:
    return [w for kind, lines in parts if kind != "heading" for line in lines for w in line.split()]


def heading_titles(parts: list[tuple[str, list[str]]]) -> list[str]:
    return [lines[0].lstrip("#").strip() for kind, lines in parts if kind == "heading"]


caps = st.integers(min_value=1, max_value=200)


@given(documents(), caps)
def test_the_passages_words_are_the_documents_words_in_order(
    document: tuple[str, list[tuple[str, list[str]]]], cap: int
) -> None:
    """Outside headings, the passages' words, one passage after another, are the document's."""
    content, parts = document
    passages = split_document("doc.md", content, max_words=cap)
    assert [w for p in passages for w in p.text.split()] == body_words(parts)


@given(documents(), caps)
def test_every_heading_is_in_some_passages_path(
    document: tuple[str, list[tuple[str, list[str]]]], cap: int
) -> None:
    content, parts = document
    paths = {
        title for p in split_document("doc.md", content, max_words=cap) for title in p.headings
    }
    assert {title for title in heading_titles(parts) if title} <= paths


@given(documents(), caps)
def test_no_passage_is_over_the_cap_and_positions_count_up(
    document: tuple[str, list[tuple[str, list[str]]]], cap: int
) -> None:
    passages = split_document("doc.md", document[0], max_words=cap)
    assert all(word_count(p.text) <= cap for p in passages)
    assert [p.position for p in passages] == list(range(len(passages)))


@given(documents(), caps)
def test_table_rows_and_list_items_that_fit_stay_whole(
    document: tuple[str, list[tuple[str, list[str]]]], cap: int
) -> None:
    """A passage holds whole rows and items; only one longer than the cap is cut."""
    content, parts = document
    whole = {
        line
        for kind, lines in parts
        if kind in ("table", "list")
        for line in lines
        if word_count(line) <= cap
    }
    passages = split_document("doc.md", content, max_words=cap)
    pieces = {line for p in passages for line in p.text.splitlines()}
    assert whole <= pieces


@given(st.text(max_size=2000), caps)
def test_any_text_splits_and_keeps_every_word(text: str, cap: int) -> None:
    """Whatever the text, each token with a letter or digit lands in a passage or a heading."""
    passages = split_document("doc.md", text, max_words=cap)
    assert all(word_count(p.text) <= cap for p in passages)
    found = {w for p in passages for w in (*p.text.split(), *" ".join(p.headings).split())}
    tokens = {t for t in text.split() if re.search(r"\w", t) and not re.fullmatch(r"#+", t)}
    assert tokens <= found
    assert split_document("doc.md", text, max_words=cap) == passages


def test_a_passage_carries_its_filename_and_heading_path() -> None:
    content = (
        "# Plans\n\nIntro.\n\n## Pro\n\nPro text.\n\n### Dialer\n\nFast.\n\n## Starter\n\nCheap."
    )
    passages = split_document("pricing.md", content)
    assert [(p.headings, p.text) for p in passages] == [
        (("Plans",), "Intro."),
        (("Plans", "Pro"), "Pro text."),
        (("Plans", "Pro", "Dialer"), "Fast."),
        (("Plans", "Starter"), "Cheap."),
    ]
    assert passages[2].context == "pricing.md > Plans > Pro > Dialer"


def test_text_before_the_first_heading_has_an_empty_path() -> None:
    passages = split_document("a.md", "Preamble here.\n\n# Title\n\nBody.")
    assert passages[0] == Passage("a.md", (), "Preamble here.", 0)


def test_a_heading_with_nothing_under_it_is_a_passage_of_its_own() -> None:
    """Unless a deeper heading follows it, whose path carries its words."""
    passages = split_document("a.md", "# Title\n## Empty\n## Full\nText.")
    assert [(p.headings, p.text) for p in passages] == [
        (("Title", "Empty"), ""),
        (("Title", "Full"), "Text."),
    ]


def test_sections_are_never_merged_but_blocks_of_one_section_are() -> None:
    content = "## A\n\nOne.\n\nTwo.\n\n## B\n\nThree."
    assert [p.text for p in split_document("a.md", content)] == ["One.\n\nTwo.", "Three."]


def test_a_long_paragraph_is_cut_between_sentences() -> None:
    sentence = " ".join(["word"] * 10) + "."
    content = " ".join([sentence] * 5)
    passages = split_document("a.md", content, max_words=25)
    assert [word_count(p.text) for p in passages] == [20, 20, 10]
    assert all(p.text.endswith(".") for p in passages)


def test_a_sentence_longer_than_the_cap_is_cut_between_words() -> None:
    passages = split_document("a.md", " ".join(f"w{i}" for i in range(25)), max_words=10)
    assert [word_count(p.text) for p in passages] == [10, 10, 5]


def test_a_fenced_block_keeps_lines_that_look_like_headings() -> None:
    passages = split_document("a.md", "# Real\n\n```\n# comment\n```")
    assert [(p.headings, p.text) for p in passages] == [(("Real",), "```\n# comment\n```")]


def test_the_cap_counts_words_not_table_pipes() -> None:
    table = "| a | b |\n|---|---|\n| c | d |"
    assert word_count(table) == 4
    assert [p.text for p in split_document("a.md", table, max_words=4)] == [table]


def test_the_default_cap_is_a_few_hundred_words_at_most() -> None:
    assert 50 <= DEFAULT_MAX_WORDS <= 300


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_words"):
        split_document("a.md", "text", max_words=0)


# Letters, digits and numerals of other scripts, punctuation, and the white space that
# str.split() and the regex engine both know (no-break, em and information separators).
_TEXT = "ab1_é-|.,*#ß²½٣・  \t\n\u00a0\u2003\x1c\x85"


@given(st.text(alphabet=st.sampled_from(_TEXT), max_size=80))
def test_word_count_counts_the_tokens_that_hold_a_letter_or_a_digit(text: str) -> None:
    """The count is the definition's: tokens of ``str.split()`` in which ``\\w`` finds a match."""
    assert word_count(text) == sum(re.search(r"\w", token) is not None for token in text.split())


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_word_count_of_ascii_text_is_the_definition_s(text: str) -> None:
    """ASCII text takes another path (``bytes.translate``): every character, controls and
    the information separators that ``str.split`` takes for white space included."""
    assert text.isascii()
    assert word_count(text) == sum(re.search(r"\w", token) is not None for token in text.split())


@given(st.lists(st.text(alphabet=st.characters(max_codepoint=127), max_size=40), max_size=8))
def test_the_pieces_of_ascii_text_are_counted_as_word_count_counts_each(pieces: list[str]) -> None:
    """A long ASCII block's pieces are counted together, in C: each as on its own."""
    assert _ascii_word_counts(pieces) == [word_count(piece) for piece in pieces]


def test_every_line_a_fence_or_heading_pattern_matches_opens_with_a_marker() -> None:
    """``parse`` tries the two patterns only on lines that open with a marker."""
    lines = [
        indent + marker + rest
        for indent in ("", " ", "  ", "   ", "    ", "\t", " \t", "\u00a0")
        for marker in ("#", "##", "######", "#######", "``", "```", "~~~", "~~~~", "x")
        for rest in ("", " ", "\t", "x", " Title #", "```")
    ]
    matched = [line for line in lines if _FENCE.match(line) or heading(line) is not None]
    assert len(matched) > 50  # the patterns do match lines of every kind here
    assert [line for line in matched if not opens_with_marker(line)] == []


def test_a_long_run_of_punctuation_is_counted_in_one_pass() -> None:
    """A long token without words costs one scan of it, not one per position."""
    assert word_count("-" * 200_000 + " a " + "*" * 100_000) == 1
