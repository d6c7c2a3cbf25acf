"""The results as a terminal table and as ``RESULTS.md``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from benchmarks.harness import Figure

_HEADERS = ("Scenario", "kbcore", "Baseline", "Ratio", "Goal", "Verdict")

_METHOD = """\
## How the figures are measured

- Database baselines are plain asyncpg calls through the same pool as kbcore's, so both pay
  the pool's acquire and its reset query on release: `pool.execute` of the same `INSERT`,
  `copy_records_to_table` of the same rows, `pool.fetch` of the store's own keyset and search
  SQL. Read figures compare medians (p50); p95 is given alongside.
- kbcore's info-level log events are rendered as JSON into `/dev/null`: their cost counts.
- FakeVapi runs in a process of its own on loopback (`benchmarks/remote_vapi.py`), answering
  each request late by the stated latency; requests are counted on the client.
- The ideal sync time is the latency times the rounds of requests: the file list and tool
  calls one after another, uploads and deletes `c` at a time, the assistants (a GET and a
  PATCH each) `c` at a time.
- The original system's sync (`benchmarks/original.py`) uploads everything at once, creates
  a new tool and appends it to every assistant, on every sync; its retries (three, after 1,
  2 and 4 s, of any failure, ignoring `Retry-After`) are an assumption: the runbook only
  says "exponential backoff".
- Two CPUs run PostgreSQL, FakeVapi and the client, and other work on the machine may run
  too: a figure that looks off is worth a second run (`python -m benchmarks <scenario>`).
"""


def _row(figure: Figure) -> tuple[str, ...]:
    return (
        figure.scenario,
        figure.measured,
        figure.baseline,
        figure.ratio,
        figure.goal,
        figure.verdict.replace("*", ""),
    )


def render_table(figures: Sequence[Figure]) -> str:
    rows = [_HEADERS, *(_row(f) for f in figures)]
    widths = [min(60, max(len(row[i]) for row in rows)) for i in range(len(_HEADERS))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(cell[:60].ljust(width) for cell, width in zip(row, widths, strict=True))
        )
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(
    figures: Sequence[Figure],
    described: Sequence[tuple[str, str]],
    *,
    ran_at: datetime,
    elapsed: float,
    appendix: str = "",
) -> str:
    """The results page; ``appendix`` (Markdown measured elsewhere) goes at its end."""
    lines = [
        "# Benchmark results",
        "",
        f"Measured with `uv run python -m benchmarks` on {ran_at:%Y-%m-%d} in {elapsed:.0f} s.",
        "Every ratio compares kbcore with a baseline measured in the same run; timed calls",
        "alternate between the two so that drift and other load hit both alike.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {name} | {_cell(value)} |" for name, value in described),
        "",
        "## Figures",
        "",
        "| " + " | ".join(_HEADERS) + " |",
        "| " + " | ".join("---" for _ in _HEADERS) + " |",
        *(
            "| " + " | ".join(_cell(cell) for cell in (*_row(f)[:-1], f.verdict)) + " |"
            for f in figures
        ),
        "",
    ]
    lines += [_METHOD]
    notes = [f for f in figures if f.note]
    if notes:
        lines += ["## Notes", ""]
        lines += [f"- **{_cell(f.scenario)}** ({f.verdict}): {f.note}" for f in notes]
        lines.append("")
    if appendix:
        lines += [appendix.rstrip(), ""]
    return "\n".join(lines)
