"""Full-text search and content-free listings, on every store (memory and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from asyncpg.connection import LoggedQuery

from kbcore import DocumentDraft, KnowledgeBase, ValidationError
from kbcore._domain import ChangeDraft, ChangeType, Creation, NewDocument
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore

pytestmark = pytest.mark.anyio

CORPUS = [
    DocumentDraft(
        "pricing-plans.md",
        "Our Pricing is simple. Plans start at $99 per month; annual plans save 20%.",
        category="products_services",
    ),
    DocumentDraft(
        "objections.md",
        "When a prospect says the price is too high, ask about their budget and timeline. "
        "Pricing questions go to the pricing page.",
        category="ai_guidelines",
    ),
    DocumentDraft(
        "hours.md",
        "Support hours are 9 to 5 on weekdays. Refunds within 30 days of purchase.",
        category="operations",
    ),
    DocumentDraft(
        "script.md",
        "Greet the caller, confirm their name, then offer the annual discount on plans.",
        category="ai_guidelines",
    ),
]


@pytest.fixture
async def corpus(kbcore_kb: KnowledgeBase, org: UUID) -> UUID:
    """An org holding CORPUS."""
    report = await kbcore_kb.import_documents(org, CORPUS)
    assert report.created == len(CORPUS)
    return org


async def names(kb: KnowledgeBase, org: UUID, query: str, **options: Any) -> list[str]:
    return [hit.filename for hit in await kb.search(org, query, **options)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pricing", ["pricing-plans.md", "objections.md"]),
        ("PLANS", ["pricing-plans.md", "script.md"]),
        ("annual plans", ["pricing-plans.md", "script.md"]),
        ('"annual plans"', ["pricing-plans.md"]),
        ("refunds or discount", ["hours.md", "script.md"]),
        ("plans -discount", ["pricing-plans.md"]),
        ("budget", ["objections.md"]),
        ("price", ["objections.md"]),
        ("nothing-like-this", []),
    ],
)
async def test_search_finds_the_documents_with_the_words(
    kbcore_kb: KnowledgeBase, corpus: UUID, query: str, expected: list[str]
) -> None:
    """Web-search syntax: all words, "phrases", or, -exclusion; whole words, any case."""
    assert sorted(await names(kbcore_kb, corpus, query)) == sorted(expected)


async def test_more_and_weightier_matches_rank_higher(kbcore_kb: KnowledgeBase, org: UUID) -> None:
    """A filename match outranks content matches; more occurrences outrank fewer."""
    await kbcore_kb.import_documents(
        org,
        [
            DocumentDraft("a.md", "refund"),
            DocumentDraft("b.md", "refund refund refund"),
            DocumentDraft("refund-policy.md", "see below"),
        ],
    )
    hits = await kbcore_kb.search(org, "refund")
    assert [hit.filename for hit in hits] == ["refund-policy.md", "b.md", "a.md"]
    assert hits[0].rank > hits[1].rank > hits[2].rank > 0


async def test_a_hit_carries_its_document_and_a_highlighted_snippet(
    kbcore_kb: KnowledgeBase, corpus: UUID
) -> None:
    """The snippet is an excerpt of the content with the matched words marked **so**."""
    [hit] = await kbcore_kb.search(corpus, "budget")
    document = await kbcore_kb.get(corpus, hit.document_id)
    assert (hit.filename, hit.category) == (document.filename, document.category)
    assert "**budget**" in hit.snippet
    assert hit.snippet.replace("**", "") in document.content
    [pricing, _] = await kbcore_kb.search(corpus, "pricing")
    assert "**Pricing**" in pricing.snippet


async def test_search_sees_only_the_orgs_active_documents(
    kbcore_kb: KnowledgeBase, corpus: UUID
) -> None:
    """Another org's documents and soft-deleted ones never show up."""
    await kbcore_kb.create(uuid.uuid4(), filename="budget.md", content="budget budget")
    [hit] = await kbcore_kb.search(corpus, "budget")
    await kbcore_kb.delete(corpus, hit.document_id)
    assert await kbcore_kb.search(corpus, "budget") == []


async def test_search_follows_updates(kbcore_kb: KnowledgeBase, corpus: UUID) -> None:
    """Edited content is searchable at once; the old words are gone."""
    [hit] = await kbcore_kb.search(corpus, "budget")
    await kbcore_kb.update(corpus, hit.document_id, content="Ask about their deadline instead.")
    assert await names(kbcore_kb, corpus, "budget") == []
    assert await names(kbcore_kb, corpus, "deadline") == ["objections.md"]


async def test_search_by_category_and_limit(kbcore_kb: KnowledgeBase, corpus: UUID) -> None:
    """category narrows the hits; limit caps them, best first."""
    assert await names(kbcore_kb, corpus, "plans", category="ai_guidelines") == ["script.md"]
    assert await names(kbcore_kb, corpus, "plans", limit=1) == ["pricing-plans.md"]


@pytest.mark.parametrize(
    ("query", "options", "field"),
    [
        ("   ", {}, "query"),
        (5, {}, "query"),
        ("x" * 1001, {}, "query"),
        ("a\x00b", {}, "query"),
        ("x", {"limit": 0}, "limit"),
        ("x", {"limit": 101}, "limit"),
        ("x", {"category": "nope"}, "category"),
    ],
)
async def test_bad_searches_are_validation_errors(
    kbcore_kb: KnowledgeBase, org: UUID, query: Any, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await kbcore_kb.search(org, query, **options)
    assert caught.value.field == field


async def test_a_query_of_punctuation_finds_nothing(kbcore_kb: KnowledgeBase, corpus: UUID) -> None:
    """A query with no words in it matches no document (and is not an error)."""
    assert await kbcore_kb.search(corpus, "-- !! ,,") == []


async def test_summaries_list_without_content(kbcore_kb: KnowledgeBase, corpus: UUID) -> None:
    """Summaries page like list, newest first, with the content's size instead of it."""
    page = await kbcore_kb.list(corpus, limit=3)
    summaries = await kbcore_kb.list_summaries(corpus, limit=3)
    assert [s.id for s in summaries.items] == [d.id for d in page.items]
    for summary, document in zip(summaries.items, page.items, strict=True):
        assert summary.size_bytes == len(document.content.encode())
        assert (summary.filename, summary.version, summary.updated_at) == (
            document.filename,
            document.version,
            document.updated_at,
        )
        assert not hasattr(summary, "content")
    rest = await kbcore_kb.list_summaries(corpus, limit=3, cursor=summaries.next_cursor)
    assert len(rest.items) == 1
    assert rest.next_cursor is None


async def test_summaries_filter_like_list(kbcore_kb: KnowledgeBase, corpus: UUID) -> None:
    """category and include_inactive mean what they mean for list."""
    guides = await kbcore_kb.list_summaries(corpus, category="ai_guidelines")
    assert sorted(s.filename for s in guides.items) == ["objections.md", "script.md"]
    await kbcore_kb.delete(corpus, guides.items[0].id)
    assert len((await kbcore_kb.list_summaries(corpus)).items) == 3
    everything = await kbcore_kb.list_summaries(corpus, include_inactive=True)
    assert [s.active for s in everything.items].count(False) == 1


@pytest.mark.database
@pytest.mark.parametrize(
    "query", ["pricing", "plans", "annual plans", "the", "refund", "prospect budget", "price"]
)
async def test_memory_ranks_plain_queries_as_postgresql_does(
    kbcore_pool: asyncpg.Pool, org: UUID, query: str
) -> None:
    """The same hits with the same ranks, best first, from both stores."""
    corpus = [*CORPUS, DocumentDraft("the-end.md", "the end of the story, the moral")]
    results = []
    for store in (MemoryStore(), PostgresStore(kbcore_pool)):
        kb = KnowledgeBase(store)
        await kb.import_documents(org, corpus)
        hits = await kb.search(org, query)
        assert [hit.rank for hit in hits] == sorted((hit.rank for hit in hits), reverse=True)
        # Equal ranks tie-break on random ids: compare (rank, filename) as sets.
        results.append(sorted((round(hit.rank, 6), hit.filename) for hit in hits))
    assert results[0] == results[1]


@pytest.mark.database
async def test_a_rare_word_is_found_through_the_gin_index(
    kbcore_pool: asyncpg.Pool, org: UUID
) -> None:
    """In a large org, the search for a rare word reads the GIN index, not every row."""
    kb = KnowledgeBase(PostgresStore(kbcore_pool))
    items = [DocumentDraft(f"d{i}.md", f"common words number {i}") for i in range(400)]
    await kb.import_documents(org, [*items, DocumentDraft("z.md", "a zebra")])
    # VACUUM as well: it merges the index's pending list (fastupdate), which the planner
    # otherwise prices by its pages; how full it is depends on what ran before.
    await kbcore_pool.execute("VACUUM ANALYZE knowledge_base")
    async with kbcore_pool.acquire() as conn:
        # 400 small rows fit in a few pages, where reading them all is cheapest.
        await conn.execute("SET enable_seqscan = off")
        [plan] = json.loads(
            await conn.fetchval(
                """
                EXPLAIN (FORMAT JSON)
                SELECT id FROM knowledge_base
                WHERE org_id = $1 AND active
                  AND search_vector @@ websearch_to_tsquery('simple', $2)
                """,
                org,
                "zebra",
            )
        )
    assert "knowledge_base_search_vector_idx" in json.dumps(plan)
    assert await names(kb, org, "zebra") == ["z.md"]


async def test_writes_of_a_failed_unit_of_work_are_discarded_in_memory(org: UUID) -> None:
    """MemoryStore's unit of work writes on a copy: when it fails, its writes never land."""
    store = MemoryStore()
    document = NewDocument(org_id=org, filename="a.md", content="x", category="general")
    change = ChangeDraft(change_type=ChangeType.CREATED, summary="Created: a.md", changed_by=None)

    async def write_then_fail() -> None:
        async with store.writing() as writes:
            await writes.insert_many(org, [Creation(uuid.uuid4(), document, change)])
            raise LookupError

    with pytest.raises(LookupError):
        await write_then_fail()
    assert (await KnowledgeBase(store).list(org)).items == []


@pytest.mark.database
async def test_searches_and_summaries_open_no_transaction(
    kbcore_database_dsn: str, org: UUID
) -> None:
    """One-statement reads skip BEGIN and COMMIT: two round trips fewer each."""
    log: list[LoggedQuery] = []

    async def log_queries(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(log.append)

    async with asyncpg.create_pool(
        kbcore_database_dsn, min_size=1, max_size=1, init=log_queries
    ) as pool:
        kb = KnowledgeBase(PostgresStore(pool))
        await kb.import_documents(org, CORPUS)
        log.clear()
        await kb.search(org, "pricing")
        await kb.list_summaries(org)
    statements = [record.query.split()[0].upper() for record in log]
    # The search, the summaries, and the pool's reset after each.
    assert statements == ["WITH", "SELECT", "SELECT", "SELECT"]
