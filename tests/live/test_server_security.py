"""Who may ask the live-knowledge server: Vapi with the org's own credential, and nobody else.

Every refusal is a 401 before the org's passages are read, and no secret reaches a log.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import attrs
import httpx
import pytest

from kbcore import KnowledgeBase
from kbcore._domain import RankedPassage
from kbcore._ports import Store
from kbcore.live import (
    BearerToken,
    HmacSignature,
    LiveKnowledgeServer,
    ServerSecret,
    attach_live_knowledge,
)
from kbcore.live._auth import SignedRequest
from kbcore.testing import FakeVapi
from kbcore.testing.host_tables import HostTables
from tests.live.conftest import SERVER_URL

pytestmark = pytest.mark.anyio

PRICING = "# Plans\n\nThe Pro plan costs $99 per user per month."
NOW = 1_800_000_000.0


@attrs.define
class ReadCounter:
    """A store whose passage rankings are counted: 'nothing read' is zero of them."""

    inner: Store
    rankings: int = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def rank_passages(
        self, org_id: UUID, terms: Sequence[str], **kw: Any
    ) -> Sequence[RankedPassage]:
        self.rankings += 1
        return await self.inner.rank_passages(org_id, terms, **kw)


@pytest.fixture
def counter(kbcore_store: Store) -> ReadCounter:
    return ReadCounter(kbcore_store)


@pytest.fixture
async def client(counter: ReadCounter, server_secret: ServerSecret) -> Any:
    server = LiveKnowledgeServer(counter, server_secret, clock=lambda: NOW)
    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport, base_url=SERVER_URL) as http:
        yield http


def body(turn: str = "how much is the pro plan", assistant_id: str | None = None) -> bytes:
    call = {"id": "call-1", "orgId": "vapi-org"}
    if assistant_id is not None:
        call["assistantId"] = assistant_id
    message = {
        "type": "knowledge-base-request",
        "messagesOpenAIFormatted": [{"role": "user", "content": turn}],
        "call": call,
    }
    return json.dumps({"message": message}).encode()


async def post(
    http: httpx.AsyncClient, org: UUID, headers: dict[str, str], content: bytes | None = None
) -> httpx.Response:
    return await http.post(f"/orgs/{org}", content=content or body(), headers=headers)


def hmac_headers(secret: str, content: bytes, timestamp: float = NOW) -> dict[str, str]:
    plan = HmacSignature()
    request = SignedRequest("POST", f"{SERVER_URL}/orgs/x", {}, content)
    stamp = str(int(timestamp))
    return {"x-signature": plan.signature(request, secret, stamp), "x-timestamp": stamp}


@pytest.fixture
async def org(kbcore_kb: KnowledgeBase) -> UUID:
    org_id = uuid.uuid4()
    await kbcore_kb.create(org_id, filename="pricing.md", content=PRICING)
    return org_id


async def test_the_orgs_bearer_token_is_accepted(
    client: httpx.AsyncClient, org: UUID, server_secret: ServerSecret
) -> None:
    token = server_secret.for_org(org)
    for headers in (
        {"authorization": f"Bearer {token}"},
        {"x-vapi-secret": token},
        hmac_headers(token, body()),
    ):
        response = await post(client, org, headers)
        assert response.status_code == 200, headers
        assert response.json()["documents"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"authorization": "Bearer wrong"}, id="wrong-token"),
        pytest.param({"authorization": "Basic abc"}, id="wrong-scheme"),
        pytest.param({"x-vapi-secret": ""}, id="empty"),
        pytest.param({"x-signature": "00", "x-timestamp": str(int(NOW))}, id="wrong-signature"),
    ],
)
async def test_a_wrong_credential_is_refused_before_anything_is_read(
    client: httpx.AsyncClient, counter: ReadCounter, org: UUID, headers: dict[str, str]
) -> None:
    response = await post(client, org, headers)
    assert response.status_code == 401
    assert counter.rankings == 0


async def test_another_orgs_credential_opens_nothing_here(
    client: httpx.AsyncClient, counter: ReadCounter, org: UUID, server_secret: ServerSecret
) -> None:
    """Each org's secret is derived from the server secret: one org's opens no other."""
    other = server_secret.for_org(uuid.uuid4())
    for headers in ({"authorization": f"Bearer {other}"}, hmac_headers(other, body())):
        assert (await post(client, org, headers)).status_code == 401
    assert counter.rankings == 0


async def test_a_replayed_or_stale_signature_is_refused(
    client: httpx.AsyncClient, counter: ReadCounter, org: UUID, server_secret: ServerSecret
) -> None:
    token = server_secret.for_org(org)
    signed = hmac_headers(token, body())
    assert (await post(client, org, signed)).status_code == 200
    assert (await post(client, org, signed)).status_code == 401
    stale = hmac_headers(token, body(), timestamp=NOW - 301)
    assert (await post(client, org, stale)).status_code == 401
    tampered = hmac_headers(token, body())
    assert (await post(client, org, tampered, body("what is the trial"))).status_code == 401
    assert counter.rankings == 1


async def test_an_assistant_of_another_org_is_refused(
    client: httpx.AsyncClient,
    counter: ReadCounter,
    org: UUID,
    server_secret: ServerSecret,
    kbcore_host_tables: HostTables,
) -> None:
    """The agents table gives the calling assistant to org B: org A's URL refuses it."""
    await kbcore_host_tables.add_agent(uuid.uuid4(), "inbound", "asst-of-b")
    await kbcore_host_tables.add_agent(org, "inbound", "asst-of-a")
    headers = {"authorization": f"Bearer {server_secret.for_org(org)}"}
    refused = await post(client, org, headers, body(assistant_id="asst-of-b"))
    mine = await post(client, org, headers, body(assistant_id="asst-of-a"))
    unknown = await post(client, org, headers, body(assistant_id="asst-nobody-knows"))
    assert (refused.status_code, mine.status_code, unknown.status_code) == (401, 200, 200)
    assert counter.rankings == 2


async def test_credentials_of_the_hosts_choice(
    counter: ReadCounter, org: UUID, server_secret: ServerSecret
) -> None:
    """Header, prefix and HMAC plan are configurable; what is not configured is refused."""
    server = LiveKnowledgeServer(
        counter,
        server_secret,
        credentials=[
            BearerToken("X-Api-Key", bearer_prefix=False),
            HmacSignature(
                signature_header="x-vapi-signature",
                signature_prefix="sha256=",
                timestamp_header=None,
                payload_format="{body}",
            ),
        ],
    )
    token = server_secret.for_org(org)
    signature = HmacSignature(
        signature_header="x-vapi-signature",
        signature_prefix="sha256=",
        timestamp_header=None,
        payload_format="{body}",
    )
    signed = signature.signature(SignedRequest("POST", "", {}, body()), token, "")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server), base_url=SERVER_URL
    ) as http:
        assert (await post(http, org, {"x-api-key": token})).status_code == 200
        assert (await post(http, org, {"x-vapi-signature": signed})).status_code == 200
        assert (await post(http, org, {"authorization": f"Bearer {token}"})).status_code == 401


async def test_no_secret_reaches_a_log_line(
    client: httpx.AsyncClient, org: UUID, server_secret: ServerSecret, log_output: io.StringIO
) -> None:
    token = server_secret.for_org(org)
    await post(client, org, {"authorization": f"Bearer {token}"})
    await post(client, org, {"authorization": f"Bearer {token[:-1]}x"})
    await post(client, org, {"x-vapi-secret": token}, b"not json")
    logged = log_output.getvalue()
    assert "kbcore.live.unauthorised" in logged
    assert "kbcore.live.bad_request" in logged
    assert token not in logged
    assert token[:-1] not in logged
    assert "a-server-secret" not in logged
    assert "***" in repr(server_secret)


async def test_an_org_fake_vapi_calls_with_an_hmac_credential(
    live_org: UUID,
    kbcore_kb: KnowledgeBase,
    kbcore_store: Store,
    fake_vapi: FakeVapi,
    fake_vapi_http: httpx.AsyncClient,
    server_secret: ServerSecret,
    live_http: httpx.AsyncClient,
) -> None:
    """A Vapi HMAC credential with the org's secret, attached by id: FakeVapi signs with it."""
    credential = fake_vapi.add_credential(
        {"type": "hmac", "secretKey": server_secret.for_org(live_org), "algorithm": "sha256"}
    )
    await attach_live_knowledge(
        kbcore_store,
        live_org,
        server_url=SERVER_URL,
        secret=server_secret,
        credential_id=credential,
        http_client=fake_vapi_http,
    )
    await kbcore_kb.create(live_org, filename="pricing.md", content=PRICING)
    assistant = next(iter(fake_vapi.assistants))
    server = fake_vapi.assistants[assistant]["model"]["knowledgeBase"]["server"]
    assert "headers" not in server
    answer = await fake_vapi.request_knowledge(assistant, "pro plan price", http_client=live_http)
    assert "$99" in answer.documents[0]["content"]
