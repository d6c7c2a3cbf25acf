"""Reproducible distractor documents that read like a sales knowledge base.

A word-level Markov chain learnt from the test set's documents writes the sentences, so
the words a sales knowledge base uses everywhere ("call", "plan", "customer", "month")
are as common in the distractors as in the real documents. Every word the test set
uses rarely (a product, a brand, a figure) is replaced by a word of a long synthetic
vocabulary, drawn Zipf-like from a topic of the document's own: rare words stay rare,
and the distractors are not copies of the answers in other words.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence

from benchmarks.retrieval.testset import Document

#: A test-set word used at least this often is a common word; others are replaced.
COMMON_AT = 6
_SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"] + ["an", "er", "in", "or"]
_END = "."


class Writer:
    """Writes distractor documents; the same seed gives the same documents."""

    def __init__(self, sources: Sequence[Document], *, vocabulary: int = 40_000) -> None:
        tokens = [_tokens(doc.content) for doc in sources]
        counts = Counter(word.lower() for doc in tokens for word in doc)
        self._common = {word for word, n in counts.items() if n >= COMMON_AT}
        self._chain: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
        for doc in tokens:
            words = [_END, _END, *doc]
            for a, b, c in zip(words, words[1:], words[2:], strict=False):
                self._chain[(a, b)].append(c)
        rng = random.Random(20_260_101)
        self._rare = sorted(
            {"".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4))) for _ in range(vocabulary)}
        )
        self._headings = sorted(w for w in self._common if w.isalpha() and len(w) > 3)

    def documents(self, count: int, *, seed: int, prefix: str) -> Iterator[Document]:
        for index in range(count):
            rng = random.Random(seed * 1_000_003 + index)
            yield Document(f"{prefix}-{index:05d}.md", self._document(rng))

    def _document(self, rng: random.Random) -> str:
        topic_start = rng.randrange(len(self._rare) - 600)
        topic = self._rare[topic_start : topic_start + 600]
        weights = [1 / (rank + 1) for rank in range(len(topic))]

        def rare() -> str:
            return rng.choices(topic, weights=weights)[0]

        lines = [f"# {self._title(rng, rare)}", ""]
        for _ in range(rng.randint(3, 8)):
            lines += [f"## {self._title(rng, rare)}", ""]
            for _ in range(rng.randint(1, 3)):
                kind = rng.random()
                if kind < 0.15:
                    lines += [
                        f"- {self._sentence(rng, rare, 14)}" for _ in range(rng.randint(2, 5))
                    ]
                elif kind < 0.22:
                    lines += self._table(rng, rare)
                else:
                    lines.append(
                        " ".join(self._sentence(rng, rare, 25) for _ in range(rng.randint(2, 7)))
                    )
                lines.append("")
        return "\n".join(lines)

    def _title(self, rng: random.Random, rare: object) -> str:
        words = [rng.choice(self._headings) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.5:
            words.append(rare())  # type: ignore[operator]
        return " ".join(words).capitalize()

    def _sentence(self, rng: random.Random, rare: object, most: int) -> str:
        # Runs of the chain joined until the sentence has a sentence's length: the test
        # set's headings and list items would otherwise make most sentences two words.
        words: list[str] = []
        state = (_END, _END)
        while len(words) < most:
            following = self._chain.get(state)
            word = rng.choice(following) if following else _END
            if word == _END:
                if len(words) >= 8:
                    break
                state = (_END, _END)
                continue
            words.append(word if word.lower() in self._common else rare())  # type: ignore[operator]
            state = (state[1], word)
        return " ".join(words).capitalize() + "."

    def _table(self, rng: random.Random, rare: object) -> list[str]:
        header = [rng.choice(self._headings).capitalize() for _ in range(3)]
        rows = [
            f"| {rare()} | {rng.choice(self._headings)} | ${rng.randint(1, 200)} |"  # type: ignore[operator]
            for _ in range(rng.randint(2, 6))
        ]
        return [f"| {' | '.join(header)} |", "|---|---|---|", *rows]


def _tokens(content: str) -> list[str]:
    """The words of the documents' prose, sentence ends as their own token."""
    words: list[str] = []
    for line in content.splitlines():
        text = line.strip().lstrip("#-|0123456789. ").strip()
        if not text or set(text) <= set("|- "):
            continue
        for word in text.replace("|", " ").split():
            ends = word.endswith((".", "!", "?", ":"))
            cleaned = word.strip(".,;:!?()\"'`*")
            if cleaned:
                words.append(cleaned)
            if ends:
                words.append(_END)
        if words and words[-1] != _END:
            words.append(_END)
    return words
