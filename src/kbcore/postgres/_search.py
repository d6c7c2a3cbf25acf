"""Full-text search on PostgreSQL: a generated tsvector, its GIN index, websearch_to_tsquery."""

from __future__ import annotations

import asyncpg

from kbcore._domain import SearchHit

# ts_headline reads the whole content again, so it runs on the page of hits only, after
# the LIMIT; the ranking reads only the stored tsvector. Ties keep the listing's order.
# The category filter is "$4 IS NULL OR ...": one statement text, and the GIN index
# serves both cases.
SEARCH_QUERY = """
WITH q AS (
    SELECT websearch_to_tsquery('simple', $2) AS query
), hits AS (
    SELECT k.id, k.filename, k.category, k.content, k.created_at,
           ts_rank_cd(k.search_vector, q.query) AS rank
    FROM knowledge_base AS k, q
    WHERE k.org_id = $1 AND k.active AND k.search_vector @@ q.query
      AND ($4::text IS NULL OR k.category = $4)
    ORDER BY rank DESC, k.created_at DESC, k.id DESC
    LIMIT $3
)
SELECT hits.id, hits.filename, hits.category, hits.rank,
       ts_headline('simple', hits.content, q.query,
                   'MaxWords=35, MinWords=15, StartSel=**, StopSel=**') AS snippet
FROM hits, q
ORDER BY hits.rank DESC, hits.created_at DESC, hits.id DESC
"""


def hit_from_row(row: asyncpg.Record) -> SearchHit:
    return SearchHit(
        document_id=row["id"],
        filename=row["filename"],
        category=row["category"],
        rank=row["rank"],
        snippet=row["snippet"],
    )
