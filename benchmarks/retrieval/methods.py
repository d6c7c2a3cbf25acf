"""The ranking methods the benchmarks compare: kbcore's, and the simplest OR query."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from benchmarks.retrieval.metrics import Ranked
from benchmarks.retrieval.testset import Question
from kbcore.postgres._ranking import (
    DEFAULT_CANDIDATES,
    DEFAULT_SHORTLIST,
    RANK_PASSAGES,
)
from kbcore.retrieval._passages import CONTEXT_SEPARATOR
from kbcore.retrieval._spoken import NO_SYNONYMS, Synonyms, spoken_query

#: The baseline: the question's words (fillers stripped), OR'd, ranked by ts_rank over
#: every match: the best of the simple lexical queries measured before kbcore.live.
OR_BASELINE = r"""
WITH question AS (
    SELECT string_agg(
               '''' || replace(replace(l, '\', '\\'), '''', '''''') || '''', ' | '
           )::tsquery AS any_word
    FROM unnest(tsvector_to_array(
        to_tsvector('english'::regconfig, array_to_string($2::text[], ' '))
    )) AS l
)
SELECT p.context, ts_rank(p.search_vector, question.any_word)::float8 AS similarity
FROM knowledge_passages AS p, question
WHERE p.org_id = $1 AND p.search_vector @@ question.any_word
ORDER BY similarity DESC, p.document_id, p.position
LIMIT $3
"""


def live_arguments(
    org_id: UUID, question: Question, *, limit: int, synonyms: Synonyms | None = None
) -> tuple[object, ...]:
    """RANK_PASSAGES's arguments for a question; no similarity floor, to see every rank."""
    query = spoken_query(question.turn, previous=question.previous, synonyms=synonyms)
    return (org_id, list(query.terms), limit, DEFAULT_CANDIDATES, 0.0, DEFAULT_SHORTLIST)


def baseline_arguments(org_id: UUID, question: Question, *, limit: int) -> tuple[object, ...]:
    """OR_BASELINE's arguments: the caller's words, fillers stripped, no synonyms."""
    query = spoken_query(question.turn, previous=question.previous, synonyms=NO_SYNONYMS)
    words = [term.split()[0] for term in query.terms]
    return (org_id, words, limit)


async def live(
    conn: PoolConnectionProxy,
    org_id: UUID,
    question: Question,
    *,
    limit: int = 10,
    synonyms: Synonyms | None = None,
) -> Ranked:
    rows = await conn.fetch(
        RANK_PASSAGES, *live_arguments(org_id, question, limit=limit, synonyms=synonyms)
    )
    return _ranked(question, rows)


async def baseline(
    conn: PoolConnectionProxy, org_id: UUID, question: Question, *, limit: int = 10
) -> Ranked:
    rows = await conn.fetch(OR_BASELINE, *baseline_arguments(org_id, question, limit=limit))
    return _ranked(question, rows)


def _ranked(question: Question, rows: Sequence[asyncpg.Record]) -> Ranked:
    return Ranked(
        question,
        tuple((row["context"].split(CONTEXT_SEPARATOR, 1)[0], row["similarity"]) for row in rows),
    )
