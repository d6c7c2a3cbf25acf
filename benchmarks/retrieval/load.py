"""Documents into a database: ``knowledge_base`` rows and their passages."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from benchmarks.retrieval.testset import Document
from kbcore.postgres import migrate
from kbcore.retrieval import DEFAULT_MAX_WORDS, split_document


async def prepare(pool: asyncpg.Pool) -> None:
    """kbcore's schema, the passages table included."""
    await migrate(pool)


async def load(
    conn: PoolConnectionProxy,
    org_id: UUID,
    documents: Iterable[Document],
    *,
    max_words: int = DEFAULT_MAX_WORDS,
) -> int:
    """Write the documents and their passages for one org; return how many passages."""
    document_rows: list[tuple[UUID, UUID, str, str]] = []
    passage_rows: list[tuple[UUID, int, UUID, str, str]] = []
    for doc in documents:
        # Ids from the org and the filename: ties in rank break the same way every run.
        document_id = uuid.uuid5(org_id, doc.filename)
        document_rows.append((document_id, org_id, doc.filename, doc.content))
        passage_rows.extend(
            (document_id, p.position, org_id, p.context, p.text)
            for p in split_document(doc.filename, doc.content, max_words=max_words)
        )
    await conn.copy_records_to_table(
        "knowledge_base",
        records=document_rows,
        columns=["id", "org_id", "filename", "content"],
    )
    await conn.copy_records_to_table(
        "knowledge_passages",
        records=passage_rows,
        columns=["document_id", "position", "org_id", "context", "content"],
    )
    return len(passage_rows)
