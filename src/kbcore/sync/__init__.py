"""Syncing an org's knowledge base to its Vapi assistants."""

from __future__ import annotations

from kbcore.sync._coordinator import SyncCoordinator
from kbcore.sync._policy import SyncPolicy
from kbcore.sync._result import SyncResult

__all__ = ["SyncCoordinator", "SyncPolicy", "SyncResult"]
