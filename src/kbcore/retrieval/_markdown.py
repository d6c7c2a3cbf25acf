"""Markdown read as a passage splitter needs it: headings, and the blocks between them.

Not a Markdown parser: it knows only what decides where a passage may end. ATX
headings (``## Plans``) open sections; blank lines end blocks; a fenced code block is
one block whatever it contains; a table's rows, a list's items and a paragraph's
sentences are where an oversized block may be cut.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence

import attrs

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+|$)(.*)$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,9}[.)])\s")
# A sentence ends at ., ! or ? followed by white space; "e.g. this" is cut too, which
# costs nothing but a shorter piece. (Matched with the mark, not after a lookbehind: the
# engine then tries only the marks, not every position; twice as fast.)
_SENTENCE_END = re.compile(r"([.!?])\s+")
# What a fence or a heading opens with, after at most three spaces. ``parse`` tries the
# two patterns only on a line that opens so: this must admit every line they match.
_MARKERS = frozenset("#`~")


@attrs.frozen
class Heading:
    level: int
    title: str


@attrs.frozen
class Block:
    """Lines between blank lines (or one fenced code block), and how it may be cut."""

    lines: tuple[str, ...]
    kind: str  # "table", "list", "code" or "paragraph"

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def pieces(self) -> list[str]:
        """The block cut where its kind allows: rows, items, lines or sentences."""
        if self.kind == "list":
            return _list_items(self.lines)
        if self.kind in ("table", "code"):
            return list(self.lines)
        return _sentences(" ".join([line.strip() for line in self.lines]))


def _sentences(text: str) -> list[str]:
    """The text cut at each sentence end, the mark kept and the white space after it not."""
    # Split in C: the texts between the ends, each followed by its end's mark.
    parts = _SENTENCE_END.split(text)
    sentences = list(map(operator.add, parts[::2], parts[1::2]))
    if parts[-1]:
        sentences.append(parts[-1])
    return sentences


def heading(line: str) -> Heading | None:
    """The heading a line opens, or None."""
    match = _HEADING.match(line)
    if match is None:
        return None
    title = _CLOSING_HASHES.sub("", match.group(2)).strip()
    return Heading(level=len(match.group(1)), title=title)


def opens_with_marker(line: str) -> bool:
    """Whether the line opens with ``#``, a backtick or ``~`` after at most three spaces."""
    return line[:4].lstrip(" ")[:1] in _MARKERS


def parse(content: str) -> list[Heading | Block]:
    """Headings and blocks, in document order."""
    items: list[Heading | Block] = []
    lines = content.splitlines()
    index = 0
    current: list[str] = []
    while index < len(lines):
        line = lines[index]
        # Only a line that opens with a marker can open a fence or a heading: the others
        # skip both patterns.
        if opens_with_marker(line):
            fence = _FENCE.match(line)
            if fence is not None:
                _flush(current, items)
                end = _fence_end(lines, index, fence.group(1))
                items.append(Block(tuple(lines[index:end]), "code"))
                index = end
                continue
            found = heading(line)
            if found is not None:
                _flush(current, items)
                items.append(found)
                index += 1
                continue
        if line.strip():
            current.append(line)
        else:
            _flush(current, items)
        index += 1
    _flush(current, items)
    return items


def _flush(lines: list[str], items: list[Heading | Block]) -> None:
    """The lines gathered so far as a block, if any; the list is emptied for the next."""
    if lines:
        items.append(Block(tuple(lines), _kind(lines)))
        lines.clear()


def _kind(lines: Sequence[str]) -> str:
    if all(line.lstrip().startswith("|") for line in lines):
        return "table"
    if _LIST_ITEM.match(lines[0]):
        return "list"
    return "paragraph"


def _fence_end(lines: Sequence[str], start: int, marker: str) -> int:
    """Index just past the fence that closes the one at ``start`` (or the end)."""
    closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$")
    for index in range(start + 1, len(lines)):
        if closing.match(lines[index]):
            return index + 1
    return len(lines)


def _list_items(lines: Sequence[str]) -> list[str]:
    items: list[list[str]] = []
    for line in lines:
        if _LIST_ITEM.match(line) or not items:
            items.append([line])
        else:
            items[-1].append(line)
    return ["\n".join(item) for item in items]
