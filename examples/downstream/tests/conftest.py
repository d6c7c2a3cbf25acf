"""The sales desk's fixtures: kbcore's, plus a sync policy without the 5-minute window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings

from kbcore import SyncPolicy

pytest_plugins = ["kbcore.testing.pytest_plugin"]

# Property tests share one database per test: each example works in an org of its own.
settings.register_profile(
    "salesdesk",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("salesdesk")


@pytest.fixture
def kbcore_sync_policy() -> SyncPolicy:
    """Syncs may follow each other at once here; production waits 5 minutes."""
    return SyncPolicy(min_interval=timedelta(microseconds=1))
