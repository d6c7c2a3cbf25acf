"""The sync's fan-out: kbcore errors are collected per item, anything else stops it unwrapped."""

from __future__ import annotations

import anyio
import pytest

from kbcore.errors import NotSaved
from kbcore.sync._parallel import for_each

pytestmark = pytest.mark.anyio


async def test_kbcore_errors_are_collected_and_the_others_go_on() -> None:
    async def work(item: int) -> int:
        if item % 2:
            raise NotSaved(f"item {item}")
        return item * 10

    outcomes = await for_each(range(5), work)
    assert sorted(outcomes.succeeded) == [(0, 0), (2, 20), (4, 40)]
    assert sorted((item, str(error)) for item, error in outcomes.failed) == [
        (1, "item 1"),
        (3, "item 3"),
    ]


async def test_a_bug_stops_the_others_and_propagates_as_itself() -> None:
    """Not an ExceptionGroup: the caller (and the public API) sees the error that happened."""
    finished: list[int] = []

    async def work(item: int) -> None:
        if item == 0:
            raise LookupError("a bug")
        await anyio.sleep_forever()
        finished.append(item)

    with pytest.raises(LookupError, match="a bug"):
        await for_each(range(4), work)
    assert finished == []
