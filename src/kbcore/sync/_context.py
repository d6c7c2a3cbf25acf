"""What every step of one sync shares: the store, the Vapi client, the org and its tool name."""

from __future__ import annotations

from uuid import UUID

import anyio
import attrs

from kbcore._ports import SyncState
from kbcore.vapi import VapiClient


@attrs.frozen
class SyncContext:
    """One claimed sync's collaborators; ``limiter`` bounds the Vapi calls run in parallel."""

    store: SyncState
    client: VapiClient
    org_id: UUID
    tool_name: str
    limiter: anyio.CapacityLimiter
