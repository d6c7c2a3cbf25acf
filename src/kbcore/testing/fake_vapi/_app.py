"""FakeVapi: a stateful ASGI stand-in for the Vapi subset a sync uses."""

from __future__ import annotations

import copy
import email.utils
import math
import uuid
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
import attrs
import httpx

from kbcore.live._asgi import lifespan
from kbcore.testing.fake_vapi import _routes as routes
from kbcore.testing.fake_vapi._caller import KnowledgeAnswer, call_knowledge_server
from kbcore.testing.fake_vapi._faults import (
    FaultRule,
    Faults,
    Pause,
    RateLimit,
    RetryAfterForm,
    Route,
    failure_body,
    retry_after_value,
)
from kbcore.testing.fake_vapi._http import (
    ConnectionDropped,
    FakeRequest,
    FakeResponse,
    Receive,
    RecordedRequest,
    Send,
    nest_error,
)
from kbcore.testing.fake_vapi._state import FakeFile, FakeState

__all__ = ["INVALID_KEY_MESSAGE", "FakeVapi"]

INVALID_KEY_MESSAGE = (
    "Invalid Key. Hot tip, you may be using the private key instead of the public key, "
    "or vice versa."
)

DEFAULT_MODEL: Mapping[str, Any] = {
    "provider": "openai",
    "model": "gpt-4o",
    "temperature": 0.3,
    "messages": [{"role": "system", "content": "You are a helpful sales agent."}],
    "toolIds": [],
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.define
class FakeVapi:
    """A faithful, stateful fake of Vapi's files, query tools and assistants, for one org.

    Call it as an ASGI app (``http_client()`` wires it into ``httpx``) or serve it
    on loopback with ``serve_fake_vapi``. Requests need ``Authorization: Bearer
    <api_key>``. ``clock`` (monotonic seconds) drives the rate limit and file
    processing; ``wall_clock`` gives timestamps and the ``Date`` header.
    """

    api_key: str = attrs.field(default="test-vapi-key", repr=False)
    org_id: str = attrs.field(factory=lambda: str(uuid.uuid4()), kw_only=True)
    clock: Callable[[], float] = attrs.field(default=anyio.current_time, kw_only=True, repr=False)
    wall_clock: Callable[[], datetime] = attrs.field(default=_utc_now, kw_only=True, repr=False)
    processing_seconds: float = attrs.field(default=0.0, kw_only=True)
    #: Answer ``GET /file`` without ``purpose`` with a 400, as Vapi's spec of 2026-08 says.
    file_list_needs_purpose: bool = attrs.field(default=False, kw_only=True)
    #: Every request in arrival order, with the answer it got.
    requests: list[RecordedRequest] = attrs.field(factory=list, init=False, repr=False)
    _state: FakeState = attrs.field(init=False, repr=False)
    _faults: Faults = attrs.field(factory=Faults, init=False, repr=False)
    _late_writes: list[FakeRequest] = attrs.field(factory=list, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._state = FakeState(
            org_id=self.org_id,
            clock=self._now,
            wall_clock=self._wall_now,
            processing_seconds=lambda: self.processing_seconds,
            file_list_needs_purpose=lambda: self.file_list_needs_purpose,
        )

    # Through methods, so that a test may swap the clocks after construction.
    def _now(self) -> float:
        return self.clock()

    def _wall_now(self) -> datetime:
        return self.wall_clock()

    # Inspection

    @property
    def files(self) -> dict[str, FakeFile]:
        """Uploaded files by id, with their bytes in ``content``."""
        return self._state.files

    @property
    def tools(self) -> dict[str, dict[str, Any]]:
        """Tools by id, as the JSON Vapi would return."""
        return self._state.tools

    @property
    def assistants(self) -> dict[str, dict[str, Any]]:
        """Assistants by id, as the JSON Vapi would return."""
        return self._state.assistants

    def requests_to(self, route: str = "*") -> list[RecordedRequest]:
        """The logged requests matching ``route`` (``"PATCH /assistant/*"``, ``"/file*"``)."""
        wanted = Route.parse(route)
        return [r for r in self.requests if wanted.matches(r.method, r.path)]

    def missing_file_ids(self) -> set[str]:
        """File ids that some tool lists but that no longer exist."""
        listed = {
            file_id
            for tool in self.tools.values()
            for kb in tool.get("knowledgeBases") or ()
            for file_id in kb.get("fileIds") or ()
        }
        return listed - set(self.files)

    # Arranging state

    def add_assistant(
        self,
        *,
        name: str = "Sales agent",
        model: Mapping[str, Any] | None = None,
        assistant_id: str | None = None,
        **fields: Any,
    ) -> str:
        """Create an assistant as if made in Vapi's dashboard; returns its id.

        A tool pinned in ``model.toolRefs`` leaves ``model.toolIds``, as on every write.
        """
        assistant = self._state.stamp(
            copy.deepcopy(
                {"name": name, "model": DEFAULT_MODEL if model is None else model, **fields}
            )
        )
        if assistant_id is not None:
            assistant["id"] = assistant_id
        routes.drop_pinned_tool_ids(assistant)
        self.assistants[assistant["id"]] = assistant
        return str(assistant["id"])

    def pin_tool(self, tool_id: str) -> None:
        """Make ``PATCH`` and ``DELETE /tool/{tool_id}`` answer 409 ``tool_pinned``.

        A tool an assistant pins in ``model.toolRefs`` refuses ``DELETE`` on its own;
        this is for a pin that refuses updates too (Vapi does not say when it does).
        """
        self._state.pinned_tool_ids.add(tool_id)

    def unpin_tool(self, tool_id: str) -> None:
        """Undo ``pin_tool``."""
        self._state.pinned_tool_ids.discard(tool_id)

    def add_credential(self, authentication_plan: Mapping[str, Any]) -> str:
        """Make a custom credential, as in Vapi's dashboard; returns its id.

        ``authentication_plan`` as Vapi's: ``{"type": "bearer", "token": ...,
        "headerName"?, "bearerPrefixEnabled"?}`` or ``{"type": "hmac", "secretKey": ...,
        "algorithm": "sha256", "signatureHeader"?, "timestampHeader"?, ...}``.
        """
        credential = self._state.stamp(
            {"provider": "custom-credential", "authenticationPlan": dict(authentication_plan)}
        )
        self._state.credentials[credential["id"]] = credential
        return str(credential["id"])

    async def request_knowledge(
        self,
        assistant_id: str,
        turn: str,
        *,
        previous_turns: Sequence[str] = (),
        http_client: httpx.AsyncClient | None = None,
    ) -> KnowledgeAnswer:
        """Play the caller: send the assistant's knowledge server what Vapi would send.

        The caller says ``turn`` after ``previous_turns``; the request goes to the
        assistant's ``model.knowledgeBase.server.url`` with its ``headers`` and its
        credential's authentication, through ``http_client`` (a new client if none).
        """
        return await call_knowledge_server(
            self.assistants[assistant_id],
            self._state.credentials,
            org_id=self.org_id,
            turns=[*previous_turns, turn],
            now=self.wall_clock(),
            http_client=http_client,
        )

    def fail_processing(self, count: int = 1) -> None:
        """The next ``count`` uploads end their processing ``failed`` instead of ``done``."""
        self._state.failing_uploads += count

    # Faults

    def fail_next(
        self,
        count: int,
        route: str = "*",
        *,
        status: int = 500,
        retry_after: float | None = None,
        retry_after_form: RetryAfterForm = "seconds",
        message: str | list[str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests matching ``route`` with ``status``.

        ``retry_after`` adds a ``Retry-After`` header, in seconds or as an HTTP date;
        ``message`` is the NestJS body's ``message`` (a made-up one by default).
        """
        self._faults.add(
            FaultRule(
                Route.parse(route),
                count,
                "fail",
                status=status,
                retry_after=retry_after,
                retry_after_form=retry_after_form,
                message=message,
            )
        )

    def drop_next(self, count: int, route: str = "*", *, after_handling: bool = False) -> None:
        """Close the connection of the next ``count`` matching requests without an answer.

        With ``after_handling`` the fake does the work first and only the answer is
        lost: a retried upload then makes a second file, a retried delete finds none.
        """
        kind: Literal["drop", "drop_after"] = "drop_after" if after_handling else "drop"
        self._faults.add(FaultRule(Route.parse(route), count, kind))

    def conflict_next(
        self, count: int, route: str = "PATCH /tool/*", *, error: str = "tool_write_conflict"
    ) -> None:
        """Answer the next ``count`` matching requests 409 with ``{"error": error, "message"}``.

        ``error`` is ``tool_write_conflict`` or ``tool_pinned``, the two 409s of
        ``/tool/{id}`` in Vapi's SDK; nothing is changed.
        """
        self._faults.add(FaultRule(Route.parse(route), count, "conflict", error=error))

    def apply_late(self, count: int, route: str = "*") -> None:
        """The next ``count`` matching writes are applied late: after the client gave up.

        The connection drops without an answer and nothing changes yet; Vapi applies
        each such write, as it was sent, when ``apply_late_writes()`` is called.
        Reads are not affected.
        """
        self._faults.add(FaultRule(Route.parse(route), count, "late"))

    def apply_late_writes(self) -> list[RecordedRequest]:
        """Apply the writes held by ``apply_late``, in arrival order; what each answered."""
        held, self._late_writes = self._late_writes, []
        return [_recorded(request, self._handle(request)) for request in held]

    @property
    def late_writes(self) -> int:
        """How many writes ``apply_late`` holds, not applied yet."""
        return len(self._late_writes)

    def pause_next(self, route: str = "*") -> Pause:
        """Hold the next matching request before it is handled, until ``resume()``."""
        pause = Pause()
        self._faults.add(FaultRule(Route.parse(route), 1, "pause", pause=pause))
        return pause

    def add_latency(self, seconds: float, route: str = "*", *, count: int | None = None) -> None:
        """Answer matching requests ``seconds`` late (the next ``count``, or all of them)."""
        self._faults.add(FaultRule(Route.parse(route), count, "latency", seconds=seconds))

    def limit_rate(self, per_second: int, *, retry_after: bool = True) -> None:
        """Accept at most ``per_second`` requests a second; answer the rest 429."""
        self._faults.rate_limit = RateLimit(per_second, retry_after)

    def clear_faults(self) -> None:
        """Disarm every fault, processing failures and the rate limit (held writes stay held)."""
        self._faults = Faults()
        self._state.failing_uploads = 0

    # Client wiring

    def http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` that sends every request to this fake, in process."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self), **kwargs)

    # ASGI

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        request = await _read_request(scope, receive)
        response = await self._respond(request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(k.encode(), v.encode()) for k, v in response.headers],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    async def _respond(self, request: FakeRequest) -> FakeResponse:
        plan = self._faults.plan(request.method, request.path)
        for pause in plan.pauses:
            await pause.hold()
        if plan.latency:
            await anyio.sleep(plan.latency)
        if plan.drop == "before" or plan.late:
            self._record(request, None)
            if plan.late:
                self._late_writes.append(request)
            raise ConnectionDropped
        # Whole seconds: a Retry-After date and the Date header must agree to the second.
        now = self.wall_clock().astimezone(UTC).replace(microsecond=0)
        response = plan.failure_response(now) or self._answer(request, now)
        response = response.with_headers(("date", email.utils.format_datetime(now, usegmt=True)))
        if plan.drop == "after":
            self._record(request, None)
            raise ConnectionDropped
        self._record(request, response)
        return response

    def _answer(self, request: FakeRequest, now: datetime) -> FakeResponse:
        if not self._authorised(request):
            return nest_error(401, INVALID_KEY_MESSAGE)
        limit = self._faults.rate_limit
        wait = limit.admit(self.clock()) if limit is not None else None
        if limit is None or wait is None:
            return routes.dispatch(self._state, request)
        response = failure_body(429)
        if not limit.retry_after:
            return response
        return response.with_headers(
            ("retry-after", retry_after_value(max(1, math.ceil(wait)), "seconds", now))
        )

    def _authorised(self, request: FakeRequest) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def _handle(self, request: FakeRequest) -> FakeResponse:
        """A held write, applied now: no fault and no rate limit stands in its way any more."""
        if not self._authorised(request):
            return nest_error(401, INVALID_KEY_MESSAGE)
        return routes.dispatch(self._state, request)

    def _record(self, request: FakeRequest, response: FakeResponse | None) -> None:
        self.requests.append(_recorded(request, response))


def _recorded(request: FakeRequest, response: FakeResponse | None) -> RecordedRequest:
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query=request.query,
        headers={k: v for k, v in request.headers.items() if k != "authorization"},
        body=request.body,
        status=response.status if response else None,
        response_headers=dict(response.headers) if response else {},
        response_body=response.body if response else b"",
    )


async def _read_request(scope: MutableMapping[str, Any], receive: Receive) -> FakeRequest:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = scope.get("query_string", b"")
    # Route on the path as sent, as Express does: an escaped "/" inside an id stays in the id.
    raw_path = scope.get("raw_path")
    return FakeRequest(
        method=scope["method"],
        path=raw_path.decode("latin-1") if isinstance(raw_path, bytes) else scope["path"],
        query=query.decode("latin-1") if isinstance(query, bytes) else str(query),
        headers=headers,
        body=b"".join(chunks),
    )
