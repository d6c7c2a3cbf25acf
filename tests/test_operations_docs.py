"""docs/operations.md: the commands it shows exist (its Python runs in test_docs)."""

from __future__ import annotations

import re
from pathlib import Path

from kbcore.cli import build_parser

DOC = Path(__file__).parents[1] / "docs" / "operations.md"
PYTHON = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
CONSOLE = re.compile(r"^```console\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def test_every_command_shown_parses() -> None:
    """The command lines of the guide are valid for the parser (ids filled in)."""
    parser = build_parser()
    ids = {
        "ORG_ID": "550e8400-e29b-41d4-a716-446655440000",
        "DOCUMENT_ID": "660e8400-e29b-41d4-a716-446655440000",
    }
    commands = [
        line.split("#")[0].split()
        for block in CONSOLE.finditer(DOC.read_text(encoding="utf-8"))
        for line in block.group(1).splitlines()
        if "kbcore " in line and not line.startswith("export ")
    ]
    assert len(commands) >= 14
    for words in commands:
        args = [ids.get(word, word) for word in words[words.index("kbcore") + 1 :]]
        assert parser.parse_args(args).handler is not None
