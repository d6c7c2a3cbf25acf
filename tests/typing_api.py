"""Usages of the public API that mypy checks and pytest never runs (no ``test_`` prefix).

Each ``assert_type`` pins what a call returns, as a downstream project sees it; each
``type: ignore`` pins a misuse that mypy must reject (``--strict`` reports an ignore
that is no longer needed, so a loosened signature fails here).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import assert_type
from uuid import UUID

import asyncpg
import httpx
from hypothesis.strategies import SearchStrategy

import kbcore
from kbcore import (
    Assistant,
    Change,
    Document,
    DocumentDraft,
    DocumentSummary,
    DuplicateFilename,
    HostTableError,
    ImportReport,
    KnowledgeBase,
    Page,
    Progress,
    RateLimited,
    Rules,
    SearchHit,
    SyncCoordinator,
    SyncFailed,
    SyncPolicy,
    SyncPreview,
    SyncResult,
    SyncSetup,
    ValidationError,
    VapiClient,
    VapiError,
)
from kbcore._ports import Documents, Store, SyncState
from kbcore.memory import MemoryStore
from kbcore.postgres import PostgresStore, migrate
from kbcore.sync import VapiKeyCheck
from kbcore.testing import FakeVapi, strategies
from kbcore.vapi import KnowledgeBaseGroup, QueryTool, VapiAssistant, VapiFile


async def documents(pool: asyncpg.Pool, org_id: UUID) -> None:
    await migrate(pool)
    kb = KnowledgeBase(PostgresStore(pool))
    doc = await kb.create(
        org_id,
        filename="pricing.md",
        content="Pro: $99/month",
        category="products_services",
        metadata={"owner": "sales"},
        actor="user-1",
    )
    assert_type(doc, Document)
    assert_type(doc.id, UUID)
    assert_type(await kb.get(str(org_id), str(doc.id)), Document)
    doc = await kb.update(org_id, doc.id, content="Pro: $89", expected_version=doc.version)
    assert_type(await kb.delete(org_id, doc.id, actor=None), Document)
    assert_type(await kb.restore(org_id, doc.id, version=1), Document)
    history = await kb.history(org_id, doc.id)
    assert_type(history, list[Change])
    page = await kb.list(org_id, category=None, include_inactive=True, limit=50)
    assert_type(page, Page[Document])
    assert_type(page.items, Sequence[Document])
    assert_type(page.next_cursor, str | None)
    summaries = await kb.list_summaries(org_id, cursor=page.next_cursor)
    assert_type(summaries, Page[DocumentSummary])
    assert_type(await kb.search(org_id, "pricing", limit=5), list[SearchHit])
    report = await kb.import_documents(org_id, [DocumentDraft(filename="a.md", content="x")])
    assert_type(report, ImportReport)
    assert_type(report.ok, bool)
    async for exported in kb.export(org_id, include_inactive=True):
        assert_type(exported, Document)
    await kb.create(org_id, filename=b"a.md", content="x")  # type: ignore[arg-type]
    await kb.update(org_id, doc.id, active="yes")  # type: ignore[arg-type]


def rules_and_errors() -> None:
    rules = Rules(categories={"faq", "legal"}, default_category="faq")
    assert_type(rules.filename(" a.md "), str)
    KnowledgeBase(MemoryStore(), rules=rules)
    try:
        rules.content("")
    except ValidationError as error:
        assert_type(error.field, str)
        assert_type(error.message, str)


def stores(pool: asyncpg.Pool, org_id: UUID) -> None:
    memory = MemoryStore()
    assert_type(memory.add_agent(org_id, role="inbound", vapi_assistant_id="asst-1"), Assistant)
    memory.set_vapi_key(org_id, "sk-test")
    memory.advance_clock(timedelta(minutes=5))
    # Both stores satisfy every port: a KnowledgeBase's, a SyncCoordinator's, the report's.
    for store in (memory, PostgresStore(pool)):
        documents: Documents = store
        sync_state: SyncState = store
        everything: Store = store
        KnowledgeBase(documents)
        SyncCoordinator(sync_state)
        KnowledgeBase(everything)


async def sync(store: Store, http_client: httpx.AsyncClient, org_id: UUID) -> None:
    coordinator = SyncCoordinator(
        store,
        vapi_base_url="https://api.vapi.ai",
        http_client=http_client,
        policy=SyncPolicy(min_interval=timedelta(minutes=1), max_concurrency=4),
    )
    try:
        result = await coordinator.sync(org_id, tool_name="knowledge-search", roles=("inbound",))
    except RateLimited as refused:
        assert_type(refused.retry_after, float)
        return
    except SyncFailed as failure:
        assert_type(failure.reason, str)
        assert_type(failure.provider_message, str | None)
        return
    assert_type(result, SyncResult)
    assert_type(result.tool_id, str)
    assert_type(result.files_uploaded, int)
    SyncPolicy(min_interval=300)  # type: ignore[arg-type]
    preview = await coordinator.plan(org_id, tool_name="knowledge-search", roles=("inbound",))
    assert_type(preview, SyncPreview)
    assert_type(preview.tool.tool_id, str | None)
    assert_type(preview.nothing_to_do, bool)
    assert_type(preview.uploads[0].version, int)
    await coordinator.plan(org_id, actor="ops")  # type: ignore[call-arg]


async def setup_and_progress(store: Store, http_client: httpx.AsyncClient, org_id: UUID) -> None:
    setup = SyncSetup(store, http_client=http_client, vapi_timeout=5.0)
    assert_type(await setup.add_agent(org_id, role="inbound", vapi_assistant_id="a"), Assistant)
    assert_type(await setup.agents(org_id), list[Assistant])
    assert_type(await setup.remove_agent(org_id, org_id), Assistant)
    await setup.set_vapi_key(org_id, "sk-test")
    check = await setup.check_vapi_key(org_id)
    assert_type(check, VapiKeyCheck)
    assert_type(check.assistants, tuple[VapiAssistant, ...])
    await setup.add_agent(org_id, "inbound")  # type: ignore[call-arg]

    seen: list[Progress] = []
    await SyncCoordinator(store).sync(org_id, on_progress=seen.append)
    kb = KnowledgeBase(store)
    await kb.import_documents(org_id, [], on_progress=seen.append)
    async for exported in kb.export(org_id, on_progress=seen.append):
        assert_type(exported, Document)
    assert_type(seen[0].fraction, float)
    try:
        await kb.create(org_id, filename="a.md", content="x")
    except DuplicateFilename as clash:
        assert_type(clash.filename, str)
    except HostTableError as refused:
        assert_type(refused.table, str)


async def vapi(fake: FakeVapi, assistant_id: str) -> None:
    async with (
        fake.http_client() as http_client,
        VapiClient(fake.api_key, http_client=http_client, timeout=10.0) as client,
    ):
        try:
            file = await client.upload_file("pricing.md", "Pro: $99/month")
        except VapiError as error:
            assert_type(error.status_code, int | None)
            return
        assert_type(file, VapiFile)
        group = KnowledgeBaseGroup.for_category("products_services", [file.id])
        tool = await client.create_query_tool([group])
        assert_type(tool, QueryTool)
        assert_type(tool.latest_version, str | None)
        await client.create_query_tool("knowledge-search", [group])  # type: ignore[call-arg,arg-type]
        assert_type(await client.get_assistant(assistant_id), VapiAssistant)
        assert_type(await client.list_assistants(limit=10), tuple[VapiAssistant, ...])
        assert_type(await client.delete_file(file.id), bool)
        await client.upload_file(b"name", "x")  # type: ignore[arg-type]


def testing_kit() -> None:
    assert_type(strategies.org_ids(), SearchStrategy[UUID])
    assert_type(strategies.filenames(), SearchStrategy[str])
    assert_type(strategies.contents(max_bytes=1000), SearchStrategy[str])
    assert_type(strategies.new_documents(), SearchStrategy[DocumentDraft])
    assert_type(strategies.invalid_filenames(), SearchStrategy[object])
    assert_type(kbcore.testing.MemoryStore, type[MemoryStore])
