"""The existing system's sync, redone as the baseline the issue compares kbcore with.

What the specification says it did: on every sync, upload every active document
as a new file, all at once (unbounded parallelism); create a brand-new query tool
grouping the file ids by category; append the new tool id to every assistant's
``model.toolIds``; never delete a file or a tool. The runbook says its calls were
retried "with exponential backoff"; how often and how long is not recorded, so
this baseline assumes three retries after 1, 2 and 4 seconds, of any failure
(4xx included), ignoring ``Retry-After``, with no timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import anyio
import attrs
import httpx

from kbcore import DocumentDraft

RETRY_WAITS = (1.0, 2.0, 4.0)


@attrs.define
class OriginalSync:
    """One org's syncs by the original algorithm; counts what it asked of Vapi."""

    http: httpx.AsyncClient
    api_key: str = attrs.field(repr=False)
    assistant_ids: Sequence[str]
    base_url: str
    requests: int = 0

    async def sync(self, documents: Sequence[DocumentDraft]) -> int:
        """Run one sync; return how many documents failed to upload."""
        uploaded = await asyncio.gather(*(self._upload(d) for d in documents))
        groups: dict[str, list[str]] = {}
        for document, file_id in zip(documents, uploaded, strict=True):
            if file_id is not None:
                groups.setdefault(document.category or "general", []).append(file_id)
        tool = await self._call(
            "POST",
            "/tool",
            # The existing system also sent "function", which Vapi's API now rejects; it is
            # left out so that the comparison measures the algorithm, not that mistake.
            json={
                "type": "query",
                "knowledgeBases": [
                    {
                        "provider": "google",
                        "name": category,
                        "description": f"Contains {category} information",
                        "fileIds": file_ids,
                    }
                    for category, file_ids in groups.items()
                ],
            },
        )
        if tool is not None:
            await asyncio.gather(*(self._attach(a, tool["id"]) for a in self.assistant_ids))
        return sum(1 for file_id in uploaded if file_id is None)

    async def _upload(self, document: DocumentDraft) -> str | None:
        body = document.content.encode("utf-8")
        answer = await self._call(
            "POST", "/file", files={"file": (document.filename, body, "text/markdown")}
        )
        return None if answer is None else str(answer["id"])

    async def _attach(self, assistant_id: str, tool_id: str) -> None:
        assistant = await self._call("GET", f"/assistant/{assistant_id}")
        if assistant is None:
            return
        model = dict(assistant["model"])
        model["toolIds"] = [*model.get("toolIds", []), tool_id]
        await self._call("PATCH", f"/assistant/{assistant_id}", json={"model": model})

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        for wait in (*RETRY_WAITS, None):
            self.requests += 1
            try:
                response = await self.http.request(
                    method, self.base_url + path, headers=headers, timeout=None, **kwargs
                )
            except httpx.TransportError:
                response = None
            if response is not None and response.is_success:
                return response.json()
            if wait is not None:
                await anyio.sleep(wait)
        return None
