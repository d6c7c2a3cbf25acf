"""One claimed sync, step by step: load, plan, upload, point the tool, attach, clean up.

The order is what keeps Vapi and the database consistent when a step fails:
uploads are recorded as they land; the tool is only repointed once every
upload succeeded; superseded files are only deleted once the tool and every
assistant point at their replacements.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Sequence
from typing import TypeVar
from uuid import UUID

import anyio
import attrs

from kbcore._domain import Assistant, LedgerFile, LedgerTool, Secret, SyncDocument, SyncOutcome
from kbcore._ports import SyncState
from kbcore.errors import KbError, SyncFailed, VapiError
from kbcore.logging import get_logger
from kbcore.sync._parallel import for_each
from kbcore.sync._planner import SyncPlan, deletable, files_by_category, plan_sync
from kbcore.vapi import (
    KnowledgeBaseGroup,
    QueryTool,
    VapiAuthenticationError,
    VapiClient,
    VapiConflict,
    VapiFile,
    VapiNotFound,
    VapiUnavailable,
)

T = TypeVar("T")

log = get_logger()

#: Where a sync's Vapi key comes from, as messages name it.
KEY_IN_INTEGRATION = "the org's Vapi integration"
KEY_IN_ENVIRONMENT = "VAPI_API_KEY"


@attrs.frozen
class SyncInputs:
    """Everything a sync reads from the database before its first Vapi call."""

    api_key: Secret
    documents: Sequence[SyncDocument]
    assistant_ids: Sequence[str]
    ledger: Sequence[LedgerFile]
    tools: Sequence[LedgerTool]
    key_source: str = KEY_IN_INTEGRATION


async def load_inputs(
    store: SyncState, org_id: UUID, tool_name: str, roles: Sequence[str]
) -> SyncInputs:
    """Read the key, documents, agents and ledger; fail early with what to fix."""
    api_key, key_source = await vapi_key(store, org_id)
    documents = await store.sync_documents(org_id)
    agents = await store.assistants(org_id, roles)
    ledger = await store.ledger_files(org_id, tool_name)
    tools = await store.ledger_tools(org_id)
    if api_key is None:
        raise SyncFailed(
            "No Vapi API key is configured; add the org's Vapi integration or set VAPI_API_KEY"
        )
    if not documents:
        raise SyncFailed("No active documents to sync; add a document first")
    if not agents:
        raise SyncFailed(f"No agents with role {' or '.join(roles)}; create the org's agents first")
    assistant_ids = _assistant_ids(agents)
    if not assistant_ids:
        raise SyncFailed("No agents have a Vapi assistant id; save the agent configuration first")
    return SyncInputs(api_key, documents, assistant_ids, ledger, tools, key_source)


async def vapi_key(store: SyncState, org_id: UUID) -> tuple[Secret | None, str]:
    """The org's Vapi key and where it comes from: its integration, else ``VAPI_API_KEY``."""
    stored = await store.vapi_key(org_id)
    if stored:
        return stored, KEY_IN_INTEGRATION
    value = os.environ.get("VAPI_API_KEY", "").strip()
    return (Secret(value) if value else None), KEY_IN_ENVIRONMENT


def _assistant_ids(agents: Sequence[Assistant]) -> list[str]:
    ids = (agent.vapi_assistant_id for agent in agents if agent.vapi_assistant_id)
    return list(dict.fromkeys(ids))


@attrs.define
class SyncRunner:
    """Carries one sync from a plan to its outcome."""

    _store: SyncState
    _client: VapiClient
    _org_id: UUID
    _tool_name: str
    _limiter: anyio.CapacityLimiter
    _reconcile: bool
    _key_source: str = KEY_IN_INTEGRATION

    async def run(self, inputs: SyncInputs) -> SyncOutcome:
        plan = await self._plan(inputs)
        uploaded = await self._upload(plan.uploads)
        file_for_document = {**plan.reuse, **uploaded}
        groups = files_by_category(inputs.documents, file_for_document)
        tool = await self._point_tool(inputs.tools, groups)
        stale_tools = [t.tool_id for t in await self._tools() if not t.current]
        changed = await self._attach(inputs.assistant_ids, tool.id, stale_tools)
        deleted = await self._delete_files(deletable(plan.superseded, tool.file_ids))
        await self._retire_tools(stale_tools)
        return SyncOutcome(
            succeeded=True,
            tool_id=tool.id,
            docs_synced=len(inputs.documents),
            assistants_updated=changed,
            files_uploaded=len(uploaded),
            files_reused=len(plan.reuse),
            files_deleted=deleted,
        )

    async def _plan(self, inputs: SyncInputs) -> SyncPlan:
        remote = None
        strays: set[str] = set()
        if self._reconcile:
            files = await self._vapi_step("list the org's files", self._client.list_files())
            remote = {file.id: file.status or "done" for file in files}
            recorded = {entry.file_id for entry in inputs.ledger}
            strays = {f.id for f in files if self._uploaded_by_us(f) and f.id not in recorded}
        plan = plan_sync(inputs.documents, inputs.ledger, remote, strays)
        if plan.lost:
            log.warning("kbcore.sync.files_lost", org_id=str(self._org_id), lost=len(plan.lost))
            await self._store.forget_files(self._org_id, self._tool_name, sorted(plan.lost))
        return plan

    def _file_metadata(self, document_id: UUID) -> dict[str, str]:
        """Marks an upload as this org's, so a file whose answer was lost can be found again."""
        return {
            "source": "kbcore",
            "orgId": str(self._org_id),
            "toolName": self._tool_name,
            "documentId": str(document_id),
        }

    def _uploaded_by_us(self, file: VapiFile) -> bool:
        metadata = file.metadata or {}
        return all(
            metadata.get(key) == value
            for key, value in self._file_metadata(UUID(int=0)).items()
            if key != "documentId"
        )

    async def _upload(self, documents: Sequence[SyncDocument]) -> dict[UUID, str]:
        """Upload in parallel, recording each file as it lands; fail if any did not."""
        if not documents:
            return {}
        contents = await self._store.contents(self._org_id, [d.id for d in documents])

        async def upload(document: SyncDocument) -> str:
            body = contents[document.id].encode("utf-8")
            # The slot bounds calls to Vapi; recording the file below needs none.
            async with self._limiter:
                file = await self._client.upload_file(
                    document.filename,
                    body,
                    metadata=self._file_metadata(document.id),
                )
            entry = LedgerFile(file.id, document.id, hashlib.sha256(body).hexdigest())
            await self._store.add_file(self._org_id, self._tool_name, entry)
            return file.id

        present = [d for d in documents if d.id in contents]
        outcomes = await for_each(present, upload)
        if outcomes.failed or len(present) < len(documents):
            raise self._failure(
                f"Could not upload {len(documents) - len(outcomes.succeeded)} of "
                f"{len(documents)} documents to Vapi; the next sync retries them",
                [error for _, error in outcomes.failed],
            )
        return {document.id: file_id for document, file_id in outcomes.succeeded}

    async def _point_tool(
        self, known: Sequence[LedgerTool], groups: dict[str, list[str]]
    ) -> QueryTool:
        """Update the org's query tool in place, or create it when there is none (any more)."""
        # Sorted categories and file ids: an unchanged tool compares equal, so no PATCH.
        wanted = tuple(
            KnowledgeBaseGroup.for_category(category, file_ids)
            for category, file_ids in sorted(groups.items())
        )
        current = next((t for t in known if t.current and t.tool_name == self._tool_name), None)
        if current is not None:
            try:
                live = await self._client.get_query_tool(current.tool_id)
                if live.knowledge_bases == wanted:
                    return live
                return await self._client.update_query_tool(
                    current.tool_id, name=self._tool_name, knowledge_bases=wanted
                )
            except VapiNotFound:
                log.warning(
                    "kbcore.sync.tool_missing",
                    org_id=str(self._org_id),
                    tool_id=current.tool_id,
                )
            except VapiError as error:
                raise self._failure(
                    "Could not update the knowledge-base tool on Vapi", [error]
                ) from error
        tool = await self._vapi_step(
            "create the knowledge-base tool",
            self._client.create_query_tool(self._tool_name, wanted),
        )
        await self._store.set_current_tool(self._org_id, self._tool_name, tool.id)
        await self._delete_stray_tools(tool, known)
        return tool

    async def _delete_stray_tools(self, created: QueryTool, known: Sequence[LedgerTool]) -> None:
        """Delete copies of the tool that kbcore made but never recorded.

        A create whose answer was lost (and retried), or a process that died
        between creating the tool and recording it, leaves a tool nobody uses.
        Such a copy has this tool's name and lists files that only this org's
        tool would list; tools kbcore knows are left to ``_retire_tools``.
        """
        try:
            tools = await self._client.list_query_tools()
        except VapiError as error:
            log.warning("kbcore.sync.tool_list_failed", org_id=str(self._org_id), error=str(error))
            return
        ours = set(created.file_ids)
        recorded = {tool.tool_id for tool in known} | {created.id}
        strays = [
            tool.id
            for tool in tools
            if tool.id not in recorded
            and tool.name == self._tool_name
            and ours.intersection(tool.file_ids)
        ]
        await self._retire_tools(strays)

    async def _tools(self) -> Sequence[LedgerTool]:
        return await self._store.ledger_tools(self._org_id)

    async def _attach(
        self, assistant_ids: Sequence[str], tool_id: str, stale: Sequence[str]
    ) -> int:
        """Attach the tool to every assistant and detach kbcore's stale tools; count changes."""

        async def attach(assistant_id: str) -> bool:
            async with self._limiter:
                update = await self._client.update_assistant_tools(
                    assistant_id, attach=[tool_id], detach=stale
                )
            return update.changed

        outcomes = await for_each(assistant_ids, attach)
        if outcomes.failed:
            names = ", ".join(sorted(assistant_id for assistant_id, _ in outcomes.failed))
            raise self._failure(
                f"Could not update {len(outcomes.failed)} of {len(assistant_ids)} Vapi "
                f"assistants ({names}); check that they exist and have a model",
                [error for _, error in outcomes.failed],
            )
        return sum(1 for _, changed in outcomes.succeeded if changed)

    async def _delete_files(self, file_ids: frozenset[str]) -> int:
        """Delete superseded files; a failure leaves the file in the ledger for next time."""

        async def delete(file_id: str) -> bool:
            async with self._limiter:
                return await self._client.delete_file(file_id)

        outcomes = await for_each(sorted(file_ids), delete)
        for file_id, error in outcomes.failed:
            log.warning(
                "kbcore.sync.delete_failed",
                org_id=str(self._org_id),
                file_id=file_id,
                error=str(error),
            )
        gone = [file_id for file_id, _ in outcomes.succeeded]
        if gone:
            await self._store.forget_files(self._org_id, self._tool_name, gone)
        return len(gone)

    async def _retire_tools(self, tool_ids: Sequence[str]) -> None:
        """Delete kbcore's earlier tools, now detached; a pinned tool is kept for later."""
        for tool_id in tool_ids:
            try:
                await self._client.delete_tool(tool_id)
            except VapiConflict as error:
                log.info(
                    "kbcore.sync.tool_kept",
                    org_id=str(self._org_id),
                    tool_id=tool_id,
                    reason=error.error,
                )
                continue
            except VapiError as error:
                log.warning(
                    "kbcore.sync.tool_delete_failed",
                    org_id=str(self._org_id),
                    tool_id=tool_id,
                    error=str(error),
                )
                continue
            await self._store.forget_tool(self._org_id, tool_id)

    async def _vapi_step(self, what: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except VapiError as error:
            raise self._failure(f"Could not {what} on Vapi", [error]) from error

    def _failure(self, reason: str, errors: Sequence[KbError]) -> SyncFailed:
        """A SyncFailed whose reason speaks to the user; Vapi's own words go to provider_message.

        When Vapi gave no answer at all, the reason says why (refused, DNS, timeout, TLS).
        """
        vapi_errors = [error for error in errors if isinstance(error, VapiError)]
        if any(isinstance(error, VapiAuthenticationError) for error in vapi_errors):
            reason = f"Vapi rejected the API key; check {self._key_source}"
        elif vapi_errors and all(_unanswered(error) for error in vapi_errors):
            reason = f"{reason}: {vapi_errors[0]}"
        details = [f"{e.status_code or '-'}: {e.vapi_message or e}" for e in vapi_errors]
        return SyncFailed(reason, provider_message="; ".join(details[:5]) or None)


def _unanswered(error: VapiError) -> bool:
    """No answer came: no connection, a timeout, a dropped connection (not a 408)."""
    return isinstance(error, VapiUnavailable) and error.status_code is None
