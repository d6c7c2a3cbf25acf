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
from collections.abc import Iterable, Iterator

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
# For ASCII text, the common case, word_count deletes every character that is neither a
# word character nor white space: a token of such characters alone vanishes, and no two
# tokens merge, since the white space stays. str.split() counts the information
# separators \x1c-\x1f as white space and bytes.split() does not: they become spaces.
_ASCII_NOT_WORD = bytes(
    code for code in range(128) if not (chr(code).isalnum() or chr(code).isspace() or code == 0x5F)
)
_ASCII_SEPARATORS = bytes.maketrans(b"\x1c\x1d\x1e\x1f", b"    ")


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
        texts = list(_pack(blocks, max_words)) if blocks else [""]
        first = len(passages)
        passages.extend(
            Passage(filename, headings, text, first + offset) for offset, text in enumerate(texts)
        )
    return passages


def _sections(content: str) -> Iterator[tuple[tuple[str, ...], list[Block]]]:
    """Each section's heading path and blocks.

    A heading with nothing under it is a section of its own (an empty passage keeps its
    words findable) unless a deeper heading follows, whose path carries its words.
    """
    path: list[Heading] = []
    blocks: list[Block] = []
    started = False  # the preamble before any heading is a section only if it has blocks
    for item in parse(content):
        if isinstance(item, Block):
            blocks.append(item)
            continue
        if blocks or (started and not (path and item.level > path[-1].level)):
            yield _titles(path), blocks
        blocks = []
        started = True
        while path and path[-1].level >= item.level:
            path.pop()
        path.append(item)
    if blocks or started:
        yield _titles(path), blocks


def _titles(path: Iterable[Heading]) -> tuple[str, ...]:
    return tuple(heading.title for heading in path if heading.title)


def _pack(blocks: Iterable[Block], max_words: int) -> Iterator[str]:
    """Whole blocks joined while they fit; blocks too long alone cut into pieces."""
    chunk: list[str] = []
    words = 0
    for block in blocks:
        pieces = _counted_pieces(block, max_words)
        size = word_count(block.text) if pieces is None else sum(n for _, n in pieces)
        if size > max_words:
            if chunk:
                yield "\n\n".join(chunk)
                chunk, words = [], 0
            yield from _cut(block, pieces or [], max_words)
            continue
        if words + size > max_words and chunk:
            yield "\n\n".join(chunk)
            chunk, words = [], 0
        chunk.append(block.text)
        words += size
    if chunk:
        yield "\n\n".join(chunk)


def _counted_pieces(block: Block, max_words: int) -> list[tuple[str, int]] | None:
    """The block's pieces with their words, if it may be too long; None if it surely fits.

    A block's pieces hold its tokens, each once, so their words add up to the block's:
    a long block's words are counted once, piece by piece, not as a whole and then again.
    Its tokens (``str.split``, cheap) are at least its words, so a block of no more tokens
    than the cap fits without its pieces.
    """
    if len(block.text.split()) <= max_words:
        return None
    return [(piece, word_count(piece)) for piece in block.pieces()]


def _cut(block: Block, pieces: Iterable[tuple[str, int]], max_words: int) -> Iterator[str]:
    """An oversized block in pieces that fit, joined again as far as the cap allows."""
    joiner = " " if block.kind == "paragraph" else "\n"
    chunk: list[str] = []
    words = 0
    for piece, size in _fitting(pieces, max_words):
        if words + size > max_words and chunk:
            yield joiner.join(chunk)
            chunk, words = [], 0
        chunk.append(piece)
        words += size
    if chunk:
        yield joiner.join(chunk)


def _fitting(pieces: Iterable[tuple[str, int]], max_words: int) -> Iterator[tuple[str, int]]:
    """Pieces as they are, except those over the cap, cut between words; with their words."""
    for piece, size in pieces:
        if size <= max_words:
            yield piece, size
            continue
        tokens: list[str] = []
        words = 0
        for token in piece.split():
            counted = _is_word(token)
            if words + counted > max_words:
                yield " ".join(tokens), words
                tokens, words = [], 0
            tokens.append(token)
            words += counted
        if tokens:
            yield " ".join(tokens), words


def word_count(text: str) -> int:
    """The words of a text as the cap counts them: tokens with a letter or a digit.

    A table's pipes and a list's dashes take no room in what a caller hears.
    """
    if text.isascii():
        # In C, without a Python step per token: a create splits its document every call.
        return len(text.encode("ascii").translate(_ASCII_SEPARATORS, _ASCII_NOT_WORD).split())
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
