"""kbcore's storage in memory: ``MemoryStore``, for tests and for hosts without a database."""

from kbcore.memory._store import MemoryStore

__all__ = ["MemoryStore"]
