"""kbcore on PostgreSQL: ``PostgresStore`` on an asyncpg pool, and ``migrate`` for its schema."""

from __future__ import annotations

from kbcore.postgres.migrate import migrate
from kbcore.postgres.store import PostgresStore

__all__ = ["PostgresStore", "migrate"]
