"""Full-text search and content-free listings on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
import attrs

from kbcore._domain import DocumentSummary, PageKey, SearchHit
from kbcore.postgres._connection import Db
from kbcore.postgres._reads import metadata_from_text, page_query

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

# octet_length reads the stored size of a TOASTed value without fetching the value.
SUMMARY_COLUMNS = """
    id, org_id, filename, category, version, active, octet_length(content) AS size_bytes,
    metadata::text AS metadata, created_at, updated_at
"""


def summary_from_row(row: asyncpg.Record) -> DocumentSummary:
    # Unpacked by position: a page converts 50 rows, the bulk of what kbcore adds to its query.
    id_, org_id, filename, category, version, active, size, metadata, created, updated = row
    return DocumentSummary(
        id=id_,
        org_id=org_id,
        filename=filename,
        category=category,
        version=version,
        active=active,
        size_bytes=size,
        metadata=metadata_from_text(metadata),
        created_at=created,
        updated_at=updated,
    )


@attrs.frozen
class PostgresSearch:
    _db: Db

    async def search(
        self, org_id: UUID, query: str, *, category: str | None, limit: int
    ) -> Sequence[SearchHit]:
        rows = await self._db.fetch(SEARCH_QUERY, org_id, query, limit, category)
        return [
            SearchHit(
                document_id=row["id"],
                filename=row["filename"],
                category=row["category"],
                rank=row["rank"],
                snippet=row["snippet"],
            )
            for row in rows
        ]

    async def summaries(
        self,
        org_id: UUID,
        *,
        category: str | None,
        include_inactive: bool,
        limit: int,
        after: PageKey | None,
    ) -> Sequence[DocumentSummary]:
        query, args = page_query(
            org_id,
            category=category,
            include_inactive=include_inactive,
            limit=limit,
            after=after,
            columns=SUMMARY_COLUMNS,
        )
        return [summary_from_row(row) for row in await self._db.fetch(query, *args)]
