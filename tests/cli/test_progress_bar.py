"""The command's progress bar: done/total, rate and ETA, redrawn a few times a second at
most on a terminal, plain lines elsewhere; and an export of 3,000 documents on a real
pseudo-terminal that writes a bounded number of bytes."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import asyncpg
import attrs
import pytest

from kbcore import DocumentDraft, KnowledgeBase, Progress
from kbcore.cli.output import LINE_EVERY, TICK
from kbcore.cli.output import Progress as Bar
from kbcore.postgres import PostgresStore
from tests.cli.conftest import clean_environment, kbcore_on_a_terminal

ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@attrs.define
class Clock:
    """Time that moves only when the test says."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def export_steps(bar: Bar, clock: Clock, total: int, seconds: float) -> None:
    """Feed the bar an export of ``total`` documents spread evenly over ``seconds``."""
    bar.update(Progress("export", 0, total))
    for done in range(1, total + 1):
        clock.now += seconds / total
        bar.update(Progress("export", done, total))


def test_a_terminal_bar_is_redrawn_a_few_times_a_second_at_most() -> None:
    """3,000 steps in 3 seconds: a dozen redraws, not 3,000."""
    stream, clock = Terminal(), Clock()
    bar = Bar(stream, "Exporting", clock=clock)
    export_steps(bar, clock, 3000, seconds=3.0)
    redraws = stream.getvalue().count("\r\x1b[K")
    assert 3.0 / TICK - 1 <= redraws <= 3.0 / TICK + 1
    assert len(stream.getvalue()) < 2000


def test_the_bar_shows_done_total_rate_and_eta() -> None:
    stream, clock = Terminal(), Clock()
    bar = Bar(stream, "Working", clock=clock)
    bar.update(Progress("export", 0, 3000))
    clock.now += 2.0
    bar.update(Progress("export", 1000, 3000))
    assert bar.render() == "Exporting [########----------------] 1000/3000 33% 500/s ETA 4s"
    clock.now += 0.5
    bar.update(Progress("export", 1001, 3000))
    assert bar.render().endswith(" 400/s ETA 5s")
    # A new phase starts its own rate, and forgets what the last one waited for.
    bar.note = "Vapi answered 503; retry 1 of 9 in 1 s"
    bar.update(Progress("upload", 0, 40))
    assert bar.render() == "Uploading files [------------------------] 0/40 0%"
    clock.now += 10
    bar.update(Progress("upload", 4, 40))
    assert bar.render().endswith("4/40 10% 0.4/s ETA 1m30s")
    bar.update(Progress("delete", 0, 0))
    assert bar.render() == "Deleting replaced files [########################] 0/0 100%"


def test_elsewhere_a_plain_line_now_and_then() -> None:
    """Not a terminal (a file, a CI log): no terminal codes, one line every LINE_EVERY s."""
    stream, clock = io.StringIO(), Clock()
    bar = Bar(stream, "Exporting", clock=clock)
    export_steps(bar, clock, 3000, seconds=3.5 * LINE_EVERY)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert ESCAPE.search(stream.getvalue()) is None
    assert re.fullmatch(r"Exporting: \d+/3000 \d+% \d+/s ETA \d+s", lines[0]), lines[0]
    # Short work prints nothing at all.
    quick = io.StringIO()
    export_steps(Bar(quick, "Exporting", clock=Clock()), Clock(), 3000, seconds=1.0)
    assert quick.getvalue() == ""


@pytest.mark.anyio
async def test_an_export_of_3000_documents_on_a_terminal(
    kbcore_database_dsn: str, kbcore_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """The issue saw 97 KB of terminal codes for this; a throttled bar writes a few KB."""
    org = uuid.uuid4()
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    drafts = [DocumentDraft(f"doc-{i}.md", f"Content {i} " * 20) for i in range(3000)]
    assert (await kb.import_documents(org, drafts)).created == 3000
    env = clean_environment(DATABASE_URL=kbcore_database_dsn)
    target = tmp_path / "kb.jsonl"
    run = await kbcore_on_a_terminal("export", str(org), str(target), env=env)
    assert run.code == 0, run.stderr
    assert run.stdout == f"Exported 3000 documents to {target}\n"
    assert len(target.read_text(encoding="utf-8").splitlines()) == 3000
    shown = run.stderr
    assert "Exporting [" in shown
    assert "/3000 " in shown
    assert len(shown.encode()) < 8_000
    assert shown.count("\r\x1b[K") < 60
    assert shown.endswith("\r\x1b[K")


@pytest.mark.anyio
async def test_an_import_on_a_terminal_shows_its_bar(
    kbcore_database_dsn: str, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    for i in range(5):
        (folder / f"doc-{i}.md").write_text(f"Content {i}", encoding="utf-8")
    env = clean_environment(DATABASE_URL=kbcore_database_dsn)
    run = await kbcore_on_a_terminal("import", str(uuid.uuid4()), str(folder), env=env)
    assert run.code == 0, run.stderr
    assert "Importing [------------------------] 0/5 0%" in run.stderr
    assert run.stdout.startswith("Imported 5 items: 5 created")
