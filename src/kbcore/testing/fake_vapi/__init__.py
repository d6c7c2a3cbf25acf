"""A faithful, stateful fake of the Vapi API subset a knowledge-base sync uses."""

from __future__ import annotations

from kbcore.testing.fake_vapi._app import INVALID_KEY_MESSAGE, FakeVapi
from kbcore.testing.fake_vapi._caller import KnowledgeAnswer
from kbcore.testing.fake_vapi._faults import Pause
from kbcore.testing.fake_vapi._http import ConnectionDropped, RecordedRequest
from kbcore.testing.fake_vapi._server import serve_fake_vapi
from kbcore.testing.fake_vapi._state import FakeFile

__all__ = [
    "INVALID_KEY_MESSAGE",
    "ConnectionDropped",
    "FakeFile",
    "FakeVapi",
    "KnowledgeAnswer",
    "Pause",
    "RecordedRequest",
    "serve_fake_vapi",
]
