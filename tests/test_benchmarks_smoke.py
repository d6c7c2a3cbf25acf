"""The benchmark code at tiny sizes, so that it cannot rot between manual runs.

These tests check that every scenario runs and reports; the figures themselves
mean nothing at these sizes and are not asserted.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from benchmarks import __main__ as command
from benchmarks.harness import Sizes, percentile
from benchmarks.report import render_markdown, render_table
from benchmarks.scenarios import SCENARIOS, run
from benchmarks.sync import ideal_seconds

from kbcore.testing.fake_vapi._http import RecordedRequest

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_each_scenario_runs_and_reports(
    kbcore_server_dsn: str, kbcore_template: str, scenario: str
) -> None:
    """The scenario yields figures with a goal; the table and RESULTS.md show them all.

    One test per scenario, so that they spread over the suite's workers.
    """
    figures = await run(kbcore_server_dsn, Sizes.smoke(), [scenario], template=kbcore_template)
    assert figures
    assert all(figure.goal and figure.measured and figure.baseline for figure in figures)
    described = [("CPUs (nproc)", "2")]
    markdown = render_markdown(figures, described, ran_at=datetime.now(UTC), elapsed=1.0)
    table = render_table(figures)
    for figure in figures:
        assert figure.scenario in markdown
        assert figure.scenario[:60] in table
    assert "| CPUs (nproc) | 2 |" in markdown


def test_the_command_writes_results(
    kbcore_server_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m benchmarks --smoke`` runs on the configured server and writes the file."""
    monkeypatch.setenv("KBCORE_TEST_DSN", kbcore_server_dsn)
    # The command configures structlog for the whole process; the suite's tests must not see it.
    monkeypatch.setattr(command, "_quiet_logging", lambda: None)
    output = tmp_path / "RESULTS.md"
    # A thread of its own: the anyio plugin's event loop of the tests before stays on this
    # one, and with sniffio installed anyio.run would see it as running.
    arguments = ["--smoke", "--output", str(output), "create", "growth"]
    with ThreadPoolExecutor(1) as thread:
        assert thread.submit(command.main, arguments).result() == 0
    text = output.read_text(encoding="utf-8")
    assert "## Machine" in text
    assert "no-change sync cost" in text


def test_results_end_with_the_appendix_the_command_writes() -> None:
    """Figures measured by hand live in the appendix files, so that a full run keeps them.

    RESULTS.md is rewritten by every full run: what was added to it alone would be lost.
    """
    results = command.RESULTS.read_text(encoding="utf-8")
    assert results.endswith("\n" + command.appendix().rstrip() + "\n")


def request(method: str, path: str) -> RecordedRequest:
    return RecordedRequest(
        method=method,
        path=path,
        query="",
        headers={},
        body=b"",
        status=200,
        response_headers={},
        response_body=b"",
    )


def test_the_ideal_sync_time_counts_rounds_of_parallel_requests() -> None:
    """Uploads and deletes go c at a time, assistants c at a time (GET, PATCH), the rest in turn."""
    requests = [
        request("GET", "/file"),
        *(request("POST", "/file") for _ in range(9)),
        request("POST", "/tool"),
        *(request(m, f"/assistant/{a}") for a in "abcde" for m in ("GET", "PATCH")),
        *(request("DELETE", f"/file/{i}") for i in range(3)),
    ]
    # list, tool: 2; uploads: 3 rounds; assistants: 2 rounds of 2; deletes: 1 round.
    assert ideal_seconds(requests, 4, 0.5) == pytest.approx((2 + 3 + 4 + 1) * 0.5)


def test_percentile_is_the_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert (percentile(samples, 0.5), percentile(samples, 0.95)) == (50.0, 95.0)
