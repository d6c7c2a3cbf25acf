"""Syncing an org's knowledge base to its Vapi assistants."""

from __future__ import annotations

from kbcore.sync._backoff import Backoff
from kbcore.sync._coordinator import SyncCoordinator
from kbcore.sync._policy import SyncPolicy
from kbcore.sync._preview import (
    PlannedAssistant,
    PlannedTool,
    PlannedUpload,
    ReusedFile,
    SyncPreview,
)
from kbcore.sync._prompt import DEFAULT_INSTRUCTION, INSTRUCTION_MARKER
from kbcore.sync._result import PinnedTool, SyncResult
from kbcore.sync._setup import SyncSetup, VapiKeyCheck
from kbcore.sync._worker import SyncWorker

__all__ = [
    "DEFAULT_INSTRUCTION",
    "INSTRUCTION_MARKER",
    "Backoff",
    "PinnedTool",
    "PlannedAssistant",
    "PlannedTool",
    "PlannedUpload",
    "ReusedFile",
    "SyncCoordinator",
    "SyncPolicy",
    "SyncPreview",
    "SyncResult",
    "SyncSetup",
    "SyncWorker",
    "VapiKeyCheck",
]
