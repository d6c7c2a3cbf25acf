"""FakeVapi as the caller's side: the ``knowledge-base-request`` Vapi sends on a user turn.

For an assistant whose ``model.knowledgeBase`` is a ``custom-knowledge-base``, Vapi
POSTs the call's transcript to ``server.url`` with ``server.headers`` and the
authentication of ``server.credentialId``, and waits ``server.timeoutSeconds``. This
module builds that request from the fake's state and sends it through ``httpx``.
Credentials are Vapi's authentication plans (``BearerAuthenticationPlan``,
``HMACAuthenticationPlan``), signed here independently of kbcore's server code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import httpx

__all__ = ["KnowledgeAnswer", "call_knowledge_server", "knowledge_request", "sign"]

_ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512, "sha1": hashlib.sha1}
_PLACEHOLDER = re.compile(r"\{(body|timestamp|method|url|svix-id)\}")


@attrs.frozen
class KnowledgeAnswer:
    """What the server answered a knowledge-base request: status, headers, body."""

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def documents(self) -> list[dict[str, Any]]:
        """The ``documents`` of a 200 answer (what the model would be given)."""
        documents: list[dict[str, Any]] = self.json()["documents"]
        return documents


def knowledge_request(
    *,
    org_id: str,
    assistant_id: str,
    turns: Sequence[str],
    now: datetime,
) -> dict[str, Any]:
    """The body Vapi POSTs: the caller's ``turns`` (oldest first), each answered briefly."""
    seconds = now.timestamp()
    messages: list[dict[str, Any]] = []
    formatted: list[dict[str, Any]] = []
    for index, turn in enumerate(turns):
        if index:
            messages.append(_transcript("bot", "Sure.", seconds))
            formatted.append({"role": "assistant", "content": "Sure."})
        messages.append(_transcript("user", turn, seconds))
        formatted.append({"role": "user", "content": turn})
    return {
        "message": {
            "type": "knowledge-base-request",
            "timestamp": int(seconds * 1000),
            "messages": messages,
            "messagesOpenAIFormatted": formatted,
            "call": {"id": str(uuid.uuid4()), "orgId": org_id, "assistantId": assistant_id},
            "assistant": {"name": "assistant"},
        }
    }


def _transcript(role: str, text: str, seconds: float) -> dict[str, Any]:
    return {
        "role": role,
        "message": text,
        "time": seconds * 1000,
        "endTime": seconds * 1000 + 1500,
        "secondsFromStart": 3.0,
    }


def sign(
    plan: Mapping[str, Any], *, method: str, url: str, body: bytes, now: datetime
) -> dict[str, str]:
    """The headers a Vapi authentication plan adds to a request."""
    if plan.get("type") == "bearer":
        prefix = "Bearer " if plan.get("bearerPrefixEnabled", True) else ""
        return {plan.get("headerName", "Authorization"): prefix + plan["token"]}
    if plan.get("type") == "hmac":
        return _hmac_headers(plan, method=method, url=url, body=body, now=now)
    raise ValueError(f"FakeVapi signs bearer and hmac plans, not {plan.get('type')!r}")


def _hmac_headers(
    plan: Mapping[str, Any], *, method: str, url: str, body: bytes, now: datetime
) -> dict[str, str]:
    key = plan["secretKey"].encode()
    if plan.get("secretIsBase64"):
        key = base64.b64decode(key)
    timestamp = str(int(now.timestamp()))
    include = plan.get("includeTimestamp", True)
    message_id = str(uuid.uuid4())
    values = {
        "body": body,
        "timestamp": timestamp.encode() if include else b"",
        "method": method.encode(),
        "url": url.encode(),
        "svix-id": message_id.encode(),
    }
    parts = _PLACEHOLDER.split(plan.get("payloadFormat", "{timestamp}.{body}"))
    payload = b"".join(values[p] if i % 2 else p.encode() for i, p in enumerate(parts))
    digest = hmac.new(key, payload, _ALGORITHMS[plan.get("algorithm", "sha256")])
    encoded = (
        base64.b64encode(digest.digest()).decode()
        if plan.get("signatureEncoding") == "base64"
        else digest.hexdigest()
    )
    headers = {
        plan.get("signatureHeader", "x-signature"): plan.get("signaturePrefix", "") + encoded
    }
    if include:
        headers[plan.get("timestampHeader", "x-timestamp")] = timestamp
    if plan.get("messageIdHeader"):
        headers[plan["messageIdHeader"]] = message_id
    return headers


async def call_knowledge_server(
    assistant: Mapping[str, Any],
    credentials: Mapping[str, Mapping[str, Any]],
    *,
    org_id: str,
    turns: Sequence[str],
    now: datetime,
    http_client: httpx.AsyncClient | None,
) -> KnowledgeAnswer:
    """Send the assistant's knowledge server the request for ``turns``, as Vapi would."""
    server = _knowledge_server(assistant)
    body = json.dumps(
        knowledge_request(org_id=org_id, assistant_id=assistant["id"], turns=turns, now=now)
    ).encode()
    headers = {"content-type": "application/json", **(server.get("headers") or {})}
    credential = credentials.get(server.get("credentialId", ""))
    if credential is not None:
        plan = credential["authenticationPlan"]
        headers.update(sign(plan, method="POST", url=server["url"], body=body, now=now))
    timeout = httpx.Timeout(float(server.get("timeoutSeconds", 20)))
    if http_client is not None:
        response = await http_client.post(
            server["url"], content=body, headers=headers, timeout=timeout
        )
    else:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                server["url"], content=body, headers=headers, timeout=timeout
            )
    return KnowledgeAnswer(response.status_code, dict(response.headers), response.content)


def _knowledge_server(assistant: Mapping[str, Any]) -> Mapping[str, Any]:
    knowledge_base = (assistant.get("model") or {}).get("knowledgeBase") or {}
    if knowledge_base.get("provider") != "custom-knowledge-base":
        raise ValueError(f"Assistant {assistant['id']} has no custom knowledge base")
    server: Mapping[str, Any] = knowledge_base["server"]
    return server
