"""Live knowledge: kbcore answers Vapi's knowledge-base requests straight from its passages.

An assistant whose ``model.knowledgeBase`` is a ``custom-knowledge-base`` asks a server
for knowledge on every user turn. ``LiveKnowledgeServer`` is that server, an ASGI app
over any kbcore store: an edit is live on the caller's next sentence, with no upload and
no sync. ``attach_live_knowledge`` points an org's assistants at it.
"""

from kbcore.live._attach import (
    DEFAULT_TIMEOUT_SECONDS,
    SECRET_HEADER,
    LiveKnowledgeLinks,
    attach_live_knowledge,
    detach_live_knowledge,
    org_url,
)
from kbcore.live._auth import DEFAULT_CREDENTIALS, BearerToken, HmacSignature
from kbcore.live._secret import MIN_SECRET_LENGTH, ServerSecret
from kbcore.live._server import DEFAULT_DEADLINE, DEFAULT_MAX_BODY_BYTES, LiveKnowledgeServer

__all__ = [
    "DEFAULT_CREDENTIALS",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TIMEOUT_SECONDS",
    "MIN_SECRET_LENGTH",
    "SECRET_HEADER",
    "BearerToken",
    "HmacSignature",
    "LiveKnowledgeLinks",
    "LiveKnowledgeServer",
    "ServerSecret",
    "attach_live_knowledge",
    "detach_live_knowledge",
    "org_url",
]
