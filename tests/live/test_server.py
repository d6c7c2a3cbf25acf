"""The live-knowledge server end to end: FakeVapi asks as Vapi would, on every store."""

from __future__ import annotations

import io
import json
from uuid import UUID

import httpx
import pytest

from kbcore import KnowledgeBase
from kbcore._ports import Store
from kbcore.live import LiveKnowledgeServer, ServerSecret
from kbcore.testing import FakeVapi

pytestmark = pytest.mark.anyio

PRICING = "# Plans\n\nThe Pro plan costs $99 per user per month."


def assistant_of(fake_vapi: FakeVapi) -> str:
    return next(iter(fake_vapi.assistants))


async def test_an_edit_is_in_the_next_answer_without_a_sync(
    live_org: UUID, kbcore_kb: KnowledgeBase, fake_vapi: FakeVapi, live_http: httpx.AsyncClient
) -> None:
    """Edit a document, then the caller asks: the answer has the new text at once."""
    doc = await kbcore_kb.create(live_org, filename="pricing.md", content=PRICING)
    assistant = assistant_of(fake_vapi)
    question = "uh how much is the pro plan per person"
    first = await fake_vapi.request_knowledge(assistant, question, http_client=live_http)
    assert first.status == 200
    assert "$99" in first.documents[0]["content"]

    await kbcore_kb.update(live_org, doc.id, content=PRICING.replace("$99", "$89"))
    second = await fake_vapi.request_knowledge(assistant, question, http_client=live_http)

    [best, *_] = second.documents
    assert "$89" in best["content"]
    assert best["content"].startswith("pricing.md > Plans\n")
    assert best["uuid"] == str(doc.id)
    assert 0.45 <= best["similarity"] <= 1.0
    assert fake_vapi.requests_to("POST /file") == []


async def test_a_question_about_nothing_in_the_documents_gets_no_documents(
    live_org: UUID, kbcore_kb: KnowledgeBase, fake_vapi: FakeVapi, live_http: httpx.AsyncClient
) -> None:
    await kbcore_kb.create(live_org, filename="pricing.md", content=PRICING)
    answer = await fake_vapi.request_knowledge(
        assistant_of(fake_vapi), "do you sell fax machines", http_client=live_http
    )
    assert (answer.status, answer.documents) == (200, [])


async def test_a_follow_up_borrows_the_previous_turn(
    live_org: UUID, kbcore_kb: KnowledgeBase, fake_vapi: FakeVapi, live_http: httpx.AsyncClient
) -> None:
    await kbcore_kb.create(live_org, filename="pricing.md", content=PRICING)
    await kbcore_kb.create(live_org, filename="team.md", content="# Team\n\nOur team is in Oslo.")
    answer = await fake_vapi.request_knowledge(
        assistant_of(fake_vapi),
        "and per month?",
        previous_turns=["what does the pro plan cost"],
        http_client=live_http,
    )
    assert answer.documents[0]["content"].startswith("pricing.md")


async def test_deleted_documents_are_not_answered(
    live_org: UUID, kbcore_kb: KnowledgeBase, fake_vapi: FakeVapi, live_http: httpx.AsyncClient
) -> None:
    doc = await kbcore_kb.create(live_org, filename="pricing.md", content=PRICING)
    await kbcore_kb.delete(live_org, doc.id)
    answer = await fake_vapi.request_knowledge(
        assistant_of(fake_vapi), "how much is the pro plan", http_client=live_http
    )
    assert answer.documents == []


async def test_health_and_readiness(live_http: httpx.AsyncClient) -> None:
    assert (await live_http.get("/healthz")).json() == {"status": "ok"}
    assert (await live_http.get("/readyz")).json() == {"status": "ready"}


async def test_the_server_logs_each_answer_without_the_question(
    live_org: UUID,
    kbcore_kb: KnowledgeBase,
    fake_vapi: FakeVapi,
    live_http: httpx.AsyncClient,
    log_output: io.StringIO,
) -> None:
    await kbcore_kb.create(live_org, filename="pricing.md", content=PRICING)
    await fake_vapi.request_knowledge(
        assistant_of(fake_vapi), "how much is the pro plan", http_client=live_http
    )
    events = [json.loads(line) for line in log_output.getvalue().splitlines()]
    [answered] = [e for e in events if e["event"] == "kbcore.live.answered"]
    assert (answered["org_id"], answered["passages"]) == (str(live_org), 1)
    assert "pro plan" not in log_output.getvalue()


async def test_a_limit_and_threshold_of_the_hosts_own(
    kbcore_store: Store,
    server_secret: ServerSecret,
    live_org: UUID,
    kbcore_kb: KnowledgeBase,
    fake_vapi: FakeVapi,
) -> None:
    for n in range(4):
        await kbcore_kb.create(live_org, filename=f"p{n}.md", content=f"# Zebra {n}\n\nZebras.")
    server = LiveKnowledgeServer(kbcore_store, server_secret, limit=2, min_similarity=0.0)
    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport) as client:
        answer = await fake_vapi.request_knowledge(
            assistant_of(fake_vapi), "zebras", http_client=client
        )
    assert len(answer.documents) == 2
