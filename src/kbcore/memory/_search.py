"""MemoryStore's search: PostgreSQL's full-text rules, redone for plain queries.

Words are runs of letters and digits, lower-cased, as the 'simple' configuration
gives them; the filename's words weigh 1.0 and the content's 0.1, and a rank is
ts_rank_cd's cover density. PostgreSQL's parser knows more token kinds (e-mail
addresses, URLs, decimals), so queries made of such tokens may match differently.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from uuid import UUID

import attrs

from kbcore._domain import HIGHLIGHT, Document, SearchHit
from kbcore.memory._tables import Tables

_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')
_FILENAME_PUNCTUATION = str.maketrans("._-", "   ")
_FILENAME_WEIGHT, _CONTENT_WEIGHT = 1.0, 0.1
# tsvector keeps at most 256 positions per word, and none past 16383.
_MAX_POSITIONS, _MAX_POSITION = 256, 16383
_SNIPPET_WORDS, _SNIPPET_LEAD = 35, 10

Phrase = tuple[str, ...]


@attrs.frozen
class _Term:
    phrase: Phrase
    negated: bool


#: A parsed query: alternatives (``or``), each a list of terms that must all hold.
Query = list[list[_Term]]

#: A document's words: each word's positions and weights.
Vector = dict[str, list[tuple[int, float]]]


def words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def parse(text: str) -> Query:
    """A web-search query: words, "quoted phrases", ``or`` between, ``-`` to exclude."""
    groups: Query = [[]]
    for quoted, bare in _TOKEN.findall(text):
        if bare.lower() == "or" and groups[-1]:
            groups.append([])
            continue
        negated = bare.startswith("-")
        phrase = tuple(words(quoted or bare.removeprefix("-")))
        if phrase:
            groups[-1].append(_Term(phrase, negated))
    return [group for group in groups if any(not term.negated for term in group)]


def vector(filename: str, content: str) -> Vector:
    found: Vector = {}
    named = words(filename.translate(_FILENAME_PUNCTUATION))
    for offset, weight, text_words in (
        (0, _FILENAME_WEIGHT, named),
        (len(named), _CONTENT_WEIGHT, words(content)),
    ):
        for index, word in enumerate(text_words, start=1):
            positions = found.setdefault(word, [])
            position = min(offset + index, _MAX_POSITION)
            if len(positions) < _MAX_POSITIONS and all(p != position for p, _ in positions):
                positions.append((position, weight))
    return found


def _holds(query: Query, at: dict[str, set[int]]) -> bool:
    return any(all(_present(term.phrase, at) != term.negated for term in group) for group in query)


def _present(phrase: Phrase, at: dict[str, set[int]]) -> bool:
    return any(
        all(start + i in at.get(word, ()) for i, word in enumerate(phrase))
        for start in at.get(phrase[0], ())
    )


def rank(query: Query, found: Vector) -> float:
    """ts_rank_cd without normalisation: each minimal cover adds its density."""
    wanted = {word for group in query for term in group if not term.negated for word in term.phrase}
    entries = sorted((p, w, word) for word in wanted for p, w in found.get(word, ()))
    total, start = 0.0, 0
    while (cover := _cover(query, entries, start)) is not None:
        first, last = cover
        inside = entries[first : last + 1]
        density = len(inside) / sum(1 / weight for _, weight, _ in inside)
        noise = (inside[-1][0] - inside[0][0]) - (len(inside) - 1)
        if noise < 0:
            noise = (len(inside) - 1) // 2
        total += density / (1 + noise)
        start = first + 1
    # PostgreSQL answers a float4.
    return float(struct.unpack("f", struct.pack("f", total))[0])


def _cover(
    query: Query, entries: list[tuple[int, float, str]], start: int
) -> tuple[int, int] | None:
    for last in range(start, len(entries)):
        if _holds(query, _window(entries[start : last + 1])):
            for first in range(last, start - 1, -1):
                if _holds(query, _window(entries[first : last + 1])):
                    return first, last
    return None


def _window(entries: Sequence[tuple[int, float, str]]) -> dict[str, set[int]]:
    at: dict[str, set[int]] = {}
    for position, _, word in entries:
        at.setdefault(word, set()).add(position)
    return at


def snippet(query: Query, content: str) -> str:
    """Some words around the first match, matches marked (ts_headline picks its own)."""
    wanted = {word for group in query for term in group if not term.negated for word in term.phrase}
    tokens = list(_WORD.finditer(content))
    if not tokens:
        return ""
    hit = next((i for i, t in enumerate(tokens) if t[0].lower() in wanted), 0)
    shown = tokens[max(0, hit - _SNIPPET_LEAD) :][:_SNIPPET_WORDS]
    parts, cursor = [], shown[0].start()
    for token in shown:
        parts.append(content[cursor : token.start()])
        marked = token[0].lower() in wanted
        parts.append(f"{HIGHLIGHT}{token[0]}{HIGHLIGHT}" if marked else token[0])
        cursor = token.end()
    return "".join(parts)


def search(
    tables: Tables, org_id: UUID, query: str, *, category: str | None, limit: int
) -> list[SearchHit]:
    """The org's active documents that match ``query``, best first, as PostgreSQL ranks them."""
    parsed = parse(query)
    hits: list[tuple[float, Document]] = []
    for document in tables.documents.values():
        if document.org_id != org_id or not document.active:
            continue
        if category is not None and document.category != category:
            continue
        found = vector(document.filename, document.content)
        at = {word: {p for p, _ in positions} for word, positions in found.items()}
        if parsed and _holds(parsed, at):
            hits.append((rank(parsed, found), document))
    hits.sort(key=lambda hit: (hit[0], hit[1].created_at, hit[1].id), reverse=True)
    return [
        SearchHit(
            document_id=document.id,
            filename=document.filename,
            category=document.category,
            rank=score,
            snippet=snippet(parsed, document.content),
        )
        for score, document in hits[:limit]
    ]
