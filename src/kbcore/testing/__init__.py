"""Helpers for testing kbcore and the code that embeds it.

- ``FakeVapi`` stands in for Vapi, in process (``fake.http_client()``) or served on
  loopback (``serve_fake_vapi``).
- ``MemoryStore`` (``kbcore.memory.MemoryStore``, here with the rest of the kit) is kbcore's
  storage in memory, for tests that need no database.
- ``strategies`` holds hypothesis strategies for kbcore's inputs, valid, invalid and hostile.
- ``kbcore.testing.pytest_plugin`` has fixtures for a throwaway PostgreSQL database, a
  store, a ``KnowledgeBase``, a ``FakeVapi`` and a ``SyncCoordinator``; opt in with
  ``pytest_plugins = ["kbcore.testing.pytest_plugin"]``.
- ``kbcore.testing.database`` creates and drops throwaway databases.

``strategies`` needs hypothesis and the plugin needs pytest; neither is imported until used.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from kbcore.memory import MemoryStore
from kbcore.testing.fake_vapi import FakeVapi, serve_fake_vapi

__all__: list[str] = ["FakeVapi", "MemoryStore", "serve_fake_vapi", "strategies"]


def __getattr__(name: str) -> ModuleType:
    # Lazy, so that FakeVapi and MemoryStore work where hypothesis is not installed.
    if name == "strategies":
        return importlib.import_module("kbcore.testing.strategies")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
