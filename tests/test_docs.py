"""The documentation's examples run as tests, and so does the example downstream project.

Every ```python block of ``README.md`` and ``docs/*.md`` runs, in order, in one namespace
per file and in one event loop, with top-level ``await`` allowed and ``DATABASE_URL``
naming a fresh migrated database. A block fenced ```python script is a complete program
instead: it runs as written, in a new process, and must print nothing on standard error;
when the text after it says "It prints `...`", that is all it prints. A block fenced
```python file=<path> is (part of) a file of a small project: those blocks are written
out, in order, and that project's tests run with pytest in a new process, as a
downstream project runs them. A block fenced ```python no-run is shown and not run (for
fragments that cannot stand alone; use sparingly).
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
import stamina
import structlog

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEST_FUNCTION = re.compile(r"^(?:async )?def test_", re.MULTILINE)
FENCE = re.compile(r"^```python(?P<info>[^\n]*)\n(?P<code>.*?)^```$", re.DOTALL | re.MULTILINE)
PRINTS = re.compile(r"\s*It prints `(?P<output>[^`]*)`")


@attrs.frozen
class Block:
    """One python code block of a document."""

    code: str
    line: int
    file: str | None
    run: bool
    script: bool = False
    #: What the text after a script says it prints, if it says.
    prints: str | None = None


def blocks(text: str) -> list[Block]:
    found = []
    for match in FENCE.finditer(text):
        words = match["info"].split()
        files = [word.removeprefix("file=") for word in words if word.startswith("file=")]
        prints = PRINTS.match(text, match.end())
        found.append(
            Block(
                code=match["code"],
                line=text.count("\n", 0, match.start("code")) + 1,
                file=files[0] if files else None,
                run="no-run" not in words,
                script="script" in words,
                prints=None if prints is None else prints["output"],
            )
        )
    return found


def read_blocks(doc: Path) -> list[Block]:
    return blocks(doc.read_text(encoding="utf-8"))


def write_project(project: Path, files: list[Block]) -> Path:
    """Write the ``file=`` blocks out as a project; return its directory.

    Blocks naming the same file add to it, so a guide can grow a file step by step.
    """
    for block in files:
        assert block.file is not None
        path = project / block.file
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            file.write(block.code)
    return project


@pytest.fixture(autouse=True)
def isolated() -> Iterator[None]:
    """Examples may retry Vapi calls and configure logging; neither outlives the test.

    They start with logging unconfigured, as in a fresh process.
    """
    structlog.reset_defaults()
    with stamina.set_testing(True):
        yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


async def run_pytest(project: Path, server_dsn: str, scratch: Path) -> str:
    """Run ``project``'s tests in a new process on the session's server; return the output."""
    env = {
        **os.environ,
        "KBCORE_TEST_DSN": server_dsn,
        "HYPOTHESIS_STORAGE_DIRECTORY": str(scratch / ".hypothesis"),
    }
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(project)]
    with anyio.fail_after(300):
        done = await anyio.run_process(command, cwd=project, env=env, check=False, stderr=None)
    output: str = done.stdout.decode()
    assert done.returncode == 0, output
    return output


async def run_script(block: Block, doc: Path, scratch: Path) -> None:
    """Run a script block as a program of its own; check what it prints."""
    script = scratch / f"{doc.stem}_{block.line}.py"
    script.write_text(block.code, encoding="utf-8")
    with anyio.fail_after(120):
        done = await anyio.run_process([sys.executable, str(script)], check=False)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert (done.returncode, err) == (0, ""), f"{doc.name}:{block.line}: {err}"
    if block.prints is not None:
        assert out == block.prints + "\n", f"{doc.name}:{block.line}"


@pytest.mark.parametrize("doc", DOCS, ids=[doc.name for doc in DOCS])
async def test_examples_run(
    doc: Path,
    kbcore_database_dsn: str,
    kbcore_server_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The document's examples run as written and their assertions hold."""
    monkeypatch.setenv("DATABASE_URL", kbcore_database_dsn)
    found = [block for block in read_blocks(doc) if block.run]
    namespace: dict[str, Any] = {"__name__": f"docs.{doc.stem}"}
    for block in found:
        if block.script:
            await run_script(block, doc, tmp_path)
        elif block.file is None:
            code = compile(
                block.code, f"{doc.name}:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            )
            result = eval(code, namespace)
            if inspect.iscoroutine(result):
                await result
    project_files = [block for block in found if block.file is not None]
    if project_files:
        project = write_project(tmp_path / "project", project_files)
        output = await run_pytest(project, kbcore_server_dsn, tmp_path)
        tests = sum(len(TEST_FUNCTION.findall(block.code)) for block in project_files)
        assert re.search(rf"^{tests} passed in ", output, re.MULTILINE), output


async def test_the_downstream_example_passes(kbcore_server_dsn: str, tmp_path: Path) -> None:
    """examples/downstream, a project that uses only the public kit, passes its tests."""
    output = await run_pytest(ROOT / "examples" / "downstream", kbcore_server_dsn, tmp_path)
    assert re.search(r"^4 passed in ", output, re.MULTILINE), output


async def test_the_fastapi_host_example_passes(kbcore_server_dsn: str, tmp_path: Path) -> None:
    """examples/fastapi_host, a FastAPI backend served on loopback, passes its tests."""
    output = await run_pytest(ROOT / "examples" / "fastapi_host", kbcore_server_dsn, tmp_path)
    assert re.search(r"^4 passed in ", output, re.MULTILINE), output
