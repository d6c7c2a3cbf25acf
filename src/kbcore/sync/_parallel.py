"""Bounded fan-out that collects failures instead of cancelling the siblings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

import anyio
import attrs

from kbcore.errors import KbError, SyncFailed

T = TypeVar("T")
R = TypeVar("R")


@attrs.frozen
class Outcomes(Generic[T, R]):
    """What a fan-out did: each item's result, or the kbcore error it ended with."""

    succeeded: list[tuple[T, R]]
    failed: list[tuple[T, KbError]]


async def for_each(items: Iterable[T], work: Callable[[T], Awaitable[R]]) -> Outcomes[T, R]:
    """Run ``work`` on every item at once; ``work`` bounds what must be bounded.

    A kbcore error (a Vapi failure after its retries, a store error) is
    recorded against its item and the others go on, so one bad document
    cannot waste the uploads of the rest. ``SyncFailed`` stops the whole sync
    (its claim is gone, say): the others are cancelled and it is raised as it
    is, after the fan-out. Anything else is a bug: it stops the others too and
    propagates as it is, not wrapped in an exception group.
    """
    outcomes: Outcomes[T, R] = Outcomes(succeeded=[], failed=[])
    stopped: list[Exception] = []

    async def run_one(item: T) -> None:
        try:
            result = await work(item)
        except SyncFailed as stop:
            stopped.append(stop)
            tg.cancel_scope.cancel()
        except KbError as error:
            outcomes.failed.append((item, error))
        except Exception as error:  # raised below, unwrapped
            stopped.append(error)
            tg.cancel_scope.cancel()
        else:
            outcomes.succeeded.append((item, result))

    async with anyio.create_task_group() as tg:
        for item in items:
            tg.start_soon(run_one, item)
    if stopped:
        raise stopped[0]
    return outcomes
