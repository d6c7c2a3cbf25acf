"""What the retrieval figures mean: recall@k, MRR@10, and the unanswerable separation.

A hit is a returned passage of one of the question's right documents (any passage of
it: the documents are the unit a reader checks). Recall@k is the share of answerable
questions with a hit among the first k passages; MRR@10 the mean of 1/rank of the first
hit within 10 (0 when none). The separation, at a similarity threshold: the share of
answerable questions whose first passage is right and at or above it (kept), and the
share of unanswerable questions whose first passage is at or above it (let through).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from benchmarks.retrieval.testset import Question


@attrs.frozen
class Ranked:
    """What a method returned for one question: (filename, similarity), best first."""

    question: Question
    hits: tuple[tuple[str, float], ...]

    @property
    def first_hit(self) -> int | None:
        """The 1-based rank of the first passage of a right document, or None."""
        for rank, (filename, _) in enumerate(self.hits, 1):
            if filename in self.question.answers:
                return rank
        return None

    @property
    def top_similarity(self) -> float:
        return self.hits[0][1] if self.hits else 0.0


@attrs.frozen
class Quality:
    questions: int
    recall_at_1: float
    recall_at_3: float
    mrr_at_10: float


@attrs.frozen
class Separation:
    threshold: float
    #: Answerable questions whose right first passage is at or above the threshold.
    kept: float
    #: Unanswerable questions whose first passage is at or above the threshold.
    let_through: float


def quality(results: Sequence[Ranked]) -> Quality:
    answerable = [r for r in results if r.question.answerable]
    ranks = [r.first_hit for r in answerable]
    count = len(answerable) or 1
    return Quality(
        questions=len(answerable),
        recall_at_1=sum(1 for rank in ranks if rank == 1) / count,
        recall_at_3=sum(1 for rank in ranks if rank is not None and rank <= 3) / count,
        mrr_at_10=sum(1 / rank for rank in ranks if rank is not None and rank <= 10) / count,
    )


def separation(results: Sequence[Ranked], threshold: float) -> Separation:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    kept = [r for r in answerable if r.first_hit == 1 and r.top_similarity >= threshold]
    through = [r for r in unanswerable if r.top_similarity >= threshold]
    return Separation(
        threshold=threshold,
        kept=len(kept) / (len(answerable) or 1),
        let_through=len(through) / (len(unanswerable) or 1),
    )
