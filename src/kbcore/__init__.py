"""A multi-tenant knowledge base for Vapi voice agents."""

from __future__ import annotations

from kbcore._auto_sync import AutoSync
from kbcore._domain import (
    Assistant,
    Change,
    ChangeType,
    Document,
    DocumentDraft,
    DocumentSummary,
    ImportProblem,
    ImportReport,
    Page,
    SearchHit,
    SyncStatus,
)
from kbcore._progress import Progress
from kbcore.documents import ImportInterrupted, KnowledgeBase, Rules
from kbcore.errors import (
    DuplicateFilename,
    HostTableError,
    KbError,
    NotFound,
    NotSaved,
    OutcomeUnknown,
    RateLimited,
    StoreUnavailable,
    SyncFailed,
    SyncInProgress,
    ValidationError,
    VapiError,
    VersionConflict,
)
from kbcore.sync import (
    Backoff,
    SyncCoordinator,
    SyncPolicy,
    SyncPreview,
    SyncResult,
    SyncSetup,
    SyncWorker,
)
from kbcore.vapi import VapiClient

__all__ = [
    "Assistant",
    "AutoSync",
    "Backoff",
    "Change",
    "ChangeType",
    "Document",
    "DocumentDraft",
    "DocumentSummary",
    "DuplicateFilename",
    "HostTableError",
    "ImportInterrupted",
    "ImportProblem",
    "ImportReport",
    "KbError",
    "KnowledgeBase",
    "NotFound",
    "NotSaved",
    "OutcomeUnknown",
    "Page",
    "Progress",
    "RateLimited",
    "Rules",
    "SearchHit",
    "StoreUnavailable",
    "SyncCoordinator",
    "SyncFailed",
    "SyncInProgress",
    "SyncPolicy",
    "SyncPreview",
    "SyncResult",
    "SyncSetup",
    "SyncStatus",
    "SyncWorker",
    "ValidationError",
    "VapiClient",
    "VapiError",
    "VersionConflict",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("kbcore")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
