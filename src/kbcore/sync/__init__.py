"""Syncing an org's knowledge base to its Vapi assistants."""

from __future__ import annotations

from kbcore.sync.coordinator import SyncCoordinator
from kbcore.sync.policy import SyncPolicy
from kbcore.sync.prompt import DEFAULT_INSTRUCTION, INSTRUCTION_MARKER
from kbcore.sync.result import PinnedTool, SyncResult

__all__ = [
    "DEFAULT_INSTRUCTION",
    "INSTRUCTION_MARKER",
    "PinnedTool",
    "SyncCoordinator",
    "SyncPolicy",
    "SyncResult",
]
