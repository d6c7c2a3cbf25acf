"""VapiClient: the Vapi calls a knowledge-base sync makes, with timeouts and retries."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import attrs
import httpx

from kbcore._domain import Secret
from kbcore.errors import ValidationError, VapiError
from kbcore.vapi._exchange import Exchange, VapiRequest
from kbcore.vapi._models import (
    AssistantToolsUpdate,
    KnowledgeBaseGroup,
    QueryTool,
    VapiAssistant,
    VapiFile,
)
from kbcore.vapi._retries import RetryPolicy
from kbcore.vapi._uploads import mimetype_for, vapi_file_name

__all__ = ["DEFAULT_BASE_URL", "VapiClient", "checked_api_key", "checked_base_url"]

DEFAULT_BASE_URL = "https://api.vapi.ai"
_METADATA_LIMIT = 4096

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
    are raised at once as subclasses of ``kbcore.VapiError``.
    """

    _api_key: Secret = attrs.field(converter=checked_api_key)
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, kw_only=True, converter=checked_base_url)
    _http_client: httpx.AsyncClient | None = attrs.field(default=None, kw_only=True)
    timeout: float = attrs.field(default=30.0, kw_only=True, converter=_timeout)
    retry_policy: RetryPolicy = attrs.field(
        factory=RetryPolicy, kw_only=True, converter=_retry_policy
    )
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
    ) -> VapiFile:
        """Upload one file; its name is cut to Vapi's 40 characters, keeping the extension."""
        name = _upload_name(filename)
        data = None if not metadata else {"metadata": _upload_metadata(metadata)}
        body = _upload_body(content)
        request = VapiRequest(
            "POST",
            "/file",
            what=f"file {name}",
            files={"file": (name, body, mimetype_for(name))},
            data=data,
        )
        return self._parse(VapiFile.from_json, await self._call(request), request)

    async def get_file(self, file_id: str) -> VapiFile:
        request = VapiRequest("GET", _path("file", file_id), what=f"file {file_id}")
        return self._parse(VapiFile.from_json, await self._call(request), request)

    async def list_files(self) -> tuple[VapiFile, ...]:
        """Every file of the key's org; Vapi answers with the whole list, no pages."""
        request = VapiRequest("GET", "/file", what="the file list")
        payload = await self._call(request)
        return self._parse(lambda p: tuple(VapiFile.from_json(f) for f in p), payload, request)

    async def delete_file(self, file_id: str) -> bool:
        """Delete a file; ``False`` when it was already gone (which is not an error)."""
        request = VapiRequest("DELETE", _path("file", file_id), what=f"file {file_id}")
        return await self._call(request, missing_ok=True) is not None

    # Query tools

    async def create_query_tool(
        self, name: str, knowledge_bases: Iterable[KnowledgeBaseGroup]
    ) -> QueryTool:
        """Create a query tool called ``name`` that searches the given groups of files."""
        request = VapiRequest(
            "POST", "/tool", what=f"query tool {name}", json=_tool_body(name, knowledge_bases)
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
        self, tool_id: str, *, name: str, knowledge_bases: Iterable[KnowledgeBaseGroup]
    ) -> QueryTool:
        """Replace the tool's knowledge bases in place (Vapi needs the full list every time)."""
        request = VapiRequest(
            "PATCH",
            _path("tool", tool_id),
            what=f"tool {tool_id}",
            json=_tool_body(name, knowledge_bases),
        )
        return self._parse(_query_tool, await self._call(request), request)

    async def delete_tool(self, tool_id: str) -> bool:
        """Delete a tool; ``False`` when it was already gone, ``VapiConflict`` when pinned."""
        request = VapiRequest("DELETE", _path("tool", tool_id), what=f"tool {tool_id}")
        return await self._call(request, missing_ok=True) is not None

    # Assistants

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

        Vapi replaces the whole ``model`` on PATCH, so this reads the assistant
        and sends its full model back with the new ids. Nothing is sent when the
        ids are already as asked. An id in both ``attach`` and ``detach`` ends up attached.
        """
        assistant = await self.get_assistant(assistant_id)
        to_attach = list(dict.fromkeys(attach))
        to_detach = set(detach) - set(to_attach)
        current = assistant.tool_ids
        kept = [tool_id for tool_id in current if tool_id not in to_detach]
        added = tuple(tool_id for tool_id in to_attach if tool_id not in kept)
        removed = tuple(dict.fromkeys(t for t in current if t in to_detach))
        if not added and not removed:
            return AssistantToolsUpdate(assistant)
        if assistant.model is None:
            raise VapiError(
                f"Vapi assistant {assistant_id} has no model; configure its model in Vapi first"
            )
        model = {**assistant.model, "toolIds": [*kept, *added]}
        request = VapiRequest(
            "PATCH",
            _path("assistant", assistant_id),
            what=f"assistant {assistant_id}",
            json={"model": model},
        )
        updated = self._parse(VapiAssistant.from_json, await self._call(request), request)
        return AssistantToolsUpdate(updated, added=added, removed=removed)

    # The HTTP exchange

    async def _call(self, request: VapiRequest, *, missing_ok: bool = False) -> Any:
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


def _tool_body(name: str, knowledge_bases: Iterable[KnowledgeBaseGroup]) -> dict[str, Any]:
    return {
        "type": "query",
        "function": {"name": name},
        "knowledgeBases": [kb.to_json() for kb in knowledge_bases],
    }


def _query_tool(payload: Any) -> QueryTool:
    if payload.get("type") != "query":
        raise ValueError(f"tool {payload.get('id')} is not a query tool")
    return QueryTool.from_json(payload)
