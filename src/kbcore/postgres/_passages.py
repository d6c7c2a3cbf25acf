"""The passages of every document write, on PostgreSQL: in the write's own statement or transaction.

Every write of ``PostgresWrites`` ends with its documents' passages as the splitter
makes them (``kbcore.retrieval``): a create in its one statement (``NEW_PASSAGES``, a
CTE on the inserted row), every other write by one more statement (``write_passages``)
in its unit of work; an import's new documents by one more (``insert_new_passages``). A
passage that did not change is not written again, so editing one
section of a long document rewrites that section's passages and its index entries only.
An inactive document has no passages. Migration 0007 fills them for the documents
stored before it (``fill_passages``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import attrs
from asyncpg.pool import PoolConnectionProxy

from kbcore.postgres._connection import Db, OnConnection
from kbcore.postgres._ranking import refresh_term_counts
from kbcore.retrieval import Passage, split_document


def new_passages(first: int) -> str:
    """A CTE that stores the passages of the row a CTE named ``d`` inserted.

    Its three parameters, from ``$first`` on, are ``passage_arrays``'s.
    """
    positions, contexts, contents = (f"${first + offset}" for offset in range(3))
    # Only the parameters' numbers are spliced in; every value is a parameter.
    return f"""p AS (
    INSERT INTO knowledge_passages (document_id, position, org_id, context, content)
    SELECT d.id, n.position, d.org_id, n.context, n.content
    FROM d CROSS JOIN unnest({positions}::integer[], {contexts}::text[], {contents}::text[])
        AS n (position, context, content)
)"""  # noqa: S608


def passage_arrays(passages: Sequence[Passage]) -> tuple[list[int], list[str], list[str]]:
    """The positions, contexts and texts of ``new_passages``'s parameters."""
    return (
        [p.position for p in passages],
        [p.context for p in passages],
        [p.text for p in passages],
    )


@attrs.frozen
class Written:
    """A document as a write leaves it: what its passages are made of."""

    id: UUID
    org_id: UUID
    filename: str
    content: str = attrs.field(repr=False)
    active: bool

    def passages(self) -> list[Passage]:
        return split_document(self.filename, self.content) if self.active else []


# Upserts the passages that changed and deletes the positions past each document's new
# last one: two disjoint sets of rows, so the order of the two parts does not matter.
_WRITE = """
WITH gone AS (
    DELETE FROM knowledge_passages AS p
    USING unnest($1::uuid[], $2::integer[]) AS d (id, passages)
    WHERE p.document_id = d.id AND p.position >= d.passages
)
INSERT INTO knowledge_passages (document_id, position, org_id, context, content)
SELECT * FROM unnest($3::uuid[], $4::integer[], $5::uuid[], $6::text[], $7::text[])
ON CONFLICT (document_id, position) DO UPDATE
SET org_id = excluded.org_id, context = excluded.context, content = excluded.content
WHERE (knowledge_passages.org_id, knowledge_passages.context, knowledge_passages.content)
    IS DISTINCT FROM (excluded.org_id, excluded.context, excluded.content)
"""


#: A row of knowledge_passages: document_id, position, org_id, context, content.
PassageRow = tuple[UUID, int, UUID, str, str]


def passage_rows(documents: Iterable[Written]) -> list[PassageRow]:
    """The rows of the documents' passages: pure Python, safe to run in a worker thread."""
    return [
        (document.id, p.position, document.org_id, p.context, p.text)
        for document in documents
        for p in document.passages()
    ]


# New documents' passages: nothing to replace or delete, so none of _WRITE's comparisons.
_INSERT_NEW = """
INSERT INTO knowledge_passages (document_id, position, org_id, context, content)
SELECT * FROM unnest($1::uuid[], $2::integer[], $3::uuid[], $4::text[], $5::text[])
"""


async def insert_new_passages(db: Db, rows: Sequence[PassageRow]) -> None:
    """Store the passages of documents that have none yet (just created).

    One statement of parallel arrays rather than COPY: see ``_writes.py`` for why.
    """
    if rows:
        await db.execute(_INSERT_NEW, *(list(column) for column in zip(*rows, strict=True)))


async def write_passages(db: Db, documents: Iterable[Written]) -> None:
    """Make the stored passages of ``documents`` what their current state splits into."""
    await db.execute(_WRITE, *_write_arguments(documents))


def _write_arguments(documents: Iterable[Written]) -> list[list[Any]]:
    ids: list[UUID] = []
    counts: list[int] = []
    # One list per column of knowledge_passages, as unnest takes them.
    columns: tuple[list[Any], ...] = ([], [], [], [], [])
    for document in documents:
        passages = document.passages()
        ids.append(document.id)
        counts.append(len(passages))
        for p in passages:
            row = (document.id, p.position, document.org_id, p.context, p.text)
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    return [ids, counts, *columns]


_ACTIVE_DOCUMENTS = """
SELECT id, org_id, filename, content FROM knowledge_base WHERE active ORDER BY org_id, id
"""

#: Documents split and written at a time when the passages are first filled.
_FILL_BATCH = 500


async def fill_passages(conn: PoolConnectionProxy) -> None:
    """Write the passages of every active document, and count every org's words.

    Migration 0007's data step, in the migration's transaction: the splitter is Python.
    """
    db = OnConnection(conn)
    orgs: set[UUID] = set()
    batch: list[Written] = []
    async for row in conn.cursor(_ACTIVE_DOCUMENTS, prefetch=_FILL_BATCH):
        batch.append(Written(row["id"], row["org_id"], row["filename"], row["content"], True))
        orgs.add(row["org_id"])
        if len(batch) == _FILL_BATCH:
            await write_passages(db, batch)
            batch = []
    if batch:
        await write_passages(db, batch)
    for org_id in sorted(orgs):
        await refresh_term_counts(db, org_id)
