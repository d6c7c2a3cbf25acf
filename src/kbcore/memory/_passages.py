"""MemoryStore's passages: the ranking of postgres/_ranking.py, redone in Python.

The score is the same (``kbcore.retrieval._similarity``); the words are not quite.
PostgreSQL's ``english`` configuration stems with Snowball, this module only strips a
few common endings ("plans", "billed", "recording"), and its text-search rank is a
stand-in for ts_rank: hits in headings weigh 1, in the text 0.1, squashed into 0..1.
So a MemoryStore ranks close to, not exactly as, a PostgresStore, and ranks every
passage of the org (it has no term counts to keep and nothing to count again).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from uuid import UUID

from kbcore._domain import Document, RankedPassage
from kbcore.memory._tables import Tables
from kbcore.retrieval import Passage, split_document
from kbcore.retrieval._similarity import CONTEXT_WEIGHT, IDF_WEIGHT, RANK_WEIGHT, TERMS_WEIGHT
from kbcore.retrieval._vocabulary import STOP_WORDS

_WORD = re.compile(r"[^\W_]+")
_FILENAME_PUNCTUATION = str.maketrans("._-", "   ")
# (ending, what replaces it), the longest first; a stem keeps at least three letters.
_ENDINGS = (("sses", "ss"), ("ies", "i"), ("ing", ""), ("ed", ""), ("s", ""))
_CONTEXT_HIT, _TEXT_HIT = 1.0, 0.1


def passages_of(document: Document) -> tuple[Passage, ...]:
    """The passages a document's current state splits into; none when it is inactive."""
    if not document.active:
        return ()
    return tuple(split_document(document.filename, document.content))


def lexemes(text: str) -> set[str]:
    """The words of ``text`` as this module compares them: lower case, stemmed, no stop words."""
    return {_stem(word) for word in _WORD.findall(text.lower()) if word not in STOP_WORDS}


def _stem(word: str) -> str:
    for ending, replacement in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            if ending == "s" and word.endswith(("ss", "us")):
                return word
            return word[: -len(ending)] + replacement
    return word


class MemoryPassages:
    """``Passages`` for ``MemoryStore``, over the passages its document writes keep."""

    __slots__ = ()
    _tables: Tables

    async def rank_passages(
        self, org_id: UUID, terms: Sequence[str], *, limit: int, min_similarity: float
    ) -> Sequence[RankedPassage]:
        passages = [
            (document_id, passage)
            for document_id, kept in self._tables.passages.items()
            if self._tables.documents[document_id].org_id == org_id
            for passage in kept
        ]
        ranked = _ranked(passages, _query(terms))
        ranked.sort(key=lambda p: (-p.similarity, p.document_id, p.position))
        return [p for p in ranked if p.similarity >= min_similarity][:limit]

    async def count_terms(self, org_id: UUID, *, older_than: timedelta) -> bool:
        return False  # every ranking counts afresh

    async def assistant_orgs(self, vapi_assistant_id: str) -> Sequence[UUID]:
        return sorted(
            {a.org_id for a in self._tables.agents if a.vapi_assistant_id == vapi_assistant_id}
        )

    async def ping(self) -> None:
        return None


def _query(terms: Iterable[str]) -> list[frozenset[str]]:
    """Each term's lexemes, once per set; terms of stop words only are dropped."""
    found = (frozenset(lexemes(term)) for term in terms)
    return list(dict.fromkeys(term for term in found if term))


def _ranked(
    passages: Sequence[tuple[UUID, Passage]], query: Sequence[frozenset[str]]
) -> list[RankedPassage]:
    if not query:
        return []
    words = [
        (lexemes(p.text) | lexemes(_context_text(p)), lexemes(_context_text(p)))
        for _, p in passages
    ]
    total = len(passages)
    idf = [
        math.log((total + 1.0) / (sum(1 for every, _ in words if term & every) + 0.5))
        for term in query
    ]
    ranked = []
    for (document_id, passage), (every, context) in zip(passages, words, strict=True):
        found = [index for index, term in enumerate(query) if term & every]
        if not found:
            continue
        in_context = [index for index in found if query[index] & context]
        hits = sum(_CONTEXT_HIT if i in in_context else _TEXT_HIT for i in found)
        similarity = (
            TERMS_WEIGHT * len(found) / len(query)
            + IDF_WEIGHT * sum(idf[i] for i in found) / sum(idf)
            + CONTEXT_WEIGHT * sum(idf[i] for i in in_context) / sum(idf)
            + RANK_WEIGHT * hits / (hits + 1.0)
        )
        ranked.append(
            RankedPassage(document_id, passage.position, passage.context, passage.text, similarity)
        )
    return ranked


def _context_text(passage: Passage) -> str:
    return passage.context.translate(_FILENAME_PUNCTUATION)
