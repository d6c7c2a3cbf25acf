"""The retrieval test set: sales documents, and questions as callers speak them."""

from __future__ import annotations

import json
from pathlib import Path

import attrs

HERE = Path(__file__).parent
DOCUMENTS = HERE / "documents"
QUESTIONS = HERE / "questions.json"
#: Questions written after the method was tuned, to check it on words it never saw.
HELD_OUT = HERE / "questions-held-out.json"


@attrs.frozen
class Document:
    filename: str
    content: str


@attrs.frozen
class Question:
    id: str
    turn: str
    previous: str | None
    #: Filenames of the documents that answer it; empty when none does.
    answers: frozenset[str]
    tags: frozenset[str]

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def documents() -> list[Document]:
    """The test set's documents, by filename."""
    return [
        Document(path.name, path.read_text(encoding="utf-8"))
        for path in sorted(DOCUMENTS.glob("*.md"))
    ]


def questions(path: Path = QUESTIONS) -> list[Question]:
    """The test set's questions, in file order."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [
        Question(
            id=item["id"],
            turn=item["turn"],
            previous=item.get("previous"),
            answers=frozenset(item["answers"]),
            tags=frozenset(item.get("tags", ())),
        )
        for item in raw["questions"]
    ]
