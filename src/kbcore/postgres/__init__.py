"""kbcore on PostgreSQL: ``PostgresStore`` on an asyncpg pool, and ``migrate`` for its schema."""

from __future__ import annotations

from kbcore.postgres._migrate import migrate
from kbcore.postgres._store import PostgresStore

__all__ = ["PostgresStore", "migrate"]
