"""The retrieval benchmarks at tiny sizes, so that they cannot rot between manual runs."""

from __future__ import annotations

import pytest
from benchmarks.retrieval import pending, quality, serve, speed, testset

from kbcore.retrieval._passages import DEFAULT_MAX_WORDS
from kbcore.retrieval._similarity import SIMILARITY_THRESHOLD

pytestmark = pytest.mark.anyio


def test_the_test_set_holds_what_its_readme_promises() -> None:
    """About 40 documents; 80+ questions, 10+ unanswerable; every answer names a document."""
    filenames = {document.filename for document in testset.documents()}
    questions = testset.questions()
    held_out = testset.questions(testset.HELD_OUT)
    assert len(filenames) >= 30
    assert len(questions) >= 80
    assert sum(not q.answerable for q in questions) >= 10
    assert all(q.answers <= filenames for q in (*questions, *held_out))
    assert len({q.id for q in (*questions, *held_out)}) == len(questions) + len(held_out)


async def test_the_quality_benchmark_reports_every_method_on_both_sets(
    kbcore_server_dsn: str,
) -> None:
    rows = await quality.run(
        kbcore_server_dsn, max_words=DEFAULT_MAX_WORDS, threshold=SIMILARITY_THRESHOLD
    )
    table = quality.render(rows)
    assert len(rows) == len(quality.METHODS) * len(quality.QUESTION_SETS)
    for name in quality.METHODS:
        assert f"| tuning | {name} |" in table
        assert f"| held-out | {name} |" in table


async def test_the_speed_benchmark_reports_both_methods(kbcore_server_dsn: str) -> None:
    report = await speed.run(kbcore_server_dsn, speed.Sizes.smoke())
    assert "| kbcore.live | all |" in report
    assert "| OR baseline | all |" in report
    assert "recall@3" in report


async def test_the_serve_benchmark_reports_both_paths(kbcore_server_dsn: str) -> None:
    report = await serve.run(kbcore_server_dsn, speed.Sizes.smoke())
    assert "| kbcore serve, loopback HTTP |" in report
    assert "| bare SQL |" in report
    assert "kbcore serve / bare SQL:" in report


async def test_the_pending_list_benchmark_fills_the_lists_and_times_both_states(
    kbcore_server_dsn: str,
) -> None:
    report = await pending.run(kbcore_server_dsn, speed.Sizes.smoke())
    rows = [line for line in report.splitlines() if line.startswith(("| empty", "| full"))]
    assert [row.split()[1] for row in rows] == ["empty", "full"]
    full_pages = rows[1].split("|")[2].split("/")
    assert max(int(pages) for pages in full_pages) >= 120
