"""The sales desk on a real PostgreSQL and a fake Vapi, through kbcore's fixtures."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from salesdesk import PRICE_LIST, price_list, publish_prices

import kbcore
from kbcore.testing import FakeVapi, strategies

pytestmark = pytest.mark.anyio


async def test_published_prices_reach_every_assistant(
    kbcore_kb: kbcore.KnowledgeBase,
    kbcore_coordinator: kbcore.SyncCoordinator,
    kbcore_org: UUID,
    fake_vapi: FakeVapi,
) -> None:
    """Both of the org's assistants get a tool whose file holds the price list."""
    prices = {"Starter": "$29/month", "Pro": "$99/month"}
    result = await publish_prices(kbcore_kb, kbcore_coordinator, kbcore_org, prices, actor="ada")
    assert (result.files_uploaded, result.assistants_updated) == (1, 2)
    for assistant in fake_vapi.assistants.values():
        assert result.tool_id in assistant["model"]["toolIds"]
    [file] = fake_vapi.files.values()
    assert file.content.decode() == price_list(prices)


async def test_a_price_change_is_a_new_version_and_a_new_file(
    kbcore_kb: kbcore.KnowledgeBase,
    kbcore_coordinator: kbcore.SyncCoordinator,
    kbcore_org: UUID,
    fake_vapi: FakeVapi,
) -> None:
    """Publishing new prices updates the document and replaces the file on Vapi."""
    await publish_prices(kbcore_kb, kbcore_coordinator, kbcore_org, {"Pro": "$99"}, actor="ada")
    result = await publish_prices(
        kbcore_kb, kbcore_coordinator, kbcore_org, {"Pro": "$89"}, actor="bob"
    )
    assert (result.files_uploaded, result.files_deleted) == (1, 1)
    [document] = (await kbcore_kb.list(kbcore_org)).items
    assert (document.filename, document.version) == (PRICE_LIST, 2)
    [file] = fake_vapi.files.values()
    assert file.content.decode() == "- Pro: $89"


@given(
    org_id=strategies.org_ids(),
    prices=st.dictionaries(strategies.filenames(), strategies.filenames(), min_size=1),
)
async def test_any_price_list_is_stored_as_written(
    kbcore_kb: kbcore.KnowledgeBase, org_id: UUID, prices: dict[str, str]
) -> None:
    """Whatever the plans and prices, the stored price list is the one the desk wrote."""
    content = price_list(prices)
    document = await kbcore_kb.create(org_id, filename=PRICE_LIST, content=content)
    assert (await kbcore_kb.get(org_id, document.id)).content == content


@given(filename=strategies.invalid_filenames())
async def test_a_bad_filename_is_refused_by_name(
    kbcore_kb: kbcore.KnowledgeBase, filename: Any
) -> None:
    """kbcore names the field it refused, so the desk can show the right message."""
    with pytest.raises(kbcore.ValidationError) as refused:
        await kbcore_kb.create(uuid.uuid4(), filename=filename, content="x")
    assert refused.value.field == "filename"
