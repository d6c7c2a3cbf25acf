"""SyncSetup: what an org needs before its first sync, its agents and its Vapi key."""

from __future__ import annotations

import builtins
from uuid import UUID

import attrs
import httpx

from kbcore import _validators as check
from kbcore._domain import Assistant, Secret
from kbcore._ports import SetupState
from kbcore.errors import NotFound, ValidationError
from kbcore.logging import get_logger
from kbcore.sync._run import vapi_key
from kbcore.vapi import (
    DEFAULT_BASE_URL,
    RetryPolicy,
    VapiAssistant,
    VapiAuthenticationError,
    VapiClient,
)
from kbcore.vapi._client import checked_api_key, checked_base_url

log = get_logger()

MAX_ROLE_CHARS = 64
MAX_ASSISTANT_ID_CHARS = 255
#: A check is one request: a few quick tries, not a sync's patience.
CHECK_RETRY_POLICY = RetryPolicy(attempts=3, timeout=30.0, wait_max=2.0)


@attrs.frozen(kw_only=True)
class VapiKeyCheck:
    """What one harmless call to Vapi (its list of assistants) said of an org's key.

    ``works`` is False when Vapi rejected the key. ``key_source`` says where the key
    came from (the org's Vapi integration, or ``VAPI_API_KEY``); ``assistants`` are
    those the key can see, newest first; ``missing`` the Vapi assistant ids of the
    org's agents that are not among them.
    """

    works: bool
    key_source: str
    assistants: tuple[VapiAssistant, ...] = ()
    missing: tuple[str, ...] = ()


@attrs.define
class SyncSetup:
    """An org's set-up for syncing: its agents (each with its Vapi assistant) and its
    Vapi key, kept in the host's own ``agents`` and ``integrations`` tables.

    kbcore writes only the columns it knows; a host table that needs more refuses
    with ``HostTableError``. The key is never logged, shown or returned.
    """

    _store: SetupState
    _vapi_base_url: str = attrs.field(
        default=DEFAULT_BASE_URL, kw_only=True, converter=checked_base_url
    )
    _http_client: httpx.AsyncClient | None = attrs.field(default=None, kw_only=True)
    _vapi_timeout: float = attrs.field(
        default=10.0, kw_only=True, validator=check.greater_than(0.0)
    )

    async def add_agent(
        self, org_id: UUID | str, *, role: str, vapi_assistant_id: str | None = None
    ) -> Assistant:
        """Add an agent to the org: a sync of ``role`` updates its Vapi assistant."""
        org = check.uuid("org_id", org_id)
        agent = await self._store.insert_agent(org, _role(role), _assistant_id(vapi_assistant_id))
        log.info(
            "kbcore.setup.agent_added", org_id=str(org), agent_id=str(agent.agent_id), role=role
        )
        return agent

    async def agents(self, org_id: UUID | str) -> builtins.list[Assistant]:
        """The org's agents, whatever their role, by role."""
        return list(await self._store.agents(check.uuid("org_id", org_id)))

    async def remove_agent(self, org_id: UUID | str, agent_id: UUID | str) -> Assistant:
        """Remove the org's agent (its row in the host's table); return what it was."""
        org, agent = check.uuid("org_id", org_id), check.uuid("agent_id", agent_id)
        removed = await self._store.delete_agent(org, agent)
        if removed is None:
            raise NotFound(f"Agent {agent} not found")
        log.info("kbcore.setup.agent_removed", org_id=str(org), agent_id=str(agent))
        return removed

    async def set_vapi_key(self, org_id: UUID | str, api_key: str | Secret) -> None:
        """Make ``api_key`` the org's Vapi private key (its ``vapi`` integration)."""
        org = check.uuid("org_id", org_id)
        await self._store.store_vapi_key(org, _api_key(api_key))
        log.info("kbcore.setup.vapi_key_set", org_id=str(org))

    async def check_vapi_key(self, org_id: UUID | str) -> VapiKeyCheck:
        """Ask Vapi for the assistants the org's key can see: one GET, which changes nothing.

        The key is the one a sync would use: the org's, else ``VAPI_API_KEY``.
        ``NotFound`` when there is none; a ``VapiError`` when Vapi cannot be reached.
        """
        org = check.uuid("org_id", org_id)
        key, source = await vapi_key(self._store, org)
        if key is None:
            raise NotFound("No Vapi API key is configured for the org, and VAPI_API_KEY is unset")
        async with VapiClient(
            key,
            base_url=self._vapi_base_url,
            http_client=self._http_client,
            timeout=self._vapi_timeout,
            retry_policy=CHECK_RETRY_POLICY,
        ) as client:
            try:
                assistants = await client.list_assistants()
            except VapiAuthenticationError:
                log.warning("kbcore.setup.vapi_key_rejected", org_id=str(org), source=source)
                return VapiKeyCheck(works=False, key_source=source)
        seen = {assistant.id for assistant in assistants}
        wanted = [agent.vapi_assistant_id for agent in await self._store.agents(org)]
        missing = [id_ for id_ in dict.fromkeys(wanted) if id_ is not None and id_ not in seen]
        return VapiKeyCheck(
            works=True, key_source=source, assistants=assistants, missing=tuple(missing)
        )


def _api_key(value: str | Secret) -> Secret:
    """A key an Authorization header can carry, with no space (Vapi's keys have none)."""
    try:
        key = checked_api_key(value)
    except ValidationError:
        key = Secret("")
    if not key.value or " " in key.value:
        # Said without the key, and without the characters that made it unusable.
        raise ValidationError("api_key", "must be visible ASCII characters, with no spaces")
    return key


def _role(value: object) -> str:
    role = check.text("role", value)
    if not role.strip() or not role.isprintable() or len(role) > MAX_ROLE_CHARS:
        raise ValidationError(
            "role", f"must be a name of 1 to {MAX_ROLE_CHARS} printable characters"
        )
    return role


def _assistant_id(value: object) -> str | None:
    if value is None:
        return None
    text = check.text("vapi_assistant_id", value)
    visible = text.isascii() and text.isprintable() and " " not in text
    if not text or not visible or len(text) > MAX_ASSISTANT_ID_CHARS:
        raise ValidationError(
            "vapi_assistant_id", "must be a Vapi assistant id: visible ASCII, no spaces"
        )
    return text
