"""A caller's turn as query terms: fillers out, stand-ins in, follow-ups borrowed."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from kbcore.retrieval._spoken import (
    DEFAULT_SYNONYMS,
    MAX_TERMS,
    NO_SYNONYMS,
    SpokenQuery,
    Synonyms,
    spoken_query,
)
from kbcore.retrieval._vocabulary import FILLER_WORDS, STOP_WORDS


def words(query: SpokenQuery) -> list[str]:
    """The caller's own word of each term."""
    return [term.split()[0] for term in query.terms]


def test_fillers_and_stop_words_are_dropped() -> None:
    query = spoken_query(
        "uh hi yeah so how much is the pro plan like per person?", synonyms=NO_SYNONYMS
    )
    assert words(query) == ["much", "pro", "plan", "per", "person"]


def test_filler_phrases_go_as_a_whole() -> None:
    query = spoken_query("do you guys, you know, sell headsets", synonyms=NO_SYNONYMS)
    assert words(query) == ["sell", "headsets"]


def test_a_turn_of_fillers_only_is_an_empty_query() -> None:
    query = spoken_query("um, okay, yeah, so like, you know")
    assert not query
    assert query.terms == ()


def test_contractions_lose_their_ending() -> None:
    assert words(spoken_query("what's the CEO's name", synonyms=NO_SYNONYMS)) == ["ceo", "name"]


def test_synonyms_join_the_term_of_the_callers_word() -> None:
    query = spoken_query("can we get our money back", synonyms=DEFAULT_SYNONYMS)
    assert "refund" in query.terms[0].split()


def test_a_phrase_of_fillers_and_stop_words_still_has_its_synonyms() -> None:
    """ "get out of" is all fillers and stop words, and still means cancelling."""
    query = spoken_query("how do I get out of the contract", synonyms=DEFAULT_SYNONYMS)
    assert words(query) == ["contract", "cancel"]


def test_a_host_extends_the_default_synonyms() -> None:
    synonyms = DEFAULT_SYNONYMS.extended({"Keep My Number": ["porting"]})
    assert synonyms.entries["keep my number"] == ("porting",)
    assert synonyms.entries["how much"] == DEFAULT_SYNONYMS.entries["how much"]
    query = spoken_query("can I keep my number", synonyms=synonyms)
    assert any("porting" in term.split() for term in query.terms)


def test_extending_adds_to_an_entry_rather_than_replacing_it() -> None:
    synonyms = Synonyms({"cost": ("price",)}).extended({"cost": ["fee"]})
    assert synonyms.entries["cost"] == ("price", "fee")


def test_split_words_are_joined_as_a_stand_in() -> None:
    query = spoken_query("does it hook up to sales force", synonyms=NO_SYNONYMS)
    assert query.terms[-2:] == ("sales salesforce", "force salesforce")


def test_spelled_letters_become_one_word() -> None:
    assert words(spoken_query("do you sign a d p a", synonyms=NO_SYNONYMS)) == ["sign", "dpa"]


def test_spoken_numbers_carry_their_digits() -> None:
    query = spoken_query("does nine one one work", synonyms=NO_SYNONYMS)
    assert query.terms == ("nine 9 911", "one 1 911")
    assert spoken_query("thirty reps", synonyms=NO_SYNONYMS).terms[0] == "thirty 30 thirtyreps"


def test_a_short_follow_up_borrows_the_previous_turns_terms() -> None:
    query = spoken_query("and what about enterprise?", previous="how much is the pro plan")
    assert words(query)[:4] == ["enterprise", "much", "pro", "plan"]


def test_a_full_question_ignores_the_previous_turn() -> None:
    query = spoken_query("can I pay with american express cards", previous="is there a trial")
    assert "trial" not in words(query)


def test_a_ramble_keeps_its_first_terms() -> None:
    turn = " ".join(f"word{i}" for i in range(40))
    assert len(spoken_query(turn).terms) == MAX_TERMS


@given(st.text(max_size=300), st.none() | st.text(max_size=300))
def test_any_speech_gives_safe_bounded_terms(turn: str, previous: str | None) -> None:
    """Terms are lower-case words and digits, never a filler or a stop word alone."""
    query = spoken_query(turn, previous=previous)
    assert len(query.terms) <= MAX_TERMS
    assert len(set(query.terms)) == len(query.terms)
    for term in query.terms:
        assert re.fullmatch(r"[a-z0-9'/ ]+", term)
        first, *stand_ins = term.split()
        assert first not in FILLER_WORDS
        assert first not in STOP_WORDS or stand_ins
