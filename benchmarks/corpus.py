"""Reproducible documents for the benchmarks: sales-flavoured text of a chosen size."""

from __future__ import annotations

import random

from kbcore import DocumentDraft

CATEGORIES = ("products_services", "operations", "ai_guidelines", "general")

_COMMON = [
    *("the", "a", "to", "of", "and", "our", "your", "we", "you", "for", "is", "on", "with"),
    *("plan", "plans", "price", "call", "customer", "team", "support", "month", "annual"),
    *("discount", "offer", "question", "answer", "agent", "script", "follow", "up"),
]

#: A word a fifth of the documents contain, and one that only every 200th does.
FREQUENT, RARE = "pricing", "zebra"


def _vocabulary(size: int = 2000) -> list[str]:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return _COMMON + ["".join(rng.choices(letters, k=rng.randint(4, 9))) for _ in range(size)]


_WORDS = _vocabulary()
# Zipf-like: the n-th word is about 1/n as frequent as the first.
_WEIGHTS = [1 / (rank + 1) for rank in range(len(_WORDS))]


def text(seed: int, words: int) -> str:
    rng = random.Random(seed)
    chosen = rng.choices(_WORDS, weights=_WEIGHTS, k=words)
    if seed % 5 == 0:
        chosen[rng.randrange(words)] = FREQUENT
    if seed % 200 == 0:
        chosen[rng.randrange(words)] = RARE
    sentences = [" ".join(chosen[i : i + 12]).capitalize() + "." for i in range(0, words, 12)]
    return " ".join(sentences)


def drafts(count: int, *, words: int = 150, prefix: str = "doc") -> list[DocumentDraft]:
    """``count`` documents of about ``words`` words (150 words: about 1 kB)."""
    return [
        DocumentDraft(
            f"{prefix}-{i:06d}.md", text(i, words), category=CATEGORIES[i % len(CATEGORIES)]
        )
        for i in range(count)
    ]
