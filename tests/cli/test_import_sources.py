"""What ``kbcore import`` reads: checked to the end first, then read again an item at a time."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from kbcore.cli.common import UsageError
from kbcore.cli.output import Progress
from kbcore.cli.sources import scan


def quiet() -> Progress:
    return Progress(io.StringIO(), "Reading", None)


def test_a_large_file_is_never_held_in_memory(tmp_path: Path) -> None:
    """20 MB of JSON lines: the scan keeps only filenames and the items come one at a
    time, so Python's peak stays far below the file's size (reading it whole, as a list of
    items, takes more than twice its size)."""
    path = tmp_path / "big.jsonl"
    content = "Our pricing, plans and refunds. " * 30
    with path.open("w", encoding="utf-8") as file:
        for number in range(20_000):
            file.write(json.dumps({"filename": f"doc-{number}.md", "content": content}) + "\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        source = scan(path, "general", quiet())
        seen = 0
        for item in source:
            assert item["category"] == "general"
            seen += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (seen, len(source), source.filename(19_999)) == (20_000, 20_000, "doc-19999.md")
    assert peak < size / 4, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"


def test_a_line_separator_inside_a_string_does_not_end_the_line(tmp_path: Path) -> None:
    """An export writes U+2028 as it is (ensure_ascii=False); it is part of the content."""
    path = tmp_path / "kb.jsonl"
    content = "Line one\u2028line two\x0cpage two"
    path.write_text(json.dumps({"filename": "a.md", "content": content}, ensure_ascii=False) + "\n")
    assert [item["content"] for item in scan(path, None, quiet())] == [content]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"filename": "a.md", "content": "x"}\n[1, 2]\n', "line 2: must be a JSON object"),
        ('{"filename": "a.md", "content": "x"}\n\n{oops\n', "line 3: not valid JSON"),
        ("\n\n", "has no JSON lines to import"),
    ],
    ids=["not-an-object", "not-json", "empty"],
)
def test_bad_input_is_a_usage_error_before_any_item_is_read(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "kb.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        scan(path, None, quiet())


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "kb.jsonl"
    path.write_bytes(b'{"filename": "a.md", "content": "caf\xe9"}\n')
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        scan(path, None, quiet())


def test_a_folder_gives_its_text_files_in_name_order(tmp_path: Path) -> None:
    for name, text in [("b.md", "B"), ("a.txt", "A"), ("notes.pdf", "P")]:
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    source = scan(tmp_path, None, quiet())
    assert list(source) == [
        {"filename": "a.txt", "content": "A"},
        {"filename": "b.md", "content": "B"},
    ]


def test_a_pipe_is_read_once_and_its_items_kept(tmp_path: Path) -> None:
    """``kbcore import ORG /dev/stdin`` or ``<(jq ...)``: a pipe cannot be read twice."""
    read, write = os.pipe()
    lines = [{"filename": "a.md", "content": "A"}, {"filename": "b.md", "content": "B"}]
    with os.fdopen(write, "w", encoding="utf-8") as writer:
        writer.write("".join(json.dumps(line) + "\n" for line in lines))
    try:
        source = scan(Path(f"/dev/fd/{read}"), None, quiet())
        assert (len(source), list(source)) == (2, lines)
    finally:
        os.close(read)


@pytest.mark.parametrize(
    "rewritten",
    [
        '{"filename": "a.md", "content": "x"}\n{"filename": "c.md", "content": "y"}\n',
        '{"filename": "a.md", "content": "x"}\n',
        '{"filename": "a.md", "content": "x"}\n{"filename": "b.md", "content": "y"}\n'
        '{"filename": "c.md", "content": "z"}\n',
    ],
    ids=["renamed", "shorter", "longer"],
)
def test_a_file_changed_between_the_two_reads_stops_the_import(
    tmp_path: Path, rewritten: str
) -> None:
    path = tmp_path / "kb.jsonl"
    path.write_text(
        '{"filename": "a.md", "content": "x"}\n{"filename": "b.md", "content": "y"}\n',
        encoding="utf-8",
    )
    source = scan(path, None, quiet())
    path.write_text(rewritten, encoding="utf-8")
    with pytest.raises(UsageError, match="changed while it was imported"):
        list(source)
