"""The ranking SQL on a real PostgreSQL: the test set's recall, isolation, live edits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import pytest
from asyncpg.pool import PoolConnectionProxy
from benchmarks.retrieval import testset
from benchmarks.retrieval.metrics import Ranked, quality

from kbcore._domain import RankedPassage
from kbcore.postgres._connection import OnConnection
from kbcore.postgres._passages import Written, write_passages
from kbcore.postgres._ranking import rank_passages, refresh_term_counts
from kbcore.retrieval import CONTEXT_SEPARATOR, SpokenQuery, spoken_query
from kbcore.retrieval._similarity import SIMILARITY_THRESHOLD

pytestmark = pytest.mark.anyio

ORG = UUID("00000000-0000-4000-8000-0000000000a1")
OTHER_ORG = UUID("00000000-0000-4000-8000-0000000000b2")

#: Floors the method clears with margin (it measures 0.93 and 0.88 on the tuning
#: questions, 0.86 recall@3 on the held-out ones); a regression falls through them.
RECALL_AT_3_FLOOR = 0.85
MRR_FLOOR = 0.78
HELD_OUT_RECALL_AT_3_FLOOR = 0.75


async def add_document(
    conn: PoolConnectionProxy, org_id: UUID, filename: str, content: str
) -> UUID:
    async with conn.transaction():
        document_id: UUID = await conn.fetchval(
            "INSERT INTO knowledge_base (org_id, filename, content)"
            " VALUES ($1, $2, $3) RETURNING id",
            org_id,
            filename,
            content,
        )
        await write_passages(
            OnConnection(conn), [Written(document_id, org_id, filename, content, True)]
        )
    return document_id


@pytest.fixture
async def conn(kbcore_pool: asyncpg.Pool) -> AsyncIterator[PoolConnectionProxy]:
    """A connection to a fresh migrated database."""
    async with kbcore_pool.acquire() as connection:
        yield connection


@pytest.fixture
async def sales_org(conn: PoolConnectionProxy) -> UUID:
    """The test set's documents in one org, its terms counted."""
    for document in testset.documents():
        await add_document(conn, ORG, document.filename, document.content)
    async with conn.transaction():
        await refresh_term_counts(OnConnection(conn), ORG)
    return ORG


async def ask(
    conn: PoolConnectionProxy,
    org_id: UUID,
    turn: str,
    *,
    limit: int = 3,
    min_similarity: float = SIMILARITY_THRESHOLD,
) -> list[str]:
    found = await rank(conn, org_id, spoken_query(turn), limit=limit, min_similarity=min_similarity)
    return [hit.context.split(CONTEXT_SEPARATOR)[0] for hit in found]


async def rank(
    conn: PoolConnectionProxy,
    org_id: UUID,
    query: SpokenQuery,
    *,
    limit: int = 3,
    min_similarity: float = SIMILARITY_THRESHOLD,
) -> list[RankedPassage]:
    return await rank_passages(
        OnConnection(conn), org_id, query.terms, limit=limit, min_similarity=min_similarity
    )


async def ranked(conn: PoolConnectionProxy, question: testset.Question) -> Ranked:
    query = spoken_query(question.turn, previous=question.previous)
    hits = await rank(conn, ORG, query, limit=10, min_similarity=0.0)
    return Ranked(
        question,
        tuple((hit.context.split(CONTEXT_SEPARATOR)[0], hit.similarity) for hit in hits),
    )


async def test_the_test_set_is_answered_above_the_recall_floor(
    conn: PoolConnectionProxy, sales_org: UUID
) -> None:
    """Spoken questions find a right document in the first three passages."""
    tuning = quality([await ranked(conn, q) for q in testset.questions()])
    held_out = quality([await ranked(conn, q) for q in testset.questions(testset.HELD_OUT)])
    assert tuning.recall_at_3 >= RECALL_AT_3_FLOOR
    assert tuning.mrr_at_10 >= MRR_FLOOR
    assert held_out.recall_at_3 >= HELD_OUT_RECALL_AT_3_FLOOR


async def test_similarities_are_between_zero_and_one_best_first(
    conn: PoolConnectionProxy, sales_org: UUID
) -> None:
    query = spoken_query("how much is the pro plan per user per month")
    hits = await rank(conn, ORG, query, limit=20, min_similarity=0.0)
    similarities = [hit.similarity for hit in hits]
    assert hits
    assert all(0.0 <= s <= 1.0 for s in similarities)
    assert similarities == sorted(similarities, reverse=True)


async def test_a_question_the_documents_do_not_cover_gets_nothing(
    conn: PoolConnectionProxy, sales_org: UUID
) -> None:
    """Below the default threshold nothing is returned, rather than a wrong passage."""
    assert await ask(conn, ORG, "do you guys have a fax feature") == []
    assert await ask(conn, ORG, "can we bring our own twilio account") == []
    assert await ask(conn, ORG, "how long is the free trial") != []


async def test_another_orgs_passages_are_never_returned(
    conn: PoolConnectionProxy, sales_org: UUID
) -> None:
    await add_document(conn, OTHER_ORG, "secret.md", "# Zanzibar\n\nThe zanzibar discount code.")
    assert "secret.md" not in await ask(conn, ORG, "zanzibar discount code", min_similarity=0.0)
    assert await ask(conn, OTHER_ORG, "zanzibar discount code") == ["secret.md"]


async def test_an_edit_is_found_at_once_without_counting_terms_again(
    conn: PoolConnectionProxy, sales_org: UUID
) -> None:
    """Rewriting a document's passages is the whole update; the counts may lag."""
    document_id = await add_document(conn, ORG, "faq.md", "# Fax\n\nWe do not offer fax.")
    assert await ask(conn, ORG, "do you guys have a fax feature") == ["faq.md"]
    content = "# Parking\n\nVisitors park in the garage."
    await write_passages(OnConnection(conn), [Written(document_id, ORG, "faq.md", content, True)])
    assert await ask(conn, ORG, "do you guys have a fax feature") == []
    assert await ask(conn, ORG, "where do visitors park", limit=1) == ["faq.md"]
    await write_passages(OnConnection(conn), [Written(document_id, ORG, "faq.md", content, False)])
    assert "faq.md" not in await ask(conn, ORG, "where do visitors park", min_similarity=0.0)


async def test_counting_terms_again_replaces_the_counts(
    conn: PoolConnectionProxy, sales_org: UUID
) -> None:
    before = await conn.fetchval(
        "SELECT count(*) FROM knowledge_passage_terms WHERE org_id = $1", ORG
    )
    async with conn.transaction():
        passages = await refresh_term_counts(OnConnection(conn), ORG)
    after = await conn.fetchval(
        "SELECT count(*) FROM knowledge_passage_terms WHERE org_id = $1", ORG
    )
    assert passages == await conn.fetchval("SELECT count(*) FROM knowledge_passages")
    assert before == after > 0
    org_lexemes = "SELECT count(*) FROM knowledge_passage_terms WHERE lexeme LIKE 'org:%'"
    assert await conn.fetchval(org_lexemes) == 0


async def test_an_org_never_counted_is_still_searched(conn: PoolConnectionProxy) -> None:
    await add_document(conn, OTHER_ORG, "trial.md", "# Free trial\n\nFourteen days, no card.")
    assert await ask(conn, OTHER_ORG, "is there a free trial") == ["trial.md"]


async def test_an_empty_query_asks_nothing(conn: PoolConnectionProxy) -> None:
    assert await rank(conn, uuid.uuid4(), spoken_query("um, yeah")) == []


async def test_words_that_look_like_tsquery_syntax_are_only_words(
    conn: PoolConnectionProxy, sales_org: UUID
) -> None:
    """Quotes, backslashes and operators in a term reach PostgreSQL as plain lexemes."""
    query = spoken_query("pro")
    hostile = type(query)(("it's \\ ' & | ! <-> :*", *query.terms))
    hits = await rank(conn, ORG, hostile, min_similarity=0.0)
    assert hits
