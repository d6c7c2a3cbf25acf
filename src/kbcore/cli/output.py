"""How the command speaks: tables for people, JSON for scripts, a progress line on terminals."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TextIO
from uuid import UUID

import anyio
import attrs

_SPINNER = "|/-\\"
_BAR_WIDTH = 24
_TICK = 0.1


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
    """``[#####-----] 3/10`` when the total is known, a spinner otherwise; and the time so far.

    ``note`` says what the work is waiting for, such as a retry.
    """

    stream: TextIO
    label: str
    total: int | None = None
    done: int = 0
    note: str | None = None
    _started: float = attrs.field(factory=time.monotonic, init=False)
    _frame: int = attrs.field(default=0, init=False)

    @property
    def visible(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def advance(self, count: int = 1) -> None:
        self.done += count
        self.draw()

    def render(self) -> str:
        elapsed = f"{time.monotonic() - self._started:.1f}s"
        note = f" ({self.note})" if self.note else ""
        if self.total:
            filled = min(_BAR_WIDTH, _BAR_WIDTH * self.done // self.total)
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            return f"{self.label} [{bar}] {self.done}/{self.total} {elapsed}{note}"
        spinner = _SPINNER[self._frame % len(_SPINNER)]
        count = f" {self.done}" if self.done else ""
        return f"{self.label} {spinner}{count} {elapsed}{note}"

    def draw(self) -> None:
        if self.visible:
            self.stream.write("\r\x1b[K" + self.render())
            self.stream.flush()

    def clear(self) -> None:
        if self.visible:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    async def _animate(self) -> None:
        while True:
            self._frame += 1
            self.draw()
            await anyio.sleep(_TICK)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Progress]:
        """Keep the line moving while the block runs; erase it afterwards."""
        if not self.visible:
            yield self
            return
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
