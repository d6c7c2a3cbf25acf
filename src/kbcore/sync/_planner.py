"""The incremental plan: which documents to upload, which files to keep, which to delete.

Pure functions over values, so the rules of an incremental sync can be tested
(and property-tested) without a database or a network.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from uuid import UUID

import attrs

from kbcore._domain import LedgerFile, SyncDocument

#: Vapi's file states that a query tool can still use.
USABLE_STATUSES = frozenset({"processing", "done"})


@attrs.frozen
class SyncPlan:
    """What a sync does before it touches the query tool.

    ``reuse`` maps documents to files already on Vapi with their current bytes;
    ``uploads`` are the documents that need a new file; ``lost`` are files
    Vapi no longer has (forget them, nothing to delete); ``superseded`` are
    files to delete once the tool no longer lists them; ``failed`` are the
    documents whose file Vapi could not process (uploaded again).
    """

    uploads: tuple[SyncDocument, ...]
    reuse: Mapping[UUID, str]
    lost: frozenset[str]
    superseded: frozenset[str]
    failed: tuple[SyncDocument, ...] = ()


def plan_sync(
    documents: Sequence[SyncDocument],
    ledger: Sequence[LedgerFile],
    remote_status: Mapping[str, str] | None = None,
    strays: Collection[str] = (),
) -> SyncPlan:
    """Compare the active documents with what the ledger says Vapi holds.

    ``remote_status`` is Vapi's own listing (file id to status). When given,
    files missing from it are lost and files whose processing failed are
    superseded, so their documents are uploaded again. ``strays`` are files
    kbcore uploaded but never recorded (an upload whose answer was lost);
    they are superseded too.
    """
    lost: set[str] = set()
    failed: set[tuple[UUID, str]] = set()
    usable: dict[tuple[UUID, str], str] = {}
    for entry in sorted(ledger, key=lambda entry: entry.file_id):
        status = None if remote_status is None else remote_status.get(entry.file_id)
        if remote_status is not None and status is None:
            lost.add(entry.file_id)
        elif status is None or status in USABLE_STATUSES:
            usable.setdefault((entry.document_id, entry.content_sha256), entry.file_id)
        else:
            failed.add((entry.document_id, entry.content_sha256))

    reuse: dict[UUID, str] = {}
    uploads: list[SyncDocument] = []
    for document in documents:
        file_id = usable.get((document.id, document.content_sha256))
        if file_id is None:
            uploads.append(document)
        else:
            reuse[document.id] = file_id

    kept = set(reuse.values())
    superseded = ({entry.file_id for entry in ledger} | set(strays)) - kept - lost
    return SyncPlan(
        uploads=tuple(uploads),
        reuse=reuse,
        lost=frozenset(lost),
        superseded=frozenset(superseded),
        failed=tuple(d for d in uploads if (d.id, d.content_sha256) in failed),
    )


def files_by_category(
    documents: Sequence[SyncDocument], file_for_document: Mapping[UUID, str]
) -> dict[str, list[str]]:
    """The file ids of each category: one knowledge base of the query tool each."""
    files: defaultdict[str, list[str]] = defaultdict(list)
    for document in documents:
        files[document.category].append(file_for_document[document.id])
    return dict(files)


def deletable(superseded: Collection[str], still_listed: Collection[str]) -> frozenset[str]:
    """Superseded files that no live tool lists: the only files a sync may delete."""
    return frozenset(superseded) - frozenset(still_listed)
