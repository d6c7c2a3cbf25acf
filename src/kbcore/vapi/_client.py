"""VapiClient: the Vapi calls a knowledge-base sync makes, with timeouts and retries."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import attrs
import httpx

from kbcore._domain import Secret
from kbcore.errors import ValidationError, VapiError
from kbcore.vapi._assistant_tools import change_tool_ids, model_to_send
from kbcore.vapi._errors import VapiBadRequest
from kbcore.vapi._exchange import Exchange, VapiRequest
from kbcore.vapi._models import (
    AssistantModelUpdate,
    AssistantToolsUpdate,
    KnowledgeBaseGroup,
    QueryTool,
    VapiAssistant,
    VapiFile,
)
from kbcore.vapi._retries import RetryPolicy
from kbcore.vapi._uploads import mimetype_for, vapi_file_name

__all__ = [
    "DEFAULT_BASE_URL",
    "UPLOAD_PURPOSE",
    "VapiClient",
    "checked_api_key",
    "checked_base_url",
]

DEFAULT_BASE_URL = "https://api.vapi.ai"
#: The ``purpose`` uploads carry unless told otherwise, and the one ``list_files`` asks
#: for when Vapi insists on one: files that assistants' tools use.
UPLOAD_PURPOSE = "assistant"
_METADATA_LIMIT = 4096
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})

BeforeWrite = Callable[[], Awaitable[None]]
ModelChange = Callable[[VapiAssistant], Mapping[str, Any] | None]

T = TypeVar("T")


def checked_api_key(value: str | Secret) -> Secret:
    """``value`` as a key an Authorization header can carry, or ``ValidationError``."""
    secret = value if isinstance(value, Secret) else Secret(value)
    # An HTTP header carries visible ASCII only; the message never repeats the key.
    key = secret.value
    if not isinstance(key, str) or not key or not (key.isascii() and key.isprintable()):
        raise ValidationError("api_key", "must be a non-empty string of visible ASCII characters")
    return secret


def checked_base_url(value: str) -> str:
    """``value`` as an http or https URL without its trailing slash, or ``ValidationError``."""
    if isinstance(value, str) and value.isascii() and value.isprintable():
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            pass
        else:
            if url.scheme in ("http", "https") and url.host:
                return value.rstrip("/")
    raise ValidationError("base_url", "must be an http or https URL")


def _timeout(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError("timeout", "must be a positive number of seconds")
    return float(value)


def _retry_policy(value: RetryPolicy) -> RetryPolicy:
    if not isinstance(value, RetryPolicy):
        raise ValidationError("retry_policy", "must be a kbcore.vapi.RetryPolicy")
    return value


@attrs.define(repr=False)
class VapiClient:
    """An async client for the part of Vapi's API a knowledge-base sync uses.

    Use it as an async context manager. An ``http_client`` passed in is used
    as it is and left open; otherwise the client opens and closes its own.
    Every call has ``timeout`` seconds per attempt and is retried on 429, 408,
    5xx, timeouts and connection errors as ``retry_policy`` says; other errors
    are raised at once as subclasses of ``kbcore.VapiError``. ``before_write``,
    when given, is awaited before every call that changes something on Vapi
    (not before each retry of it); whatever it raises stops the call unsent.
    """

    _api_key: Secret = attrs.field(converter=checked_api_key)
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, kw_only=True, converter=checked_base_url)
    _http_client: httpx.AsyncClient | None = attrs.field(default=None, kw_only=True)
    timeout: float = attrs.field(default=30.0, kw_only=True, converter=_timeout)
    retry_policy: RetryPolicy = attrs.field(
        factory=RetryPolicy, kw_only=True, converter=_retry_policy
    )
    _before_write: BeforeWrite | None = attrs.field(default=None, kw_only=True)
    _owned_client: httpx.AsyncClient | None = attrs.field(default=None, init=False)

    def __repr__(self) -> str:
        return f"VapiClient(base_url={self.base_url!r}, api_key='***', timeout={self.timeout!r})"

    async def __aenter__(self) -> Self:
        if self._http_client is None and self._owned_client is None:
            self._owned_client = httpx.AsyncClient(timeout=self.timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._owned_client is not None:
            await self._owned_client.aclose()
            self._owned_client = None

    # Files

    async def upload_file(
        self,
        filename: str,
        content: bytes | str,
        *,
        metadata: Mapping[str, Any] | None = None,
        purpose: str | None = UPLOAD_PURPOSE,
    ) -> VapiFile:
        """Upload one file; its name is cut to Vapi's 40 characters, keeping the extension."""
        name = _upload_name(filename)
        data = {} if purpose is None else {"purpose": _purpose(purpose)}
        if metadata:
            data["metadata"] = _upload_metadata(metadata)
        body = _upload_body(content)
        request = VapiRequest(
            "POST",
            "/file",
            what=f"file {name}",
            files={"file": (name, body, mimetype_for(name))},
            data=data or None,
        )
        return self._parse(VapiFile.from_json, await self._call(request), request)

    async def get_file(self, file_id: str) -> VapiFile:
        request = VapiRequest("GET", _path("file", file_id), what=f"file {file_id}")
        return self._parse(VapiFile.from_json, await self._call(request), request)

    async def list_files(self, *, purpose: str | None = None) -> tuple[VapiFile, ...]:
        """The org's files of one ``purpose``, or (Vapi's default) all but chat attachments.

        Vapi answers with the whole list, no pages. Vapi's spec of 2026-08 makes
        ``purpose`` required: when Vapi refuses a list without one, the files of
        ``UPLOAD_PURPOSE`` are listed instead.
        """
        if purpose is not None:
            return await self._list_files(_purpose(purpose))
        try:
            return await self._list_files(None)
        except VapiBadRequest as error:
            if "purpose" not in (error.vapi_message or ""):
                raise
            return await self._list_files(UPLOAD_PURPOSE)

    async def _list_files(self, purpose: str | None) -> tuple[VapiFile, ...]:
        path = "/file" if purpose is None else f"/file?purpose={quote(purpose)}"
        request = VapiRequest("GET", path, what="the file list")
        payload = await self._call(request)
        return self._parse(lambda p: tuple(VapiFile.from_json(f) for f in p), payload, request)

    async def delete_file(self, file_id: str) -> bool:
        """Delete a file; ``False`` when it was already gone (which is not an error)."""
        request = VapiRequest("DELETE", _path("file", file_id), what=f"file {file_id}")
        return await self._call(request, missing_ok=True) is not None

    # Query tools

    async def create_query_tool(self, knowledge_bases: Iterable[KnowledgeBaseGroup]) -> QueryTool:
        """Create a query tool that searches the given groups of files."""
        request = VapiRequest(
            "POST", "/tool", what="a query tool", json=_tool_body(knowledge_bases)
        )
        return self._parse(_query_tool, await self._call(request), request)

    async def list_query_tools(self, *, limit: int = 1000) -> tuple[QueryTool, ...]:
        """The key's org's query tools (up to ``limit``); tools of other types are left out."""
        request = VapiRequest("GET", f"/tool?limit={int(limit)}", what="the tool list")
        payload = await self._call(request)
        return self._parse(
            lambda tools: tuple(_query_tool(t) for t in tools if t.get("type") == "query"),
            payload,
            request,
        )

    async def get_query_tool(self, tool_id: str) -> QueryTool:
        request = VapiRequest("GET", _path("tool", tool_id), what=f"tool {tool_id}")
        return self._parse(_query_tool, await self._call(request), request)

    async def update_query_tool(
        self, tool_id: str, knowledge_bases: Iterable[KnowledgeBaseGroup]
    ) -> QueryTool:
        """Replace the tool's knowledge bases in place (Vapi needs the full list every time).

        ``VapiConflict`` when Vapi refuses the write: ``error`` is ``tool_pinned`` or
        ``tool_write_conflict``. Neither is retried here: read the tool, then decide.
        """
        request = VapiRequest(
            "PATCH",
            _path("tool", tool_id),
            what=f"tool {tool_id}",
            json=_tool_body(knowledge_bases),
        )
        return self._parse(_query_tool, await self._call(request), request)

    async def delete_tool(self, tool_id: str) -> bool:
        """Delete a tool; ``False`` when it was already gone, ``VapiConflict`` when pinned."""
        request = VapiRequest("DELETE", _path("tool", tool_id), what=f"tool {tool_id}")
        return await self._call(request, missing_ok=True) is not None

    # Assistants

    async def list_assistants(self, *, limit: int = 1000) -> tuple[VapiAssistant, ...]:
        """The key's org's assistants, newest first (up to ``limit``, at most 1000).

        A read that changes nothing: what ``SyncSetup.check_vapi_key`` sends.
        """
        request = VapiRequest("GET", f"/assistant?limit={int(limit)}", what="the assistant list")
        payload = await self._call(request)
        return self._parse(
            lambda assistants: tuple(VapiAssistant.from_json(a) for a in assistants),
            payload,
            request,
        )

    async def get_assistant(self, assistant_id: str) -> VapiAssistant:
        request = VapiRequest(
            "GET", _path("assistant", assistant_id), what=f"assistant {assistant_id}"
        )
        return self._parse(VapiAssistant.from_json, await self._call(request), request)

    async def attach_tools(
        self, assistant_id: str, tool_ids: Iterable[str]
    ) -> AssistantToolsUpdate:
        """Add tool ids to the assistant, keeping its other tools; no PATCH if all are there."""
        return await self.update_assistant_tools(assistant_id, attach=tool_ids)

    async def detach_tools(
        self, assistant_id: str, tool_ids: Iterable[str]
    ) -> AssistantToolsUpdate:
        """Remove tool ids from the assistant; no PATCH if none of them is there."""
        return await self.update_assistant_tools(assistant_id, detach=tool_ids)

    async def update_assistant_tools(
        self,
        assistant_id: str,
        *,
        attach: Iterable[str] = (),
        detach: Iterable[str] = (),
    ) -> AssistantToolsUpdate:
        """Attach and detach tool ids in one change of the assistant's ``model.toolIds``.

        Nothing is sent when the ids are already as asked; a tool the assistant
        pins in ``model.toolRefs`` counts as attached. An id in both ``attach``
        and ``detach`` ends up attached.
        """
        wanted = list(attach)
        unwanted = list(detach)
        update = await self.update_assistant_model(
            assistant_id, lambda assistant: change_tool_ids(assistant, wanted, unwanted).model
        )
        change = change_tool_ids(update.before, wanted, unwanted)
        return AssistantToolsUpdate(
            update.after, added=change.added, removed=change.removed, pinned=change.pinned
        )

    async def update_assistant_model(
        self, assistant_id: str, change: ModelChange
    ) -> AssistantModelUpdate:
        """Read the assistant and PATCH the whole model that ``change`` makes of it.

        Vapi replaces the whole ``model`` on PATCH, so ``change`` gets the assistant
        as read and returns its complete new model, or ``None`` to leave it alone.
        Nothing is sent when the model would not change.
        """
        before = await self.get_assistant(assistant_id)
        model = model_to_send(before, change(before))
        if model is None:
            return AssistantModelUpdate(before, before)
        request = VapiRequest(
            "PATCH",
            _path("assistant", assistant_id),
            what=f"assistant {assistant_id}",
            json={"model": dict(model)},
        )
        after = self._parse(VapiAssistant.from_json, await self._call(request), request)
        return AssistantModelUpdate(before, after, changed=True)

    # The HTTP exchange

    async def _call(self, request: VapiRequest, *, missing_ok: bool = False) -> Any:
        if self._before_write is not None and request.method in _WRITES:
            await self._before_write()
        exchange = Exchange(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            policy=self.retry_policy,
            http_client=self._client(),
        )
        return await exchange.call(request, missing_ok=missing_ok)

    def _client(self) -> httpx.AsyncClient:
        client = self._http_client or self._owned_client
        if client is None:
            raise RuntimeError("Use `async with VapiClient(...)` or pass http_client=")
        return client

    def _parse(self, parse: Callable[[Any], T], payload: Any, request: VapiRequest) -> T:
        try:
            return parse(payload)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VapiError(
                f"Vapi sent an answer about {request.what} that kbcore could not read"
            ) from exc


def _path(collection: str, object_id: str) -> str:
    if not isinstance(object_id, str) or not object_id or not object_id.isprintable():
        raise ValidationError(f"{collection}_id", "must be a non-empty printable string")
    try:
        return f"/{collection}/{quote(object_id, safe='')}"
    except UnicodeEncodeError:  # a lone surrogate
        raise ValidationError(f"{collection}_id", "must be valid Unicode text") from None


def _upload_name(filename: object) -> str:
    if not isinstance(filename, str):
        raise ValidationError("filename", f"must be a string, not {type(filename).__name__}")
    name = vapi_file_name(filename)
    if not name or not _is_unicode(name):
        raise ValidationError("filename", "must be a non-empty name in valid Unicode")
    return name


def _upload_body(content: object) -> bytes:
    if isinstance(content, bytes):
        return content
    if not isinstance(content, str) or not _is_unicode(content):
        raise ValidationError("content", "must be bytes or valid Unicode text")
    return content.encode()


def _upload_metadata(metadata: object) -> str:
    try:
        encoded = json.dumps(metadata, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise ValidationError("metadata", "must be JSON-serialisable") from None
    if not isinstance(metadata, Mapping):
        raise ValidationError("metadata", "must be a JSON object")
    if len(encoded) > _METADATA_LIMIT:
        raise ValidationError("metadata", "must be at most 4096 characters as JSON")
    return encoded


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _purpose(value: object) -> str:
    if not isinstance(value, str) or not value or not (value.isascii() and value.isprintable()):
        raise ValidationError("purpose", "must be a non-empty string of visible ASCII characters")
    return value


def _tool_body(knowledge_bases: Iterable[KnowledgeBaseGroup]) -> dict[str, Any]:
    """``CreateQueryToolDTO`` / ``UpdateQueryToolDTO``: no name, no ``function`` (since 2025-07)."""
    return {"type": "query", "knowledgeBases": [kb.to_json() for kb in knowledge_bases]}


def _query_tool(payload: Any) -> QueryTool:
    if payload.get("type") != "query":
        raise ValueError(f"tool {payload.get('id')} is not a query tool")
    return QueryTool.from_json(payload)
