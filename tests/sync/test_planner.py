"""The incremental planner: pure decisions about uploads, reuse and deletions."""

from __future__ import annotations

import hashlib
import uuid
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from kbcore._domain import LedgerFile, SyncDocument
from kbcore.sync._planner import deletable, files_by_category, plan_sync


def document(content: str, category: str = "general", doc_id: UUID | None = None) -> SyncDocument:
    return SyncDocument(
        id=doc_id or uuid.uuid4(),
        filename="a.md",
        category=category,
        content_sha256=hashlib.sha256(content.encode()).hexdigest(),
        version=1,
    )


def uploaded(doc: SyncDocument, file_id: str) -> LedgerFile:
    return LedgerFile(file_id=file_id, document_id=doc.id, content_sha256=doc.content_sha256)


def test_first_sync_uploads_everything() -> None:
    """With an empty ledger every document is uploaded and nothing is deleted."""
    docs = [document("a"), document("b")]
    plan = plan_sync(docs, [])
    assert plan.uploads == tuple(docs)
    assert (dict(plan.reuse), plan.superseded, plan.lost) == ({}, frozenset(), frozenset())


def test_unchanged_documents_reuse_their_files() -> None:
    """A document whose bytes match its ledger entry keeps its file."""
    doc = document("a")
    plan = plan_sync([doc], [uploaded(doc, "f1")])
    assert plan.uploads == ()
    assert dict(plan.reuse) == {doc.id: "f1"}


def test_changed_document_uploads_and_supersedes_its_old_file() -> None:
    """New bytes mean a new upload, and the old file is superseded."""
    old = document("old")
    new = document("new", doc_id=old.id)
    plan = plan_sync([new], [uploaded(old, "f-old")])
    assert plan.uploads == (new,)
    assert plan.superseded == {"f-old"}


def test_files_of_inactive_documents_are_superseded() -> None:
    """A document that left the active set gives up its file."""
    gone = document("gone")
    plan = plan_sync([], [uploaded(gone, "f1")])
    assert plan.superseded == {"f1"}


def test_files_vapi_lost_are_forgotten_and_uploaded_again() -> None:
    """A ledger file absent from Vapi's listing is lost: re-upload, delete nothing."""
    doc = document("a")
    plan = plan_sync([doc], [uploaded(doc, "f1")], remote_status={})
    assert plan.uploads == (doc,)
    assert plan.lost == {"f1"}
    assert plan.superseded == frozenset()


def test_files_that_failed_processing_are_replaced() -> None:
    """A file Vapi marked failed is superseded and its document uploaded again."""
    doc = document("a")
    plan = plan_sync([doc], [uploaded(doc, "f1")], remote_status={"f1": "failed"})
    assert plan.uploads == (doc,)
    assert plan.superseded == {"f1"}


def test_duplicate_uploads_keep_one_file() -> None:
    """Two ledger files for the same bytes (a retried upload) keep one, supersede the other."""
    doc = document("a")
    plan = plan_sync([doc], [uploaded(doc, "f2"), uploaded(doc, "f1")])
    assert dict(plan.reuse) == {doc.id: "f1"}
    assert plan.superseded == {"f2"}


def test_files_are_grouped_by_category() -> None:
    """Each category lists the files of its documents."""
    a, b, c = document("a", "operations"), document("b", "general"), document("c", "general")
    groups = files_by_category([a, b, c], {a.id: "f3", b.id: "f2", c.id: "f1"})
    assert {category: sorted(ids) for category, ids in groups.items()} == {
        "general": ["f1", "f2"],
        "operations": ["f3"],
    }


def test_files_a_live_tool_lists_are_never_deletable() -> None:
    """Deletion excludes every file that a live tool still lists."""
    assert deletable({"f1", "f2"}, ["f2", "f3"]) == {"f1"}


CONTENTS = st.sampled_from(["a", "b", "c", "d"])


@given(
    current=st.lists(CONTENTS, max_size=6),
    previous=st.lists(st.one_of(st.none(), CONTENTS), max_size=6),
    lost=st.sets(st.integers(0, 5)),
)
def test_plan_accounts_for_every_document_and_file(
    current: list[str], previous: list[str | None], lost: set[int]
) -> None:
    """Every document is uploaded or reused; every ledger file is kept, lost or superseded."""
    ids = [uuid.uuid4() for _ in range(6)]
    docs = [document(text, doc_id=ids[i]) for i, text in enumerate(current)]
    ledger = [
        uploaded(document(text, doc_id=ids[i]), f"f{i}")
        for i, text in enumerate(previous)
        if text is not None
    ]
    remote = {entry.file_id: "done" for i, entry in enumerate(ledger) if i not in lost}
    plan = plan_sync(docs, ledger, remote_status=remote)

    assert {d.id for d in plan.uploads} | set(plan.reuse) == {d.id for d in docs}
    assert not {d.id for d in plan.uploads} & set(plan.reuse)
    kept = set(plan.reuse.values())
    all_files = {entry.file_id for entry in ledger}
    assert kept | plan.lost | plan.superseded == all_files
    assert not (kept & plan.superseded)
    assert not (kept & plan.lost)
    assert not (plan.lost & plan.superseded)
    for doc in docs:
        if doc.id in plan.reuse:
            [entry] = [e for e in ledger if e.file_id == plan.reuse[doc.id]]
            assert (entry.document_id, entry.content_sha256) == (doc.id, doc.content_sha256)


def test_stray_uploads_are_superseded() -> None:
    """A file kbcore uploaded but never recorded is deleted like a superseded one."""
    doc = document("a")
    plan = plan_sync([doc], [uploaded(doc, "f1")], {"f1": "done", "f9": "done"}, strays={"f9"})
    assert dict(plan.reuse) == {doc.id: "f1"}
    assert plan.superseded == {"f9"}
