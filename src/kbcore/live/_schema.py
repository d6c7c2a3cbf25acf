"""The SQL that creates the live-knowledge tables, until it becomes a numbered migration."""

from __future__ import annotations

from importlib.resources import files


def passages_schema() -> str:
    """``passages_schema.sql``: idempotent (``IF NOT EXISTS``), needs no extension."""
    return files("kbcore.live").joinpath("passages_schema.sql").read_text(encoding="utf-8")
