"""How the command speaks: tables for people, JSON for scripts, a progress line on terminals."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TextIO
from uuid import UUID

import anyio
import attrs

import kbcore

_SPINNER = "|/-\\"
_BAR_WIDTH = 24
#: Seconds between two redraws of a bar on a terminal, at the least.
TICK = 0.25
#: Seconds between two plain progress lines when standard error is not a terminal.
LINE_EVERY = 10.0
#: What the bar calls each phase the library reports.
PHASES = {
    "export": "Exporting",
    "import": "Importing",
    "upload": "Uploading files",
    "assistants": "Updating assistants",
    "delete": "Deleting replaced files",
}


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: attrs values as objects, ids and times as strings."""
    if attrs.has(type(value)):
        return {f.name: jsonable(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal | Enum):
        return str(value)
    return value


def plural(number: int, noun: str) -> str:
    """``1 document``, ``2 documents``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Aligned columns under a header; numbers are right-aligned."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(text)) for width, (text, _) in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        parts = [
            text.rjust(width) if numeric else text.ljust(width)
            for width, (text, numeric) in zip(widths, row, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return lines


def _cell(value: object) -> tuple[str, bool]:
    if value is None:
        return "-", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S"), False
    return str(value), isinstance(value, int | float | Decimal)


@attrs.define
class Output:
    """Where results and messages go. With ``json`` the result is one JSON document."""

    json: bool
    stdout: TextIO
    stderr: TextIO

    def result(self, data: Any, lines: Iterable[str] = ()) -> None:
        """The command's result: ``data`` as JSON, or ``lines`` for people."""
        if self.json:
            self.stdout.write(json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n")
        else:
            self.lines(lines)

    def lines(self, lines: Iterable[str]) -> None:
        """Text for people (nothing in JSON mode, where stdout is the result alone)."""
        if not self.json:
            for line in lines:
                self.stdout.write(line + "\n")
            self.stdout.flush()

    def progress(self, label: str, total: int | None = None) -> Progress:
        """A progress line for long work, drawn on standard error only if it is a terminal."""
        return Progress(self.stderr, label, total)


@attrs.define
class Progress:
    """A progress bar on standard error for long work, fed by the library's ``on_progress``.

    On a terminal: ``Exporting [#########---------------] 1200/3000 40% 850/s ETA 2s``
    (a spinner and the time so far while the total is unknown), redrawn at most every
    ``TICK`` seconds however often the work advances. Elsewhere (a file, a CI log): a
    plain line at most every ``LINE_EVERY`` seconds, so short work prints nothing.
    ``note`` says what the work is waiting for, such as a retry.
    """

    stream: TextIO
    label: str
    total: int | None = None
    done: int = 0
    note: str | None = None
    clock: Callable[[], float] = attrs.field(default=time.monotonic, kw_only=True, repr=False)
    _phase: str | None = attrs.field(default=None, init=False)
    _started: float = attrs.field(init=False)
    _shown: float = attrs.field(init=False)
    _drawn: bool = attrs.field(default=False, init=False)
    _frame: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        self._started = self._shown = self.clock()

    @property
    def visible(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def update(self, progress: kbcore.Progress) -> None:
        """Take the library's news of a phase (its ``on_progress`` callback)."""
        started = progress.phase != self._phase
        if started:
            # A new phase has a rate and an ETA of its own, and waits for nothing yet.
            self._phase, self._started = progress.phase, self.clock()
            self.label = PHASES.get(progress.phase, progress.phase)
            self.note = None
        self.total, self.done = progress.total, progress.done
        # A phase's first news is drawn at once, so its total shows however fast it goes.
        self.show(now=started)

    def advance(self, count: int = 1) -> None:
        self.done += count
        self.show()

    def show(self, *, now: bool = False) -> None:
        """Redraw the bar (at once if ``now``), or write a line, if it is time to."""
        moment = self.clock()
        if self.visible:
            if now or not self._drawn or moment - self._shown >= TICK:
                self._shown, self._drawn = moment, True
                self.stream.write("\r\x1b[K" + self.render(moment))
                self.stream.flush()
        elif moment - self._shown >= LINE_EVERY:
            self._shown = moment
            self.stream.write(self.render(moment, bar=False) + "\n")
            self.stream.flush()

    def render(self, now: float | None = None, *, bar: bool = True) -> str:
        now = self.clock() if now is None else now
        elapsed = max(now - self._started, 0.0)
        note = f" ({self.note})" if self.note else ""
        if self.total is None:
            spinner = f" {_SPINNER[self._frame % len(_SPINNER)]}" if bar else ":"
            count = f" {self.done}" if self.done else ""
            return f"{self.label}{spinner}{count} {elapsed:.1f}s{note}"
        # Whole numbers, so that a third is 8 of 24 marks; a phase with nothing to do is done.
        done, total = (min(self.done, self.total), self.total) if self.total else (1, 1)
        filled = _BAR_WIDTH * done // total
        shown = f" [{'#' * filled}{'-' * (_BAR_WIDTH - filled)}]" if bar else ":"
        figures = f"{self.done}/{self.total} {100 * done // total}%"
        return f"{self.label}{shown} {figures}{_pace(self.done, self.total, elapsed)}{note}"

    def clear(self) -> None:
        if self.visible and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    async def _animate(self) -> None:
        while True:
            self.show()
            await anyio.sleep(TICK)
            self._frame += 1

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Progress]:
        """Keep the bar moving while the block runs (a spinner, the time); erase it after."""
        failure: BaseException | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._animate)
            try:
                yield self
            except BaseException as error:  # re-raised below, outside the task group
                failure = error
            finally:
                tg.cancel_scope.cancel()
        self.clear()
        if failure is not None:
            # Raised as it was, not wrapped in the task group's exception group.
            raise failure


def _pace(done: int, total: int, elapsed: float) -> str:
    """`` 850/s ETA 2s`` once there is a rate to tell; nothing before."""
    if done == 0 or elapsed <= 0:
        return ""
    rate = done / elapsed
    left = (total - done) / rate
    per_second = f"{rate:.0f}/s" if rate >= 10 else f"{rate:.1f}/s"
    return f" {per_second} ETA {_duration(left)}"


def _duration(seconds: float) -> str:
    whole = math.ceil(seconds)
    return f"{whole}s" if whole < 60 else f"{whole // 60}m{whole % 60:02d}s"
