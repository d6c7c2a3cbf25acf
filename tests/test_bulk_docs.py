"""The examples in docs/bulk-and-search.md run as written."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.anyio

DOC = Path(__file__).parents[1] / "docs" / "bulk-and-search.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


async def test_the_bulk_and_search_guide_runs() -> None:
    """Every python block of the guide runs, in order, in one namespace."""
    text = DOC.read_text(encoding="utf-8")
    namespace: dict[str, Any] = {}
    blocks = list(BLOCK.finditer(text))
    assert len(blocks) >= 7
    for block in blocks:
        line = text.count("\n", 0, block.start(1)) + 1
        code = compile(
            block.group(1), f"{DOC.name}:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            await result
