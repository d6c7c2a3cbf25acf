"""The passages that answer a caller, from the store, with the org's words counted in time.

The store ranks an org's passages by how rare each of the question's words is in that
org (``Passages.count_terms``). Counting takes up to a second for a large org, so it is
never done while a caller waits: after an answer, an org whose count this process has
not refreshed for ``count_every`` gets a recount in the background, which the store
skips when another process counted lately.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

import attrs

from kbcore._domain import RankedPassage
from kbcore._ports import Passages
from kbcore.live._message import KnowledgeRequest
from kbcore.logging import get_logger
from kbcore.retrieval import Synonyms, spoken_query

log = get_logger()

#: How long an assistant's orgs, as the agents table says them, are taken as known.
ASSISTANT_ORGS_TTL = 60.0


@attrs.define
class Answers:
    """Ranked passages for knowledge-base requests, and the upkeep of the org's word counts."""

    store: Passages
    synonyms: Synonyms
    limit: int
    min_similarity: float
    count_every: timedelta
    _counted: dict[UUID, float] = attrs.field(factory=dict, init=False)
    _counting: set[asyncio.Task[None]] = attrs.field(factory=set, init=False)
    _assistants: dict[str, tuple[float, Sequence[UUID]]] = attrs.field(factory=dict, init=False)

    async def find(self, org_id: UUID, request: KnowledgeRequest) -> Sequence[RankedPassage]:
        """The org's best passages for what the caller said (none for a turn of fillers)."""
        assert request.turn is not None
        query = spoken_query(request.turn, previous=request.previous, synonyms=self.synonyms)
        if not query:
            return []
        found = await self.store.rank_passages(
            org_id, query.terms, limit=self.limit, min_similarity=self.min_similarity
        )
        self._count_soon(org_id)
        return found

    async def assistant_orgs(self, assistant_id: str) -> Sequence[UUID]:
        """The orgs whose agents have this Vapi assistant, as read at most a minute ago."""
        now = time.monotonic()
        cached = self._assistants.get(assistant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        orgs = await self.store.assistant_orgs(assistant_id)
        if len(self._assistants) > 10_000:
            self._assistants.clear()
        self._assistants[assistant_id] = (now + ASSISTANT_ORGS_TTL, orgs)
        return orgs

    def _count_soon(self, org_id: UUID) -> None:
        now = time.monotonic()
        if now - self._counted.get(org_id, -float("inf")) < self.count_every.total_seconds():
            return
        self._counted[org_id] = now
        task = asyncio.get_running_loop().create_task(self._count(org_id))
        # The loop keeps only a weak reference to a task: this set keeps it alive.
        self._counting.add(task)
        task.add_done_callback(self._counting.discard)

    async def _count(self, org_id: UUID) -> None:
        started = time.perf_counter()
        try:
            counted = await self.store.count_terms(org_id, older_than=self.count_every)
        except Exception as error:
            log.warning("kbcore.live.count_failed", org_id=str(org_id), error=type(error).__name__)
            return
        if counted:
            duration_ms = round((time.perf_counter() - started) * 1000)
            log.info("kbcore.live.counted", org_id=str(org_id), duration_ms=duration_ms)
