"""A multi-tenant knowledge base for Vapi voice agents."""

from __future__ import annotations

import importlib
import importlib.util
import typing

if typing.TYPE_CHECKING:
    __version__: str

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

# The public names, by the module that defines them. They are imported on first use
# (PEP 562), not with the package: all of them together take about a second to import
# (httpx, asyncpg, structlog, stamina), and a command such as `kbcore docs list` or a
# host that only stores documents needs a part of them.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "kbcore._auto_sync": ("AutoSync",),
    "kbcore._domain": (
        "Assistant",
        "Change",
        "ChangeType",
        "Document",
        "DocumentDraft",
        "DocumentSummary",
        "ImportProblem",
        "ImportReport",
        "Page",
        "SearchHit",
        "SyncStatus",
    ),
    "kbcore._progress": ("Progress",),
    "kbcore.documents": (
        "ImportInterrupted",
        "KnowledgeBase",
        "Rules",
    ),
    "kbcore.errors": (
        "DuplicateFilename",
        "HostTableError",
        "KbError",
        "NotFound",
        "NotSaved",
        "OutcomeUnknown",
        "RateLimited",
        "StoreUnavailable",
        "SyncFailed",
        "SyncInProgress",
        "ValidationError",
        "VapiError",
        "VersionConflict",
    ),
    "kbcore.sync": (
        "Backoff",
        "SyncCoordinator",
        "SyncPolicy",
        "SyncPreview",
        "SyncResult",
        "SyncSetup",
        "SyncWorker",
    ),
    "kbcore.vapi": ("VapiClient",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

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


if not typing.TYPE_CHECKING:  # type checkers see the imports above, and flag a misspelling

    def __getattr__(name: str) -> typing.Any:
        if name == "__version__":
            from importlib.metadata import version

            return version("kbcore")
        module = _MODULE_OF.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
        elif importlib.util.find_spec(f"{__name__}.{name}") is not None:
            # `kbcore.errors`, `kbcore.sync`, ...: the package imported them all, once.
            value = importlib.import_module(f"{__name__}.{name}")
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value  # the next lookup finds it without this function
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
