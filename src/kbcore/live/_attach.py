"""Pointing an org's assistants at the live-knowledge server, and away from it again.

Vapi reads ``model.knowledgeBase`` on each assistant: a ``custom-knowledge-base`` whose
``server`` says where to ask and how to prove it is Vapi. Attaching reads each of the
org's assistants and PATCHes its whole model (Vapi replaces the model on PATCH) with
that one field set, keeping everything else; an assistant already pointing there is
left alone, so attaching twice sends nothing. Detaching removes the field where it
points at this server, and nowhere else.

How Vapi proves itself: with ``credential_id``, a Vapi credential the operator made
(Bearer token or HMAC) with the org's derived secret (``ServerSecret.for_org``, or
``kbcore live secret``); without one, the derived secret goes in ``server.headers`` as
``X-Vapi-Secret``, which the server accepts by default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import attrs
import httpx

from kbcore import _validators as check
from kbcore._domain import Secret
from kbcore._ports import SyncState
from kbcore.errors import ValidationError
from kbcore.live._secret import ServerSecret
from kbcore.vapi import DEFAULT_BASE_URL, VapiAssistant, VapiClient
from kbcore.vapi._client import ModelChange, checked_base_url

#: The header the derived secret travels in when no Vapi credential is named.
SECRET_HEADER = "X-Vapi-Secret"  # noqa: S105 (a header name, not a secret)

#: Seconds Vapi waits for the server (``server.timeoutSeconds``; Vapi's default is 20).
#: The server answers within its own deadline, a second by default; this only bounds
#: a server that does not answer at all.
DEFAULT_TIMEOUT_SECONDS = 5


@attrs.frozen
class LiveKnowledgeLinks:
    """What attaching or detaching did: the Vapi assistant ids it changed and left alone."""

    org_id: UUID
    url: str
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]


def org_url(server_url: str, org_id: UUID) -> str:
    """Where the server answers the org: ``<server_url>/orgs/<org_id>``."""
    return f"{checked_base_url(server_url)}/orgs/{org_id}"


def knowledge_base(
    url: str, *, secret: str, credential_id: str | None, timeout_seconds: float
) -> dict[str, Any]:
    """The ``model.knowledgeBase`` that sends an assistant's requests to ``url``."""
    server: dict[str, Any] = {"url": url, "timeoutSeconds": timeout_seconds}
    if credential_id is not None:
        server["credentialId"] = credential_id
    else:
        server["headers"] = {SECRET_HEADER: secret}
    return {"provider": "custom-knowledge-base", "server": server}


async def attach_live_knowledge(
    store: SyncState,
    org_id: UUID | str,
    *,
    server_url: str,
    secret: ServerSecret,
    credential_id: str | None = None,
    roles: Sequence[str] = ("inbound", "outbound"),
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    vapi_base_url: str = DEFAULT_BASE_URL,
    http_client: httpx.AsyncClient | None = None,
) -> LiveKnowledgeLinks:
    """Point the org's assistants (its agents of ``roles``) at the server at ``server_url``.

    The Vapi key is the org's integration's, else ``VAPI_API_KEY``. Idempotent: an
    assistant already pointing there is not PATCHed again.
    """
    org = check.uuid("org_id", org_id)
    url = org_url(server_url, org)
    if isinstance(timeout_seconds, bool) or not 1 <= timeout_seconds <= 300:
        raise ValidationError("timeout_seconds", "must be between 1 and 300 seconds, as Vapi says")
    if credential_id is not None and not (isinstance(credential_id, str) and credential_id.strip()):
        raise ValidationError("credential_id", "must be a Vapi credential id")
    wanted = knowledge_base(
        url,
        secret=secret.for_org(org),
        credential_id=credential_id,
        timeout_seconds=timeout_seconds,
    )

    def attach(assistant: VapiAssistant) -> Mapping[str, Any] | None:
        return {**(assistant.model or {}), "knowledgeBase": wanted}

    return await _change_each(
        store, org, url, attach, roles=roles, vapi_base_url=vapi_base_url, http_client=http_client
    )


async def detach_live_knowledge(
    store: SyncState,
    org_id: UUID | str,
    *,
    server_url: str,
    roles: Sequence[str] = ("inbound", "outbound"),
    vapi_base_url: str = DEFAULT_BASE_URL,
    http_client: httpx.AsyncClient | None = None,
) -> LiveKnowledgeLinks:
    """Remove ``model.knowledgeBase`` from the org's assistants where it points at the server."""
    org = check.uuid("org_id", org_id)
    url = org_url(server_url, org)

    def detach(assistant: VapiAssistant) -> Mapping[str, Any] | None:
        model = dict(assistant.model or {})
        current = model.get("knowledgeBase")
        server = current.get("server") if isinstance(current, Mapping) else None
        if not isinstance(server, Mapping) or server.get("url") != url:
            return None
        del model["knowledgeBase"]
        return model

    return await _change_each(
        store, org, url, detach, roles=roles, vapi_base_url=vapi_base_url, http_client=http_client
    )


async def _change_each(
    store: SyncState,
    org_id: UUID,
    url: str,
    change: ModelChange,
    *,
    roles: Sequence[str],
    vapi_base_url: str,
    http_client: httpx.AsyncClient | None,
) -> LiveKnowledgeLinks:
    agents = await store.assistants(org_id, list(roles))
    assistant_ids = list(dict.fromkeys(a.vapi_assistant_id for a in agents if a.vapi_assistant_id))
    if not assistant_ids:
        raise ValidationError(
            "org_id", "The org has no agents with a Vapi assistant id; save the agents first"
        )
    api_key = await _vapi_key(store, org_id)
    changed: list[str] = []
    unchanged: list[str] = []
    async with VapiClient(api_key, base_url=vapi_base_url, http_client=http_client) as client:
        for assistant_id in assistant_ids:
            update = await client.update_assistant_model(assistant_id, change)
            (changed if update.changed else unchanged).append(assistant_id)
    return LiveKnowledgeLinks(org_id, url, tuple(changed), tuple(unchanged))


async def _vapi_key(store: SyncState, org_id: UUID) -> Secret:
    """The org's Vapi key, as a sync finds it: its integration, else ``VAPI_API_KEY``."""
    stored = await store.vapi_key(org_id)
    if stored:
        return stored
    value = os.environ.get("VAPI_API_KEY", "").strip()
    if not value:
        raise ValidationError(
            "api_key", "No Vapi API key; add the org's Vapi integration or set VAPI_API_KEY"
        )
    return Secret(value)
