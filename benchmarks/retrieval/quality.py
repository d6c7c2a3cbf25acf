"""``python -m benchmarks.retrieval.quality``: recall, MRR and separation on the test set.

Loads the test set's 40 documents into one org of a throwaway database (on
``KBCORE_TEST_DSN``/``DATABASE_URL`` when set, else an embedded PostgreSQL), and ranks
every question with kbcore's live ranking (with its default synonyms, and without any)
and with the simplest OR query, on the tuning questions and on the held-out ones.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import anyio
import asyncpg
import attrs
from asyncpg.pool import PoolConnectionProxy

from benchmarks.retrieval import methods, testset
from benchmarks.retrieval.load import load, prepare
from benchmarks.retrieval.metrics import Quality, Ranked, Separation, quality, separation
from benchmarks.retrieval.testset import Question
from kbcore.postgres._connection import OnConnection
from kbcore.postgres._ranking import refresh_term_counts
from kbcore.retrieval._passages import DEFAULT_MAX_WORDS
from kbcore.retrieval._similarity import SIMILARITY_THRESHOLD
from kbcore.retrieval._spoken import NO_SYNONYMS
from kbcore.testing import database

ORG = UUID("00000000-0000-4000-8000-00000000000a")

Method = Callable[[PoolConnectionProxy, UUID, Question], Awaitable[Ranked]]

LIVE = "kbcore.live"

METHODS: dict[str, Method] = {
    LIVE: methods.live,
    "kbcore.live, no synonyms": lambda c, o, q: methods.live(c, o, q, synonyms=NO_SYNONYMS),
    "OR of words, ts_rank (baseline)": methods.baseline,
}

QUESTION_SETS = {"tuning": testset.QUESTIONS, "held-out": testset.HELD_OUT}


#: Thresholds at which kbcore.live's separation is shown, the default among them.
SWEEP = (0.3, 0.4, SIMILARITY_THRESHOLD, 0.5, 0.6, 0.7)


@attrs.frozen
class Row:
    questions: str
    method: str
    quality: Quality
    separation: Separation
    #: The separation at each of ``SWEEP``.
    sweep: tuple[Separation, ...]


async def measure(
    conn: PoolConnectionProxy, org_id: UUID, *, threshold: float = SIMILARITY_THRESHOLD
) -> list[Row]:
    """Every method on every question set, on an org that holds the test set."""
    rows = []
    for set_name, path in QUESTION_SETS.items():
        questions = testset.questions(path)
        for name, method in METHODS.items():
            results = [await method(conn, org_id, question) for question in questions]
            sweep = tuple(separation(results, t) for t in SWEEP)
            rows.append(
                Row(set_name, name, quality(results), separation(results, threshold), sweep)
            )
    return rows


async def load_test_set(
    conn: PoolConnectionProxy, org_id: UUID, *, max_words: int, headings: bool = True
) -> None:
    """The test set in one org; ``headings=False`` flattens every document into one
    section (heading lines become paragraphs), as a host's plain-text documents are."""
    documents = testset.documents()
    if not headings:
        documents = [
            testset.Document(d.filename, re.sub(r"^#+ *", "", d.content, flags=re.MULTILINE))
            for d in documents
        ]
    async with conn.transaction():
        await load(conn, org_id, documents, max_words=max_words)
        await refresh_term_counts(OnConnection(conn), org_id)


def render(rows: Sequence[Row]) -> str:
    header = (
        "| questions | method | answerable | recall@1 | recall@3 | MRR@10 "
        "| kept at threshold | unanswerable let through |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [
        f"| {r.questions} | {r.method} | {r.quality.questions} | {r.quality.recall_at_1:.2f} "
        f"| {r.quality.recall_at_3:.2f} | {r.quality.mrr_at_10:.2f} "
        f"| {r.separation.kept:.2f} | {r.separation.let_through:.2f} |"
        for r in rows
    ]
    threshold = rows[0].separation.threshold if rows else SIMILARITY_THRESHOLD
    sweep = [
        "| questions | " + " | ".join(f">= {t:.2f}" for t in SWEEP) + " |",
        "|---|" + "---|" * len(SWEEP),
        *(
            f"| {r.questions} | "
            + " | ".join(f"{s.kept:.2f} / {s.let_through:.2f}" for s in r.sweep)
            + " |"
            for r in rows
            if r.method == LIVE
        ),
    ]
    return "\n".join(
        [
            header,
            *lines,
            f"\nThreshold: similarity >= {threshold:.2f}. The baseline's ts_rank is not a"
            " similarity in 0..1: no threshold suits it.",
            f"\n{LIVE}, kept / let through at each threshold:\n",
            *sweep,
        ]
    )


async def run(
    server_dsn: str, *, max_words: int, threshold: float, headings: bool = True
) -> list[Row]:
    async with (
        database.temporary_database(server_dsn, prefix="kbcore_retrieval") as dsn,
        asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool,
    ):
        await prepare(pool)
        async with pool.acquire() as conn:
            await load_test_set(conn, ORG, max_words=max_words, headings=headings)
            return await measure(conn, ORG, threshold=threshold)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.retrieval.quality", description=__doc__
    )
    parser.add_argument("--max-words", type=int, default=DEFAULT_MAX_WORDS, help="passage cap")
    parser.add_argument("--threshold", type=float, default=SIMILARITY_THRESHOLD)
    parser.add_argument(
        "--without-headings",
        action="store_true",
        help="flatten the documents into one section each (measures the passage cap)",
    )
    args = parser.parse_args(argv)
    with database.postgres_server() as server_dsn:
        rows = anyio.run(
            lambda: run(
                server_dsn,
                max_words=args.max_words,
                threshold=args.threshold,
                headings=not args.without_headings,
            )
        )
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
