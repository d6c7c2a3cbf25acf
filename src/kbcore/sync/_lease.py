"""A running sync's lease on its org: renewed in the background, and confirmed before each write.

Vapi has no conditional writes: a sync that lost its claim (its process paused past the
lease, say) and went on writing would undo what the sync that took over did. So before
every Vapi write the sync renews its lease in the database, and stops if the org is no
longer its own. A renewal leaves ``SyncPolicy.lease`` on the clock, and the policy
keeps the lease longer than the longest a Vapi call can last (``RetryPolicy.timeout``, its
retries included) by ``LEASE_MARGIN``: a write that starts under a renewed lease ends
(or is given up) before that lease could lapse.
"""

from __future__ import annotations

import math
from datetime import timedelta
from uuid import UUID

import anyio
import attrs

from kbcore._ports import SyncState
from kbcore.errors import KbError, SyncFailed
from kbcore.logging import get_logger

log = get_logger()

#: How much longer than the longest Vapi call a lease must be.
LEASE_MARGIN = timedelta(seconds=60)


class ClaimLost(SyncFailed):
    """The sync no longer owns its org (another sync took it over): it must stop writing."""

    def __init__(self) -> None:
        super().__init__(
            "The sync lost its claim on the org and stopped before its next write to Vapi; "
            "run it again"
        )


@attrs.define
class Lease:
    """One run's claim on its org, as the database holds it."""

    _store: SyncState
    org_id: UUID
    run_id: UUID
    duration: timedelta
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False)
    #: When the last renewal started (event loop time), and whether it found the claim ours.
    _renewed_at: float = attrs.field(default=-math.inf, init=False)
    _held: bool = attrs.field(default=True, init=False)

    async def confirm(self) -> None:
        """Renew the lease before a write; raise ``ClaimLost`` if the org is no longer ours.

        Concurrent writes share one renewal, as long as it started after they asked:
        an upload fan-out costs a few statements, not one per upload.
        """
        asked = anyio.current_time()
        async with self._lock:
            if self._renewed_at < asked:
                self._renewed_at = anyio.current_time()
                self._held = await self._renew_or_stop()
        if not self._held:
            raise ClaimLost

    async def keep_alive(self) -> None:
        """Renew every third of the lease until cancelled; return when the claim is lost."""
        interval = self.duration.total_seconds() / 3
        while True:
            await anyio.sleep(interval)
            try:
                held = await self._renew()
            except KbError as error:
                # A missed renewal is not fatal: the lease outlives two more tries.
                log.warning("kbcore.sync.renew_failed", org_id=str(self.org_id), error=str(error))
                continue
            if not held:
                log.warning(
                    "kbcore.sync.claim_lost", org_id=str(self.org_id), run_id=str(self.run_id)
                )
                return

    async def _renew_or_stop(self) -> bool:
        try:
            return await self._renew()
        except KbError as error:
            # Without the database there is no knowing whether the org is still ours.
            raise SyncFailed(
                "The sync could not confirm its claim on the org before writing to Vapi; "
                "run it again",
            ) from error

    async def _renew(self) -> bool:
        return await self._store.renew(self.org_id, self.run_id, self.duration)
