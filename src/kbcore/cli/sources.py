"""What ``kbcore import`` reads: a folder's .md and .txt files, or a JSON lines file.

The source is read twice. ``scan`` reads it first, to the end: a line that is not a JSON
object, a file that is not UTF-8, is a usage error before anything is written, and each
item's filename is kept for the report. The import then iterates the source, which
reads it again an item at a time, so that an import of any size holds a batch of items
in memory (the library's streaming import), not the whole file and every item parsed.
What cannot be read twice (a pipe, ``/dev/stdin``) is held in memory as it is scanned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from kbcore.cli.common import UsageError, read_text, reading
from kbcore.cli.output import Progress

#: The files a folder import takes.
TEXT_SUFFIXES = (".md", ".txt")


@attrs.frozen
class Source:
    """The items of ``path`` as ``scan`` found them: ``len()`` of them, and their filenames
    (None where an item has no string filename; the import will say so).

    A folder's files are the ones ``scan`` listed. A JSON lines file is read again, and
    must give the same filenames in the same order (else a usage error: it changed while
    it was imported). Anything that cannot be read twice (a pipe, ``/dev/stdin``) was read
    once, whole: ``held`` has its items.
    """

    path: Path
    category: str | None
    filenames: list[str | None]
    files: list[Path] = attrs.field(factory=list)
    held: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.filenames)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.held is not None:
            items: Iterator[dict[str, Any]] = iter(self.held)
        elif self.files:
            items = ({"filename": f.name, "content": read_text(str(f))} for f in self.files)
        else:
            items = self._read_again()
        for item in items:
            if self.category is not None:
                item.setdefault("category", self.category)
            yield item

    def filename(self, index: int) -> str | None:
        return self.filenames[index] if 0 <= index < len(self.filenames) else None

    def _read_again(self) -> Iterator[dict[str, Any]]:
        count = 0
        for count, (number, line) in enumerate(_json_lines(self.path), start=1):
            item = _json_object(self.path, number, line)
            if count > len(self) or _name(item) != self.filenames[count - 1]:
                raise UsageError(f"{self.path} changed while it was imported (line {number})")
            yield item
        if count != len(self):
            raise UsageError(f"{self.path} changed while it was imported (it is shorter)")


def scan(path: Path, category: str | None, progress: Progress) -> Source:
    """Read the source through once; any unreadable input is a usage error."""
    if path.is_dir():
        files = _files(path)
        if not files:
            raise UsageError(f"No .md or .txt files in {path}")
        progress.total = len(files)
        for file in files:
            read_text(str(file))  # a file that is not UTF-8 text stops the import here
            progress.advance()
        return Source(path, category, [file.name for file in files], files=files)
    # A regular file is read again by the import; anything else is kept as it is read.
    held: list[dict[str, Any]] | None = None if path.is_file() else []
    filenames: list[str | None] = []
    for number, line in _json_lines(path):
        item = _json_object(path, number, line)
        filenames.append(_name(item))
        if held is not None:
            held.append(item)
        progress.advance()
    if not filenames:
        raise UsageError(f"{path} has no JSON lines to import")
    return Source(path, category, filenames, held=held)


def _name(item: dict[str, Any]) -> str | None:
    name = item.get("filename")
    return name if isinstance(name, str) else None


def left_out(path: Path) -> list[str]:
    """What an import of ``path`` does not take: a folder's subfolders (``name/``) and
    files other than .md and .txt; nothing of a JSON lines file."""
    if not path.is_dir():
        return []
    return sorted(
        f"{p.name}/" if p.is_dir() else p.name for p in path.iterdir() if not _importable(p)
    )


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _importable(p))


def _importable(path: Path) -> bool:
    return path.suffix in TEXT_SUFFIXES and path.is_file()


def _json_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The file's lines that are not blank, numbered from 1, read one at a time."""
    with reading(str(path)), path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if line.strip():
                yield number, line


def _json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError:
        raise UsageError(f"{path} line {number}: not valid JSON") from None
    except RecursionError:
        raise UsageError(f"{path} line {number}: JSON nested too deeply") from None
    if not isinstance(item, dict):
        raise UsageError(f"{path} line {number}: must be a JSON object")
    return item
