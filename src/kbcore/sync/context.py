"""What every step of one sync shares: the store, the Vapi client, the org and its tool name."""

from __future__ import annotations

from uuid import UUID

import anyio
import attrs

from kbcore.ports import SyncStore
from kbcore.vapi import VapiClient

__all__ = ["SyncContext"]


@attrs.frozen
class SyncContext:
    """One claimed sync's collaborators; ``limiter`` bounds the Vapi calls run in parallel."""

    store: SyncStore
    client: VapiClient
    org_id: UUID
    tool_name: str
    limiter: anyio.CapacityLimiter
