"""The backend over real HTTP: its knowledge-base API, its sync, and live knowledge for Vapi."""

from __future__ import annotations

from uuid import UUID

import httpx
import pytest

from kbcore.live import ServerSecret, attach_live_knowledge
from kbcore.postgres import PostgresStore
from kbcore.testing import FakeVapi

pytestmark = pytest.mark.anyio

PRICING = "# Plans\n\nThe Pro plan costs $99 per user per month."


async def test_documents_through_the_api(http: httpx.AsyncClient, kbcore_org: UUID) -> None:
    """Create, list, edit and delete, as the original backend's clients did."""
    org = {"x-org-id": str(kbcore_org)}
    created = await http.post(
        "/api/knowledge-base", json={"filename": "pricing.md", "content": PRICING}, headers=org
    )
    assert created.status_code == 201
    item = created.json()["item"]
    assert (item["filename"], item["version"], item["category"]) == ("pricing.md", 1, "general")

    listed = (await http.get("/api/knowledge-base", headers=org)).json()
    assert [doc["id"] for doc in listed["items"]] == [item["id"]]

    edited = await http.patch(
        f"/api/knowledge-base/{item['id']}",
        json={"content": "Pro: $89", "expected_version": 1},
        headers=org,
    )
    assert edited.json()["item"]["version"] == 2
    stale = await http.patch(
        f"/api/knowledge-base/{item['id']}",
        json={"content": "Pro: $79", "expected_version": 1},
        headers=org,
    )
    assert stale.status_code == 409

    deleted = await http.delete(f"/api/knowledge-base/{item['id']}", headers=org)
    assert deleted.json()["item"]["active"] is False
    assert (await http.get("/api/knowledge-base", headers=org)).json()["items"] == []


async def test_bad_input_and_strangers_get_clear_answers(
    http: httpx.AsyncClient, base_url: str, kbcore_org: UUID
) -> None:
    org = {"x-org-id": str(kbcore_org)}
    blank = await http.post(
        "/api/knowledge-base", json={"filename": "a.md", "content": "   "}, headers=org
    )
    assert (blank.status_code, blank.json()["field"]) == (400, "content")
    missing = await http.delete("/api/knowledge-base/not-an-id", headers=org)
    assert missing.status_code == 400
    async with httpx.AsyncClient(base_url=base_url) as stranger:
        refused = await stranger.get("/api/knowledge-base", headers=org)
    assert refused.status_code == 401


async def test_sync_then_rate_limited(
    http: httpx.AsyncClient, kbcore_org: UUID, fake_vapi: FakeVapi
) -> None:
    org = {"x-org-id": str(kbcore_org)}
    await http.post(
        "/api/knowledge-base", json={"filename": "pricing.md", "content": PRICING}, headers=org
    )
    synced = await http.post("/api/knowledge-base/sync", headers=org)
    assert synced.json()["result"]["files_uploaded"] == 1
    again = await http.post("/api/knowledge-base/sync", headers=org)
    assert again.status_code == 429
    assert int(again.headers["retry-after"]) > 0
    assert len(fake_vapi.files) == 1


@pytest.fixture
async def attached_org(
    kbcore_org: UUID,
    kbcore_store: PostgresStore,
    base_url: str,
    live_secret: ServerSecret,
    fake_vapi_http: httpx.AsyncClient,
) -> UUID:
    """``kbcore_org`` with its assistants pointed at the backend's live-knowledge server."""
    await attach_live_knowledge(
        kbcore_store,
        kbcore_org,
        server_url=f"{base_url}/vapi",
        secret=live_secret,
        http_client=fake_vapi_http,
    )
    return kbcore_org


async def test_vapi_asks_the_mounted_server_and_hears_the_latest_edit(
    http: httpx.AsyncClient, attached_org: UUID, fake_vapi: FakeVapi
) -> None:
    """No sync: an edit through the API is in Vapi's next knowledge-base answer."""
    org = {"x-org-id": str(attached_org)}
    created = await http.post(
        "/api/knowledge-base", json={"filename": "pricing.md", "content": PRICING}, headers=org
    )
    doc_id = created.json()["item"]["id"]
    await http.patch(
        f"/api/knowledge-base/{doc_id}",
        json={"content": PRICING.replace("$99", "$89")},
        headers=org,
    )
    assistant = next(iter(fake_vapi.assistants))
    answer = await fake_vapi.request_knowledge(assistant, "so how much is the pro plan")
    assert answer.status == 200
    assert "$89" in answer.documents[0]["content"]
