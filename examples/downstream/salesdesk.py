"""A sales desk: it keeps each org's price list in kbcore and publishes it to Vapi."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

import kbcore

PRICE_LIST = "price-list.md"


def price_list(prices: Mapping[str, str]) -> str:
    """The price list as the assistants read it: one line per plan."""
    return "\n".join(f"- {plan}: {price}" for plan, price in sorted(prices.items()))


async def publish_prices(
    kb: kbcore.KnowledgeBase,
    coordinator: kbcore.SyncCoordinator,
    org_id: UUID,
    prices: Mapping[str, str],
    *,
    actor: str,
) -> kbcore.SyncResult:
    """Save the org's price list (a new version when it changed) and sync it to Vapi."""
    content = price_list(prices)
    existing = await find(kb, org_id, PRICE_LIST)
    if existing is None:
        await kb.create(
            org_id, filename=PRICE_LIST, content=content, category="products_services", actor=actor
        )
    else:
        await kb.update(org_id, existing.id, content=content, actor=actor)
    return await coordinator.sync(org_id, actor=actor)


async def find(kb: kbcore.KnowledgeBase, org_id: UUID, filename: str) -> kbcore.Document | None:
    """The org's active document called ``filename``, if there is one."""
    cursor = None
    while True:
        page = await kb.list(org_id, category="products_services", cursor=cursor)
        for document in page.items:
            if document.filename == filename:
                return document
        if page.next_cursor is None:
            return None
        cursor = page.next_cursor
