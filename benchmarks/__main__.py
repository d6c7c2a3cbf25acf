"""``python -m benchmarks``: run every scenario, print a table, write ``RESULTS.md``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import anyio

from benchmarks.harness import Figure, Sizes, log_info_to, machine
from benchmarks.report import render_markdown, render_table
from benchmarks.scenarios import SCENARIOS, run
from kbcore.testing import database

RESULTS = Path(__file__).with_name("RESULTS.md")
#: Live knowledge's figures, measured by ``benchmarks.retrieval`` (its own, longer runs) and
#: kept in RESULTS.md below this suite's.
LIVE_RESULTS = Path(__file__).with_name("retrieval") / "RESULTS.md"
#: The figures of later runs of single scenarios (speed before and after, auto-sync, moving
#: many documents), measured by hand and kept likewise.
SPEED_RESULTS = Path(__file__).with_name("speed_results.md")


def _quiet_logging() -> None:
    # kbcore logs every write at info; render it as a host would (JSON) but throw it
    # away, so the figures include the cost of logging and the terminal stays readable.
    log_info_to(open(os.devnull, "w"))  # noqa: SIM115 (lives as long as the process)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], help="default: all")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks, no numbers")
    parser.add_argument("--output", type=Path, default=RESULTS, help="default: %(default)s")
    args = parser.parse_args(argv)
    names = args.scenarios or list(SCENARIOS)
    sizes = Sizes.smoke() if args.smoke else Sizes()
    _quiet_logging()
    started = time.perf_counter()
    with database.postgres_server() as server_dsn:

        async def everything() -> tuple[list[Figure], list[tuple[str, str]]]:
            figures = await run(server_dsn, sizes, names, progress=_print_progress)
            return figures, await machine(server_dsn)

        figures, described = anyio.run(everything)
    elapsed = time.perf_counter() - started
    print(render_table(figures))
    args.output.write_text(
        render_markdown(
            figures,
            described,
            ran_at=datetime.now(UTC),
            elapsed=elapsed,
            appendix=appendix(),
        ),
        encoding="utf-8",
    )
    print(f"\nWritten to {args.output} ({elapsed:.0f} s)")
    return 0


def appendix() -> str:
    """What RESULTS.md carries below the figures of the run: the results measured by hand."""
    return "\n".join(path.read_text(encoding="utf-8") for path in (SPEED_RESULTS, LIVE_RESULTS))


def _print_progress(figure: Figure) -> None:
    print(f"[{figure.verdict}] {figure.scenario}: {figure.ratio}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
