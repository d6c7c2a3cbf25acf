"""A document split into passages: what the live-knowledge search ranks and returns.

A passage is a run of one section's blocks (paragraphs, lists, tables, code) of at most
``max_words`` words, carrying the document's filename and the path of headings above
it as context. Sections are never merged, so a passage speaks of one heading's topic;
a block longer than the cap is cut between table rows, list items, code lines or
sentences, and only a sentence longer than the cap between words.

Splitting is deterministic and loses nothing: the passages' words, in order, are the
document's words outside headings, and every heading's words are in the heading path
of some passage.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate, repeat

import attrs

from kbcore.retrieval._markdown import Block, Heading, parse

#: The default cap on a passage's words. Measured on the retrieval test set, with its
#: headings and flattened into one section per document: recall@3 and MRR are flat from
#: 80 to 400 words and fall at 40 (recall@1 0.81 to 0.78, 0.74 flattened). 120 keeps
#: nearly every section whole while three passages stay a short read for the model.
DEFAULT_MAX_WORDS = 120

#: Separates the filename and the headings in a passage's context.
CONTEXT_SEPARATOR = " > "

_WORD = re.compile(r"\w")


def _ascii_mark(code: int) -> int | None:
    """What ``word_count`` makes of an ASCII character: "w", " ", or nothing (deleted)."""
    char = chr(code)
    if char.isalnum() or char == "_":
        return ord("w")
    return ord(" ") if char.isspace() else None


# For ASCII text, the common case, word_count maps each word character to "w" and each
# white space to " ", and deletes the rest: a token of other characters alone vanishes,
# two tokens never merge, and each word then begins where " w" stands. (A translation
# table has 256 entries; only ASCII text meets this one.)
_ASCII_WORDS = bytes(_ascii_mark(code) or code for code in range(128)) + bytes(range(128, 256))
_ASCII_NEITHER = bytes(code for code in range(128) if _ascii_mark(code) is None)


@attrs.frozen
class Passage:
    """One passage of a document, in the document's order (``position`` from 0)."""

    filename: str
    headings: tuple[str, ...]
    text: str
    position: int

    @property
    def context(self) -> str:
        """Where the passage comes from: ``pricing.md > Plans > Monthly billing``."""
        return CONTEXT_SEPARATOR.join((self.filename, *self.headings))


def split_document(
    filename: str, content: str, *, max_words: int = DEFAULT_MAX_WORDS
) -> list[Passage]:
    """The passages of a Markdown document, each of at most ``max_words`` words of text."""
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, not {max_words}")
    passages: list[Passage] = []
    for headings, blocks in _sections(content):
        texts = _pack(blocks, max_words) if blocks else [""]
        first = len(passages)
        passages.extend(
            Passage(filename, headings, text, first + offset) for offset, text in enumerate(texts)
        )
    return passages


def _sections(content: str) -> list[tuple[tuple[str, ...], list[Block]]]:
    """Each section's heading path and blocks.

    A heading with nothing under it is a section of its own (an empty passage keeps its
    words findable) unless a deeper heading follows, whose path carries its words.
    """
    sections: list[tuple[tuple[str, ...], list[Block]]] = []
    path: list[Heading] = []
    blocks: list[Block] = []
    started = False  # the preamble before any heading is a section only if it has blocks
    for item in parse(content):
        if isinstance(item, Block):
            blocks.append(item)
            continue
        if blocks or (started and not (path and item.level > path[-1].level)):
            sections.append((_titles(path), blocks))
        blocks = []
        started = True
        while path and path[-1].level >= item.level:
            path.pop()
        path.append(item)
    if blocks or started:
        sections.append((_titles(path), blocks))
    return sections


def _titles(path: Iterable[Heading]) -> tuple[str, ...]:
    return tuple(heading.title for heading in path if heading.title)


def _pack(blocks: Iterable[Block], max_words: int) -> list[str]:
    """Whole blocks joined while they fit; blocks too long alone cut into pieces.

    Each step here counts: a create splits its document on every call, between two
    round trips. So the work per word is left to C where it can be.
    """
    texts: list[str] = []
    chunk: list[str] = []
    words = 0
    for block in blocks:
        text = block.text
        size, pieces, sizes = _measured(block, text, max_words)
        if size > max_words:
            if chunk:
                texts.append("\n\n".join(chunk))
                chunk, words = [], 0
            texts.extend(_cut(block, pieces, sizes, max_words))
            continue
        if words + size > max_words and chunk:
            texts.append("\n\n".join(chunk))
            chunk, words = [], 0
        chunk.append(text)
        words += size
    if chunk:
        texts.append("\n\n".join(chunk))
    return texts


def _measured(block: Block, text: str, max_words: int) -> tuple[int, list[str], list[int]]:
    """The block's words and, if they are over the cap, its pieces and their words.

    ASCII words are counted in C. Other text is counted token by token, so its words are
    counted once: as a whole if its tokens (``str.split``, cheap; at least its words) are
    within the cap, else piece by piece (a block's pieces hold its tokens, each once).
    """
    if text.isascii():
        size = word_count(text)
        if size <= max_words:
            return size, [], []
        pieces = block.pieces()
        return size, pieces, _ascii_word_counts(pieces)
    if len(text.split()) <= max_words:
        return word_count(text), [], []
    pieces = block.pieces()
    sizes = [word_count(piece) for piece in pieces]
    return sum(sizes), pieces, sizes


def _ascii_word_counts(pieces: list[str]) -> list[int]:
    """``word_count`` of each piece of ASCII text, its steps mapped over them in C."""
    marked = map(
        bytes.translate,
        map(str.encode, map(" ".__add__, pieces)),
        repeat(_ASCII_WORDS),
        repeat(_ASCII_NEITHER),
    )
    return list(map(bytes.count, marked, repeat(b" w")))


def _cut(block: Block, pieces: list[str], sizes: list[int], max_words: int) -> list[str]:
    """An oversized block in pieces that fit, joined again as far as the cap allows.

    A piece over the cap alone is cut between words first (``_fitting``). Then
    the pieces are joined greedily: each run ends where the running count of words
    would pass the cap, found by bisecting the running counts.
    """
    if max(sizes) > max_words:
        pieces, sizes = _fitting(pieces, sizes, max_words)
    joiner = " " if block.kind == "paragraph" else "\n"
    running = list(accumulate(sizes))
    texts: list[str] = []
    start = 0
    while start < len(pieces):
        # Every piece fits alone, so each run holds at least one.
        before = running[start - 1] if start else 0
        end = bisect_right(running, before + max_words, lo=start)
        texts.append(joiner.join(pieces[start:end]))
        start = end
    return texts


def _fitting(pieces: list[str], sizes: list[int], max_words: int) -> tuple[list[str], list[int]]:
    """The pieces as they are, except those over the cap, cut between words."""
    fitting: list[str] = []
    counts: list[int] = []
    for piece, size in zip(pieces, sizes, strict=True):
        if size <= max_words:
            fitting.append(piece)
            counts.append(size)
            continue
        for part, words in _between_words(piece, max_words):
            fitting.append(part)
            counts.append(words)
    return fitting, counts


def _between_words(piece: str, max_words: int) -> list[tuple[str, int]]:
    """A piece over the cap cut between words, each part with its words."""
    parts: list[tuple[str, int]] = []
    tokens: list[str] = []
    words = 0
    for token in piece.split():
        counted = _is_word(token)
        if words + counted > max_words:
            parts.append((" ".join(tokens), words))
            tokens, words = [], 0
        tokens.append(token)
        words += counted
    if tokens:
        parts.append((" ".join(tokens), words))
    return parts


def word_count(text: str) -> int:
    """The words of a text as the cap counts them: tokens with a letter or a digit.

    A table's pipes and a list's dashes take no room in what a caller hears.
    """
    if text.isascii():
        # In C, without an object per token: a create splits its document every call.
        # The space put first marks the first word's start like every other's.
        return (" " + text).encode().translate(_ASCII_WORDS, _ASCII_NEITHER).count(b" w")
    # Most tokens are letters and digits only, which ``isalnum`` settles without the
    # regex engine. The loop is written out: a generator and a call per token would
    # cost as much again.
    words = 0
    for token in text.split():
        if token.isalnum() or _WORD.search(token) is not None:
            words += 1
    return words


def _is_word(token: str) -> bool:
    return token.isalnum() or _WORD.search(token) is not None
