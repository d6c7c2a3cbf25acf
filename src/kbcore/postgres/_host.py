"""Reads of the host's own tables: its agents and its Vapi integration."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import attrs

from kbcore._domain import Assistant, Secret
from kbcore.postgres._connection import Db

# role and provider are compared as text: a host may have made them enum types.
_ASSISTANTS = """
SELECT id, org_id, role::text AS role, vapi_assistant_id
FROM agents
WHERE org_id = $1 AND role::text = ANY($2::text[])
ORDER BY role::text, id
"""

# An empty key is no key: the service then falls back to the environment.
_VAPI_KEY = """
SELECT nullif(config->>'vapi_api_key', '')
FROM integrations
WHERE org_id = $1 AND provider::text = 'vapi' AND nullif(config->>'vapi_api_key', '') IS NOT NULL
LIMIT 1
"""


@attrs.frozen
class PostgresAgents:
    _db: Db

    async def assistants(self, org_id: UUID, roles: Sequence[str]) -> Sequence[Assistant]:
        rows = await self._db.fetch(_ASSISTANTS, org_id, list(roles))
        return [
            Assistant(
                agent_id=row["id"],
                org_id=row["org_id"],
                role=row["role"],
                vapi_assistant_id=row["vapi_assistant_id"],
            )
            for row in rows
        ]


@attrs.frozen
class PostgresIntegrations:
    _db: Db

    async def vapi_key(self, org_id: UUID) -> Secret | None:
        value = await self._db.fetchval(_VAPI_KEY, org_id)
        return None if value is None else Secret(value)
