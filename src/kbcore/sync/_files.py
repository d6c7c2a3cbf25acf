"""The sync's file steps: upload what changed, recording each file as it lands; delete the rest."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from uuid import UUID

from kbcore._domain import LedgerFile, SyncDocument
from kbcore.logging import get_logger
from kbcore.sync._context import SyncContext
from kbcore.sync._failures import failure, vapi_step
from kbcore.sync._parallel import for_each
from kbcore.sync._planner import SyncPlan, plan_sync
from kbcore.vapi import VapiFile

log = get_logger()


def file_metadata(ctx: SyncContext, document_id: UUID) -> dict[str, str]:
    """Marks an upload as this org's, so a file whose answer was lost can be found again."""
    return {
        "source": "kbcore",
        "orgId": str(ctx.org_id),
        "toolName": ctx.tool_name,
        "documentId": str(document_id),
    }


def uploaded_by(ctx: SyncContext, file: VapiFile) -> bool:
    """Whether the file's metadata says this org's syncs uploaded it for this tool name."""
    metadata = file.metadata or {}
    return all(
        metadata.get(key) == value
        for key, value in file_metadata(ctx, UUID(int=0)).items()
        if key != "documentId"
    )


async def plan_files(
    ctx: SyncContext,
    documents: Sequence[SyncDocument],
    ledger: Sequence[LedgerFile],
    *,
    reconcile: bool,
) -> SyncPlan:
    """The plan of uploads, reuses and deletes; ``reconcile`` lists Vapi's files first (a GET).

    Nothing is written: forgetting the files Vapi lost is the caller's to do.
    """
    remote = None
    strays: set[str] = set()
    if reconcile:
        files = await vapi_step(ctx, "list the org's files", ctx.client.list_files())
        remote = {file.id: file.status or "done" for file in files}
        recorded = {entry.file_id for entry in ledger}
        strays = {f.id for f in files if uploaded_by(ctx, f) and f.id not in recorded}
    return plan_sync(documents, ledger, remote, strays)


async def upload_documents(ctx: SyncContext, documents: Sequence[SyncDocument]) -> dict[UUID, str]:
    """Upload in parallel, recording each file as it lands; fail if any did not."""
    tally = ctx.tally("upload", len(documents))
    if not documents:
        return {}
    contents = await ctx.store.contents(ctx.org_id, [d.id for d in documents])

    async def upload(document: SyncDocument) -> str:
        body = contents[document.id].encode("utf-8")
        # The slot bounds calls to Vapi; recording the file below needs none.
        async with ctx.limiter:
            file = await ctx.client.upload_file(
                document.filename, body, metadata=file_metadata(ctx, document.id)
            )
        entry = LedgerFile(file.id, document.id, hashlib.sha256(body).hexdigest())
        await ctx.store.add_file(ctx.org_id, ctx.tool_name, entry)
        tally.advance()
        return file.id

    present = [d for d in documents if d.id in contents]
    outcomes = await for_each(present, upload)
    if outcomes.failed or len(present) < len(documents):
        raise failure(
            ctx,
            f"Could not upload {len(documents) - len(outcomes.succeeded)} of "
            f"{len(documents)} documents to Vapi; the next sync retries them",
            [error for _, error in outcomes.failed],
        )
    return {document.id: file_id for document, file_id in outcomes.succeeded}


async def delete_files(ctx: SyncContext, file_ids: Collection[str]) -> int:
    """Delete superseded files; a failure leaves the file in the ledger for next time."""
    tally = ctx.tally("delete", len(file_ids))

    async def delete(file_id: str) -> bool:
        async with ctx.limiter:
            deleted = await ctx.client.delete_file(file_id)
        tally.advance()
        return deleted

    outcomes = await for_each(sorted(file_ids), delete)
    for file_id, error in outcomes.failed:
        log.warning(
            "kbcore.sync.delete_failed", org_id=str(ctx.org_id), file_id=file_id, error=str(error)
        )
    gone = [file_id for file_id, _ in outcomes.succeeded]
    if gone:
        await ctx.store.forget_files(ctx.org_id, ctx.tool_name, gone)
    return len(gone)
