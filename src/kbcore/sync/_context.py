"""What every step of one sync shares: the store, the Vapi client, the org and its tool name."""

from __future__ import annotations

from uuid import UUID

import anyio
import attrs

from kbcore._ports import SyncState
from kbcore._progress import OnProgress, Tally
from kbcore.vapi import VapiClient

#: Where a sync's Vapi key comes from, as messages name it.
KEY_IN_INTEGRATION = "the org's Vapi integration"
KEY_IN_ENVIRONMENT = "VAPI_API_KEY"


@attrs.frozen
class SyncContext:
    """One claimed sync's collaborators; ``limiter`` bounds the Vapi calls run in parallel."""

    store: SyncState
    client: VapiClient
    org_id: UUID
    tool_name: str
    limiter: anyio.CapacityLimiter
    #: Where the Vapi key came from, for a message about a rejected key.
    key_source: str = KEY_IN_INTEGRATION
    #: Hears how far the sync's phases have come (upload, assistants, delete).
    on_progress: OnProgress | None = None

    def tally(self, phase: str, total: int) -> Tally:
        """A phase of the sync, started: ``total`` items to go."""
        tally = Tally(phase, self.on_progress)
        tally.start(total)
        return tally
