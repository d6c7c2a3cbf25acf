"""Helpers for testing kbcore and the code that embeds it.

``kbcore.testing.database`` provides throwaway PostgreSQL databases;
``FakeVapi`` stands in for Vapi, in process or served on loopback.
"""

from __future__ import annotations

from kbcore.testing.fake_vapi import FakeVapi, serve_fake_vapi

__all__: list[str] = ["FakeVapi", "serve_fake_vapi"]
