"""Attaching the live-knowledge server to an org's assistants, and detaching it, on FakeVapi."""

from __future__ import annotations

import copy
from uuid import UUID

import httpx
import pytest

from kbcore import ValidationError
from kbcore._ports import Store
from kbcore.live import (
    LiveKnowledgeLinks,
    ServerSecret,
    attach_live_knowledge,
    detach_live_knowledge,
)
from kbcore.testing import FakeVapi

pytestmark = pytest.mark.anyio

URL = "https://kb.example.com/vapi"


async def attach(
    store: Store, org: UUID, secret: ServerSecret, http: httpx.AsyncClient
) -> LiveKnowledgeLinks:
    return await attach_live_knowledge(store, org, server_url=URL, secret=secret, http_client=http)


async def test_attaching_sets_only_the_knowledge_base_and_once(
    kbcore_org: UUID,
    kbcore_store: Store,
    server_secret: ServerSecret,
    fake_vapi: FakeVapi,
    fake_vapi_http: httpx.AsyncClient,
) -> None:
    before = copy.deepcopy(fake_vapi.assistants)
    first = await attach(kbcore_store, kbcore_org, server_secret, fake_vapi_http)
    again = await attach(kbcore_store, kbcore_org, server_secret, fake_vapi_http)
    assert (len(first.changed), again.changed, len(again.unchanged)) == (2, (), 2)
    assert len(fake_vapi.requests_to("PATCH /assistant/*")) == 2
    for assistant_id, assistant in fake_vapi.assistants.items():
        model = dict(assistant["model"])
        knowledge_base = model.pop("knowledgeBase")
        assert model == before[assistant_id]["model"]
        assert knowledge_base == {
            "provider": "custom-knowledge-base",
            "server": {
                "url": f"{URL}/orgs/{kbcore_org}",
                "timeoutSeconds": 5,
                "headers": {"X-Vapi-Secret": server_secret.for_org(kbcore_org)},
            },
        }


async def test_detaching_removes_only_this_servers_knowledge_base(
    kbcore_org: UUID,
    kbcore_store: Store,
    server_secret: ServerSecret,
    fake_vapi: FakeVapi,
    fake_vapi_http: httpx.AsyncClient,
) -> None:
    await attach(kbcore_store, kbcore_org, server_secret, fake_vapi_http)
    foreign_id, foreign = next(iter(fake_vapi.assistants.items()))
    foreign["model"]["knowledgeBase"] = {
        "provider": "custom-knowledge-base",
        "server": {"url": "https://someone-else.example.com/kb"},
    }
    links = await detach_live_knowledge(
        kbcore_store, kbcore_org, server_url=URL, http_client=fake_vapi_http
    )
    assert links.unchanged == (foreign_id,)
    assert (
        foreign["model"]["knowledgeBase"]["server"]["url"] == "https://someone-else.example.com/kb"
    )
    assert all(
        "knowledgeBase" not in a["model"]
        for i, a in fake_vapi.assistants.items()
        if i != foreign_id
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"server_url": "ftp://kb.example.com"}, "base_url"),
        ({"server_url": URL, "timeout_seconds": 0}, "timeout_seconds"),
        ({"server_url": URL, "credential_id": " "}, "credential_id"),
    ],
)
async def test_bad_arguments_change_nothing(
    kbcore_org: UUID,
    kbcore_store: Store,
    server_secret: ServerSecret,
    fake_vapi: FakeVapi,
    fake_vapi_http: httpx.AsyncClient,
    kwargs: dict[str, object],
    field: str,
) -> None:
    with pytest.raises(ValidationError) as refused:
        await attach_live_knowledge(
            kbcore_store,
            kbcore_org,
            secret=server_secret,
            http_client=fake_vapi_http,
            **kwargs,  # type: ignore[arg-type]
        )
    assert refused.value.field == field
    assert fake_vapi.requests == []


async def test_an_org_without_assistants_is_told_what_to_fix(
    kbcore_store: Store, server_secret: ServerSecret, fake_vapi_http: httpx.AsyncClient, org: UUID
) -> None:
    with pytest.raises(ValidationError, match="no agents with a Vapi assistant id"):
        await attach(kbcore_store, org, server_secret, fake_vapi_http)


@pytest.mark.parametrize(
    "knowledge_base",
    [
        {"provider": "canonical", "server": {"url": "https://x"}},
        {"provider": "custom-knowledge-base"},
        {"provider": "custom-knowledge-base", "server": {"url": "https://x", "timeoutSeconds": 0}},
        {"provider": "custom-knowledge-base", "server": {"url": "https://x", "secret": "s"}},
    ],
)
async def test_fake_vapi_refuses_a_knowledge_base_vapi_would_refuse(
    fake_vapi: FakeVapi, fake_vapi_http: httpx.AsyncClient, knowledge_base: dict[str, object]
) -> None:
    assistant_id = fake_vapi.add_assistant()
    model = {**fake_vapi.assistants[assistant_id]["model"], "knowledgeBase": knowledge_base}
    response = await fake_vapi_http.patch(
        f"https://api.vapi.ai/assistant/{assistant_id}",
        json={"model": model},
        headers={"authorization": f"Bearer {fake_vapi.api_key}"},
    )
    assert response.status_code == 400
