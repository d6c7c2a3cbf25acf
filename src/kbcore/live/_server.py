"""LiveKnowledgeServer: the ASGI app that answers Vapi's knowledge-base requests.

Routes, below wherever the app is mounted:

- ``POST /orgs/{org_id}``: a ``knowledge-base-request`` for that org, answered with
  ``{"documents": [{"content", "similarity", "uuid"}, ...]}``, best first.
- ``GET /healthz``: the process answers. ``GET /readyz``: and so does the database.

A request is authenticated before anything is read for it, with the org's derived
secret; it names an org in its URL, and when Vapi says which assistant calls
(``call.assistantId``) and the host's agents table knows that assistant, it must be
one of the org's. Anything else is a 401, and the org's passages are never read.
A bad body is a 400 or 413 that says what is wrong. Once a request is accepted, every
failure (a database that is down or slower than ``deadline``) is answered
``{"documents": []}``, as Vapi's guide advises, and logged: never a 500, never late.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from uuid import UUID

import anyio
import attrs

from kbcore._domain import RankedPassage
from kbcore._ports import Passages
from kbcore.errors import ValidationError
from kbcore.live._answers import Answers
from kbcore.live._asgi import (
    Disconnected,
    Receive,
    Response,
    Scope,
    Send,
    called_url,
    error,
    headers_of,
    lifespan,
    read_body,
    route_path,
)
from kbcore.live._auth import (
    DEFAULT_CREDENTIALS,
    Credential,
    SeenSignatures,
    SignedRequest,
    authenticate,
)
from kbcore.live._message import BadMessage, KnowledgeRequest, read_message
from kbcore.live._secret import ServerSecret
from kbcore.logging import get_logger
from kbcore.retrieval import DEFAULT_SYNONYMS, Synonyms
from kbcore.retrieval._similarity import SIMILARITY_THRESHOLD

log = get_logger()

#: Seconds an answer may take, from the body read to the answer sent. Vapi waits
#: ``server.timeoutSeconds`` (20 by default) and asks for answers in milliseconds;
#: a second is ample for the database (a p99 of 10-20 ms at 10,000 documents) and
#: costs a caller little when the database stalls.
DEFAULT_DEADLINE = 1.0

#: The largest body read: a knowledge-base request carries the call's whole transcript.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024

_ORG_PATH = re.compile(r"/orgs/(?P<org_id>[0-9a-fA-F-]{32,36})/?")
_UNAUTHORISED = error(401, "Unauthorized", ("www-authenticate", 'Bearer realm="kbcore"'))


def _deadline(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError("deadline", "must be a positive number of seconds")
    return float(value)


def _credentials(value: Sequence[Credential]) -> tuple[Credential, ...]:
    credentials = tuple(value)
    if not credentials:
        raise ValidationError("credentials", "must name at least one way to authenticate")
    return credentials


@attrs.define
class LiveKnowledgeServer:
    """An ASGI app that answers Vapi's knowledge-base requests from a store's passages.

    ``store`` is any kbcore store (``PostgresStore``, ``MemoryStore``); ``secret`` the
    server secret each org's credential derives from (``ServerSecret.for_org``).
    ``credentials`` are the ways a request may prove it comes from Vapi (Bearer token in
    ``Authorization`` or ``X-Vapi-Secret``, Vapi's HMAC signature, by default). Each
    answer has at most ``limit`` passages of at least ``min_similarity``, and comes
    within ``deadline`` seconds. Mount it in any ASGI framework, or run ``kbcore serve``.
    """

    store: Passages
    secret: ServerSecret
    credentials: Sequence[Credential] = attrs.field(
        default=DEFAULT_CREDENTIALS, converter=_credentials, kw_only=True
    )
    limit: int = attrs.field(default=3, kw_only=True)
    min_similarity: float = attrs.field(default=SIMILARITY_THRESHOLD, kw_only=True)
    synonyms: Synonyms = attrs.field(default=DEFAULT_SYNONYMS, kw_only=True)
    deadline: float = attrs.field(default=DEFAULT_DEADLINE, converter=_deadline, kw_only=True)
    max_body_bytes: int = attrs.field(default=DEFAULT_MAX_BODY_BYTES, kw_only=True)
    #: How often each org's word counts are refreshed, in the background.
    count_every: timedelta = attrs.field(default=timedelta(minutes=10), kw_only=True)
    #: Unix time, for HMAC timestamps; a test may stop it.
    clock: Callable[[], float] = attrs.field(default=time.time, kw_only=True, repr=False)
    _answers: Answers = attrs.field(init=False, repr=False)
    _seen: SeenSignatures = attrs.field(factory=SeenSignatures, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.secret, ServerSecret):
            raise ValidationError("secret", "must be a kbcore.live.ServerSecret")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValidationError("limit", "must be a whole number of at least 1")
        self._answers = Answers(
            self.store, self.synonyms, self.limit, self.min_similarity, self.count_every
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            response = await self._respond(scope, receive)
        except Disconnected:
            return
        await response.send(send)

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        path, method = route_path(scope), scope["method"]
        if path in ("/healthz", "/readyz"):
            if method not in ("GET", "HEAD"):
                return error(405, "Use GET", ("allow", "GET, HEAD"))
            return await self._ready() if path == "/readyz" else Response(200, {"status": "ok"})
        match = _ORG_PATH.fullmatch(path)
        org_id = _uuid(match["org_id"]) if match else None
        if org_id is None:
            return error(404, "Not found: knowledge-base requests go to /orgs/{org_id}")
        if method != "POST":
            return error(405, "Use POST", ("allow", "POST"))
        return await self._org_request(org_id, scope, receive)

    async def _org_request(self, org_id: UUID, scope: Scope, receive: Receive) -> Response:
        """Read, authenticate and parse a knowledge-base request; then answer it."""
        headers = headers_of(scope)
        declared = headers.get("content-length", "")
        too_long = error(413, f"The body is larger than {self.max_body_bytes} bytes")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return too_long
        body = await read_body(receive, self.max_body_bytes)
        if body is None:
            return too_long
        request = SignedRequest(scope["method"], called_url(scope, headers), headers, body)
        secret = self.secret.for_org(org_id)
        if not authenticate(request, secret, self.credentials, self._seen, self.clock()):
            log.warning("kbcore.live.unauthorised", org_id=str(org_id), reason="credential")
            return _UNAUTHORISED
        try:
            message = read_message(request.body)
        except BadMessage as bad:
            log.info("kbcore.live.bad_request", org_id=str(org_id), reason=str(bad))
            return error(400, str(bad))
        if message.turn is None:
            return _documents([])
        return await self._answer(org_id, message)

    async def _answer(self, org_id: UUID, message: KnowledgeRequest) -> Response:
        """The org's passages for an authenticated request, or none: in time, whatever fails."""
        started = time.perf_counter()
        with anyio.move_on_after(self.deadline) as deadline:
            try:
                if not await self._assistant_allowed(org_id, message):
                    return _UNAUTHORISED
                found = await self._answers.find(org_id, message)
            except Exception as failure:
                log.error(  # noqa: TRY400 (the cause in a field, no traceback: it may hold input)
                    "kbcore.live.failed",
                    org_id=str(org_id),
                    call_id=message.call_id,
                    error=type(failure).__name__,
                    message=str(failure),
                )
                return _documents([])
        if deadline.cancelled_caught:
            log.warning(
                "kbcore.live.late",
                org_id=str(org_id),
                call_id=message.call_id,
                deadline_ms=round(self.deadline * 1000),
            )
            return _documents([])
        log.debug(
            "kbcore.live.answered",
            org_id=str(org_id),
            call_id=message.call_id,
            passages=len(found),
            best=round(found[0].similarity, 3) if found else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return _documents(found)

    async def _assistant_allowed(self, org_id: UUID, message: KnowledgeRequest) -> bool:
        """False when the agents table gives the calling assistant to other orgs only."""
        if message.assistant_id is None:
            return True
        orgs = await self._answers.assistant_orgs(message.assistant_id)
        if orgs and org_id not in orgs:
            log.warning(
                "kbcore.live.unauthorised",
                org_id=str(org_id),
                reason="assistant of another org",
                assistant_id=message.assistant_id,
            )
            return False
        return True

    async def _ready(self) -> Response:
        with anyio.move_on_after(self.deadline):
            try:
                await self.store.ping()
            except Exception as failure:
                return error(503, f"The database is unavailable: {type(failure).__name__}")
            return Response(200, {"status": "ready"})
        return error(503, "The database did not answer in time")


def _documents(found: Sequence[RankedPassage]) -> Response:
    return Response(
        200,
        {
            "documents": [
                {
                    "content": f"{hit.context}\n{hit.content}",
                    "similarity": round(hit.similarity, 4),
                    "uuid": str(hit.document_id),
                }
                for hit in found
            ]
        },
    )


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None
