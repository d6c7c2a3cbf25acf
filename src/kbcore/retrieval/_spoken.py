"""What a caller said, turned into query terms.

Speech-to-text gives everything a caller says: "uh hi yeah so how much is the pro plan
like per person?". The words that carry the question are few, and they are often not
the documents' words. A query term is one word the caller said together with the words
that can stand for it (spoken numbers as digits, letters spelled out as one word, the
host's synonyms); the ranking counts how many of the terms a passage covers.

Stemming and stop words are PostgreSQL's (the ``english`` text search configuration,
in the ranking SQL): this module only decides which words are worth sending.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

import attrs

from kbcore.retrieval._vocabulary import (
    COMMON_SYNONYMS,
    FILLER_PHRASES,
    FILLER_WORDS,
    NUMBER_WORDS,
    STOP_WORDS,
)

#: A follow-up with fewer terms than this borrows the previous user turn's terms:
#: "and what about enterprise?" means little without "how much is the pro plan".
FOLLOW_UP_TERMS = 3

#: The most terms one query carries; a caller's long ramble keeps its first ones.
MAX_TERMS = 12

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
_CONTRACTION = re.compile(r"'(?:s|t|re|ll|ve|d|m)$")


@attrs.frozen
class Synonyms:
    """Words a caller may say, each with the words the documents use for it.

    Keys are one or more words ("money back"); matching is on whole words, after
    lower-casing. ``extended`` gives a copy with more entries, so a host adds its own
    vocabulary to kbcore's defaults rather than replacing them.
    """

    entries: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    def extended(self, more: Mapping[str, Iterable[str]]) -> Synonyms:
        merged = dict(self.entries)
        for phrase, words in more.items():
            key = " ".join(_words(phrase))
            merged[key] = (*merged.get(key, ()), *(" ".join(_words(w)) for w in words))
        return Synonyms(merged)

    def expansions(self, words: tuple[str, ...]) -> Iterator[tuple[int, int, tuple[str, ...]]]:
        """(start, length, substitutes) for every phrase found in ``words``."""
        for start in range(len(words)):
            for length in range(1, min(4, len(words) - start) + 1):
                found = self.entries.get(" ".join(words[start : start + length]))
                if found:
                    yield start, length, found


NO_SYNONYMS = Synonyms()


@attrs.frozen
class SpokenQuery:
    """The terms of a question: each one word the caller said and its stand-ins.

    ``terms`` is what the ranking SQL takes (one text per term, the words separated
    by spaces); it is empty when the caller said nothing worth searching for.
    """

    terms: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.terms)


def spoken_query(
    turn: str, *, previous: str | None = None, synonyms: Synonyms | None = None
) -> SpokenQuery:
    """The query terms of a caller's turn, borrowing the previous turn's for a follow-up.

    ``synonyms`` defaults to ``DEFAULT_SYNONYMS``; pass ``NO_SYNONYMS`` for none.
    """
    synonyms = DEFAULT_SYNONYMS if synonyms is None else synonyms
    terms = _terms(turn, synonyms)
    if previous is not None and len(terms) < FOLLOW_UP_TERMS:
        terms = _unique([*terms, *_terms(previous, synonyms)])
    return SpokenQuery(tuple(terms[:MAX_TERMS]))


def _terms(text: str, synonyms: Synonyms) -> list[str]:
    said = _joined_letters(_words(text))
    kept = _content(said)
    words = tuple(said[position] for position in kept)
    terms: list[list[str]] = [[word, *_stand_ins(word)] for word in words]
    for indexes, joined in (*_joined_pairs(words), *_digit_runs(words)):
        for index in indexes:
            terms[index].append(joined)
    for start, length, found in synonyms.expansions(words):
        # A phrase's substitutes join the term of its first content word.
        anchor = next(
            (i for i in range(start, start + length) if words[i] not in STOP_WORDS), start
        )
        terms[anchor].extend(found)
    # A phrase of fillers and stop words only ("get out of") vanished with them, and
    # still means something ("cancel"): its substitutes make a term of their own.
    content = {position for position in kept if said[position] not in STOP_WORDS}
    for start, length, found in synonyms.expansions(said):
        if content.isdisjoint(range(start, start + length)):
            terms.append(list(found))
    return _unique(
        " ".join(dict.fromkeys(term))
        for term in terms
        if term[0] not in STOP_WORDS or len(term) > 1
    )


def _words(text: str) -> tuple[str, ...]:
    lowered = text.lower().replace("\u2019", "'")
    return tuple(_CONTRACTION.sub("", token) for token in _TOKEN.findall(lowered))


def _joined_letters(words: tuple[str, ...]) -> tuple[str, ...]:
    """Letters spelled out one by one ("d p a") as the word they spell ("dpa")."""
    out: list[str] = []
    run: list[str] = []
    for word in (*words, ""):
        # "a" and "i" are words of their own, unless they continue a spelling.
        if len(word) == 1 and word.isalpha() and (run or word not in ("a", "i")):
            run.append(word)
            continue
        if len(run) > 1:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if word:
            out.append(word)
    return tuple(out)


def _content(words: tuple[str, ...]) -> list[int]:
    """The positions of the words that are not fillers (alone or in a filler phrase)."""
    kept: list[int] = []
    index = 0
    while index < len(words):
        for length in (3, 2):
            if " ".join(words[index : index + length]) in FILLER_PHRASES:
                index += length
                break
        else:
            if words[index] not in FILLER_WORDS:
                kept.append(index)
            index += 1
    return kept


def _joined_pairs(words: tuple[str, ...]) -> Iterator[tuple[range, str]]:
    """Adjacent words as one, for each of them: speech-to-text splits "salesforce"."""
    for index in range(len(words) - 1):
        first, second = words[index], words[index + 1]
        if not {first, second} & STOP_WORDS and not {first, second} <= NUMBER_WORDS.keys():
            yield range(index, index + 2), first + second


def _digit_runs(words: tuple[str, ...]) -> Iterator[tuple[range, str]]:
    """Digits said one by one ("nine one one") as the number they spell ("911")."""
    start = 0
    for end in range(len(words) + 1):
        digit = NUMBER_WORDS.get(words[end], 10) < 10 if end < len(words) else False
        if digit:
            continue
        if end - start > 1:
            yield range(start, end), "".join(str(NUMBER_WORDS[w]) for w in words[start:end])
        start = end + 1


def _stand_ins(word: str) -> list[str]:
    """Other spellings of a word: a spoken number's digits."""
    number = NUMBER_WORDS.get(word)
    return [] if number is None else [str(number)]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


#: kbcore's everyday synonyms (``vocabulary.COMMON_SYNONYMS``); extend, don't replace.
DEFAULT_SYNONYMS = NO_SYNONYMS.extended(COMMON_SYNONYMS)
