"""The benchmark scenarios by name, and running a selection of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from benchmarks import autosync, creates, floor, limits, storage, sync, transfer
from benchmarks.environment import Env
from benchmarks.harness import Figure, Sizes
from kbcore.testing import database

Scenario = Callable[[Env], Awaitable[list[Figure]]]

SCENARIOS: dict[str, Scenario] = {
    "create": creates.create,
    "import": storage.bulk_import,
    "list": storage.list_page,
    "search": storage.search,
    "sync": sync.full_sync,
    "resync": sync.resync_against_original,
    "ratelimit": limits.rate_limited,
    "growth": limits.cost_growth,
    "transfer": transfer.transfer,
    "floor": floor.sync_floor,
    "nochange": floor.no_change_sync,
    "autosync": autosync.auto_sync,
}


async def run(
    server_dsn: str,
    sizes: Sizes,
    names: Sequence[str] = tuple(SCENARIOS),
    *,
    template: str | None = None,
    progress: Callable[[Figure], None] = lambda figure: None,
) -> list[Figure]:
    """Run the named scenarios on a server, each in a database of its own.

    The databases are cloned from ``template`` (a migrated database), made for the
    run when not given.
    """
    made = template is None
    name = await database.create_template(server_dsn) if template is None else template
    try:
        env = Env(server_dsn, name, sizes)
        figures: list[Figure] = []
        for scenario in names:
            for figure in await SCENARIOS[scenario](env):
                progress(figure)
                figures.append(figure)
        return figures
    finally:
        if made:
            await database.drop_database(server_dsn, name)
