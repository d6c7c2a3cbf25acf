"""docs/operations.md: its Python examples run as written, and its commands exist."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina
import structlog

from kbcore.cli import build_parser

DOC = Path(__file__).parents[1] / "docs" / "operations.md"
PYTHON = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
CONSOLE = re.compile(r"^```console\n(.*?)^```$", re.DOTALL | re.MULTILINE)


@pytest.fixture(autouse=True)
def isolated() -> Iterator[None]:
    with stamina.set_testing(True):
        yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.mark.anyio
async def test_every_python_example_runs() -> None:
    """Each python block runs, top-level await and all, and its assertions hold."""
    text = DOC.read_text(encoding="utf-8")
    blocks = list(PYTHON.finditer(text))
    assert len(blocks) == 2
    for block in blocks:
        line = text.count("\n", 0, block.start(1)) + 1
        code = compile(
            block.group(1), f"{DOC.name}:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        namespace: dict[str, Any] = {}
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            await result


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
