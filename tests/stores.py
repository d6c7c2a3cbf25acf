"""The stores that every store-agnostic test runs on, named once for the whole suite."""

from __future__ import annotations

import pytest

#: Each store in turn: memory first, then PostgreSQL (a ``database`` test).
EACH_STORE = [
    pytest.param("memory", id="memory"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.database),
]

#: For a test of the PostgreSQL store alone that uses the plugin's fixtures built on it.
ON_POSTGRES = pytest.mark.parametrize("kbcore_store", ["postgres"], indirect=True)
