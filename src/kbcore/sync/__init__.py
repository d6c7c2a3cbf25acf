"""Syncing an org's knowledge base to its Vapi assistants."""

from __future__ import annotations

from kbcore.sync.coordinator import SyncCoordinator
from kbcore.sync.policy import SyncPolicy
from kbcore.sync.result import SyncResult

__all__ = ["SyncCoordinator", "SyncPolicy", "SyncResult"]
