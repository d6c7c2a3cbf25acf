"""A faithful, stateful fake of the Vapi API subset a knowledge-base sync uses."""

from __future__ import annotations

from kbcore.testing.fake_vapi.app import INVALID_KEY_MESSAGE, FakeVapi
from kbcore.testing.fake_vapi.faults import Pause
from kbcore.testing.fake_vapi.http import ConnectionDropped, RecordedRequest
from kbcore.testing.fake_vapi.server import serve_fake_vapi
from kbcore.testing.fake_vapi.state import FakeFile

__all__ = [
    "INVALID_KEY_MESSAGE",
    "ConnectionDropped",
    "FakeFile",
    "FakeVapi",
    "Pause",
    "RecordedRequest",
    "serve_fake_vapi",
]
