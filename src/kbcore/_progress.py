"""Progress of long work (a sync, an import, an export), as a host's callback hears of it."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from kbcore.errors import ValidationError


@attrs.frozen
class Progress:
    """How far one phase of long work has come: ``done`` of ``total`` items.

    The phases: ``"export"`` and ``"import"`` (documents), and a sync's ``"upload"``
    (changed documents uploaded), ``"assistants"`` (assistants given the tool) and
    ``"delete"`` (superseded files deleted), in that order. Each phase is reported
    first with ``done=0``, then as items finish; ``done`` never goes back within a
    phase, and a phase that completes ends with ``done == total``.
    """

    phase: str
    done: int
    total: int

    @property
    def fraction(self) -> float:
        """``done / total``; 1.0 for a phase with nothing to do."""
        return self.done / self.total if self.total else 1.0


#: What ``on_progress=`` takes. It is called in the event loop, after each item (each
#: batch, for an import): a callback that does slow work should keep only the latest.
OnProgress = Callable[[Progress], None]


@attrs.define
class Tally:
    """Counts one phase's items and tells ``on_progress`` (if any) at every step."""

    phase: str
    on_progress: OnProgress | None
    total: int = 0
    done: int = 0

    def start(self, total: int) -> None:
        self.total, self.done = total, 0
        self._report()

    def advance(self, count: int = 1) -> None:
        # A stream that yields more than it counted (it cannot, from one snapshot) would
        # still end at its total.
        self.done += count
        self.total = max(self.total, self.done)
        self._report()

    def reach(self, done: int) -> None:
        """``done`` items in all, if that is more than before."""
        if done > self.done:
            self.advance(done - self.done)

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(self.phase, self.done, self.total))


def on_progress(value: object) -> OnProgress | None:
    """An ``on_progress`` argument: ``None`` or something to call."""
    if value is not None and not callable(value):
        raise ValidationError("on_progress", "must be a function that takes a Progress")
    return value
