"""Rank an org's passages for a caller's question, in one SQL statement.

Speed comes from ranking few rows. Words that most passages contain ("call", "plan")
cannot find candidates on their own: the OR of a question's words matches thousands to
tens of thousands of a large org's 70,000 passages, and ranking them all takes 50 to
200 ms. So candidates come from the question's rarest sources first: each term's
passages (its word anywhere) and its context passages (its word in the filename or a
heading), cheapest first, while their counted sizes add up to at most ``candidates``
rows. A word common in the text but rare in headings still finds its topic's passages
that way. When not even the cheapest source fits, the candidates are the passages whose
headings say two of the terms (or, for a one-term question, that term's context
passages). Small orgs, whose every word fits the budget, are ranked whole. Of the
candidates, the ``shortlist`` best by ts_rank (cheap) are then scored in full, against
all of the question's terms, as ``kbcore.retrieval._similarity`` says (the rank there is
ts_rank with normalisation 32, which is in 0..1).

The term counts come from ``knowledge_passage_terms``, which ``refresh_term_counts``
fills; an org never counted has every term ranked as rare (slow only if it is large).
``count_terms`` counts again when the last count is older than asked, judged by the
database's clock, so that many server processes count each org once between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

import asyncpg

from kbcore._domain import RankedPassage
from kbcore.postgres._connection import Db, transaction

#: How many candidate rows the rare terms may bring (by the counts), before scoring.
#: Measured at 10,000 documents (73,600 passages): 1,000 gives a p99 of 12-20 ms and a
#: recall no worse than ranking every match (which takes a p99 of 400 ms); 2,000 takes
#: 23-39 ms and ranks no better.
DEFAULT_CANDIDATES = 1000

#: How many of the candidates, the best by ts_rank, are scored in full. At 10,000
#: documents, 400 takes the p99 from 18 to 8 ms and ranks exactly as scoring all of
#: them; 200 and 100 lose a few held-out questions.
DEFAULT_SHORTLIST = 400

#: A lexeme is counted when at least one passage in this many contains it; rarer ones
#: count as in no passage, which is near enough for weighing and for choosing sources.
COUNTED_FROM = 1000

#: $1 org id, $2 the query's terms (``SpokenQuery.terms``), $3 how many passages,
#: $4 the candidate budget (``DEFAULT_CANDIDATES``), $5 the least similarity, $6 how
#: many candidates to score in full (``DEFAULT_SHORTLIST``).
#:
#: Each term becomes one tsquery (its lexemes OR'd), built as text from the lexemes that
#: to_tsvector produced, each quoted for the tsquery parser, so no word of a caller is
#: ever read as tsquery syntax. Terms whose words are all stop words vanish; terms with
#: the same lexemes count once. Parameters only: one statement text, prepared once.
RANK_PASSAGES = r"""
WITH org AS (
    SELECT coalesce(
        (SELECT o.passages FROM knowledge_passage_orgs AS o WHERE o.org_id = $1), 0
    ) AS passages
), term AS (
    SELECT min(t.n) AS n, t.lexemes
    FROM (
        SELECT w.n, tsvector_to_array(to_tsvector('english'::regconfig, w.words)) AS lexemes
        FROM unnest($2::text[]) WITH ORDINALITY AS w (words, n)
    ) AS t
    WHERE cardinality(t.lexemes) > 0
    GROUP BY t.lexemes
), weighed AS (
    SELECT term.n,
           (SELECT string_agg(
                       '''' || replace(replace(l, '\', '\\'), '''', '''''') || '''', ' | '
                   )
            FROM unnest(term.lexemes) AS l)::tsquery AS query,
           coalesce(counts.passages, 0) AS passages,
           coalesce(counts.in_context, 0) AS in_context,
           ln((org.passages + 1.0) / (least(coalesce(counts.passages, 0), org.passages) + 0.5))
               AS idf
    FROM term
    CROSS JOIN org
    LEFT JOIN LATERAL (
        SELECT sum(c.passages) AS passages, sum(c.in_context) AS in_context
        FROM knowledge_passage_terms AS c
        WHERE c.org_id = $1 AND c.lexeme = ANY (term.lexemes)
    ) AS counts ON true
), source AS (
    SELECT w.query, s.kind, sum(s.size) OVER (ORDER BY s.size, s.kind, w.n) AS reach
    FROM weighed AS w
    CROSS JOIN LATERAL (VALUES ('context', w.in_context), ('text', w.passages)) AS s (kind, size)
), chosen AS (
    SELECT query, kind FROM source WHERE reach <= $4
), question AS (
    SELECT ('''org:' || $1::text || '''')::tsquery AS org,
           (SELECT string_agg('(' || query::text || ')', ' | ') FROM weighed)::tsquery AS any_term,
           (SELECT count(*) FROM weighed) AS terms,
           (SELECT sum(idf) FROM weighed) AS idf,
           (SELECT string_agg('(' || query::text || ')', ' | ')
            FROM chosen WHERE kind = 'text')::tsquery AS in_text,
           CASE WHEN EXISTS (SELECT FROM chosen) THEN
               (SELECT string_agg('(' || query::text || ')', ' | ')
                FROM chosen WHERE kind = 'context')::tsquery
           WHEN (SELECT count(*) FROM weighed) > 1 THEN
               -- Every source is over budget: headings that say two of the terms.
               (SELECT string_agg('(' || a.query::text || ') & (' || b.query::text || ')', ' | ')
                FROM weighed AS a JOIN weighed AS b ON a.n < b.n)::tsquery
           ELSE (SELECT query FROM weighed) END AS in_context
)

, candidate AS (
    SELECT p.document_id, p.position, p.context, p.content, p.search_vector, p.context_vector,
           ts_rank(p.search_vector, question.any_term, 32) AS rank
    FROM knowledge_passages AS p, question
    WHERE p.org_id = $1
      AND (p.search_vector @@ (question.org && question.in_text)
           OR p.context_vector @@ (question.org && question.in_context))
    ORDER BY rank DESC
    LIMIT $6
), scored AS (
    SELECT c.document_id, c.position, c.context, c.content,
           0.4 * covered.terms / question.terms
           + 0.4 * covered.idf / question.idf
           + 0.1 * covered.context_idf / question.idf
           + 0.1 * c.rank AS similarity
    FROM candidate AS c
    CROSS JOIN question
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE c.search_vector @@ w.query) AS terms,
               coalesce(sum(w.idf) FILTER (WHERE c.search_vector @@ w.query), 0) AS idf,
               coalesce(sum(w.idf) FILTER (WHERE c.context_vector @@ w.query), 0) AS context_idf
        FROM weighed AS w
    ) AS covered
)
SELECT document_id, position, context, content, similarity::float8 AS similarity
FROM scored
WHERE similarity >= $5
ORDER BY similarity DESC, document_id, position
LIMIT $3
"""

#: $1 org id. Counts the org's passages (first, so that two counts of one org queue).
COUNT_PASSAGES = """
INSERT INTO knowledge_passage_orgs AS o (org_id, passages)
SELECT $1::uuid, count(*) FROM knowledge_passages WHERE org_id = $1::uuid
ON CONFLICT (org_id) DO UPDATE SET passages = excluded.passages, counted_at = now()
RETURNING passages
"""

#: $1 org id, $2 ``COUNTED_FROM``. ts_stat takes its rows as query text, so the org id
#: goes in quoted by format().
COUNT_TERMS = """
INSERT INTO knowledge_passage_terms (org_id, lexeme, passages, in_context)
SELECT $1::uuid, anywhere.word, anywhere.ndoc, coalesce(in_context.ndoc, 0)
FROM knowledge_passage_orgs AS o
CROSS JOIN ts_stat(format(
    'SELECT search_vector FROM knowledge_passages WHERE org_id = %L', $1::uuid
)) AS anywhere
LEFT JOIN ts_stat(format(
    'SELECT context_vector FROM knowledge_passages WHERE org_id = %L', $1::uuid
)) AS in_context ON in_context.word = anywhere.word
WHERE o.org_id = $1::uuid AND anywhere.ndoc * $2::int >= o.passages
  AND anywhere.word NOT LIKE 'org:%'
"""

DELETE_TERMS = "DELETE FROM knowledge_passage_terms WHERE org_id = $1"

#: $1 org id, $2 the age a count may have. Locks the org's count row if it is old enough
#: (or makes one); a refresh already running elsewhere holds it, and this one skips.
_CLAIM_COUNT = """
INSERT INTO knowledge_passage_orgs AS o (org_id, passages, counted_at)
VALUES ($1, 0, '-infinity')
ON CONFLICT (org_id) DO NOTHING
"""

_STALE_COUNT = """
SELECT 1 FROM knowledge_passage_orgs
WHERE org_id = $1 AND counted_at < now() - $2::interval
FOR UPDATE SKIP LOCKED
"""

_ASSISTANT_ORGS = """
SELECT DISTINCT org_id FROM agents WHERE vapi_assistant_id = $1 ORDER BY org_id
"""


async def rank_passages(
    db: Db,
    org_id: UUID,
    terms: Sequence[str],
    *,
    limit: int = 3,
    min_similarity: float = 0.0,
    candidates: int = DEFAULT_CANDIDATES,
    shortlist: int = DEFAULT_SHORTLIST,
) -> list[RankedPassage]:
    """The org's ``limit`` passages most similar to the terms, best first.

    Only those at ``min_similarity`` or above; ``candidates`` and ``shortlist`` bound
    the work (see the module's documentation).
    """
    if not terms:
        return []
    rows = await db.fetch(
        RANK_PASSAGES, org_id, list(terms), limit, candidates, min_similarity, shortlist
    )
    return [
        RankedPassage(
            document_id=row["document_id"],
            position=row["position"],
            context=row["context"],
            content=row["content"],
            similarity=row["similarity"],
        )
        for row in rows
    ]


async def refresh_term_counts(db: Db, org_id: UUID) -> int:
    """Count the org's passages and common lexemes anew; return how many passages.

    Run it in a transaction (the old counts go, the new come, in three statements);
    concurrent refreshes of one org queue on its ``knowledge_passage_orgs`` row.
    """
    rows = await db.fetch(COUNT_PASSAGES, org_id)
    await db.execute(DELETE_TERMS, org_id)
    await db.execute(COUNT_TERMS, org_id, COUNTED_FROM)
    passages: int = rows[0]["passages"]
    return passages


class PostgresPassages:
    """``Passages`` for ``PostgresStore``: a ranking is one statement, a count one transaction."""

    __slots__ = ()
    _pool: asyncpg.Pool
    _read: Db
    _write: Db

    async def rank_passages(
        self, org_id: UUID, terms: Sequence[str], *, limit: int, min_similarity: float
    ) -> Sequence[RankedPassage]:
        return await rank_passages(
            self._read, org_id, terms, limit=limit, min_similarity=min_similarity
        )

    async def count_terms(self, org_id: UUID, *, older_than: timedelta) -> bool:
        # An INSERT: on the write path, so that a lost answer is never taken for a read's.
        await self._write.execute(_CLAIM_COUNT, org_id)
        async with transaction(self._pool) as db:
            if await db.fetchval(_STALE_COUNT, org_id, older_than) is None:
                return False
            await refresh_term_counts(db, org_id)
        return True

    async def assistant_orgs(self, vapi_assistant_id: str) -> Sequence[UUID]:
        return [row["org_id"] for row in await self._read.fetch(_ASSISTANT_ORGS, vapi_assistant_id)]

    async def ping(self) -> None:
        await self._read.fetchval("SELECT 1")
