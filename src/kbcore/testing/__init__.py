"""Helpers for testing kbcore and the code that embeds it.

``kbcore.testing.database`` provides throwaway PostgreSQL databases.
"""

from __future__ import annotations

__all__: list[str] = []
