"""A FastAPI backend that embeds kbcore as the original Express backend embedded its own code.

- ``GET/POST /api/knowledge-base``, ``PATCH/DELETE /api/knowledge-base/{id}``: the org's
  documents, the org from the ``X-Org-Id`` header behind the host's own authentication.
- ``POST /api/knowledge-base/sync``: push the documents to the org's Vapi assistants.
- ``/vapi/orgs/{org_id}``: kbcore's live-knowledge server, mounted, for Vapi to call.

kbcore's errors become HTTP answers in one place (``kbcore_errors``). Run it with
``DATABASE_URL``, ``HOST_API_TOKEN`` and ``KBCORE_LIVE_SECRET`` set::

    uvicorn --factory host:app_from_environment
"""

import math
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import attrs
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import kbcore
from kbcore.live import LiveKnowledgeServer, ServerSecret
from kbcore.postgres import PostgresStore, migrate


class NewDocument(BaseModel):
    filename: str
    content: str
    category: str | None = None


class DocumentChange(BaseModel):
    filename: str | None = None
    content: str | None = None
    category: str | None = None
    active: bool | None = None
    expected_version: int | None = None


def current_org(
    request: Request,
    x_org_id: Annotated[str, Header()],
    authorization: Annotated[str, Header()] = "",
) -> UUID:
    """The caller's org, once the host's authentication (a token here) let the caller in."""
    if not secrets.compare_digest(authorization, f"Bearer {request.app.state.api_token}"):
        raise HTTPException(401, "Unauthorized")
    try:
        return UUID(x_org_id)
    except ValueError:
        raise HTTPException(400, "X-Org-Id must be a UUID") from None


Org = Annotated[UUID, Depends(current_org)]


def knowledge_base(request: Request) -> kbcore.KnowledgeBase:
    kb: kbcore.KnowledgeBase = request.app.state.kb
    return kb


def coordinator(request: Request) -> kbcore.SyncCoordinator:
    sync: kbcore.SyncCoordinator = request.app.state.sync
    return sync


Kb = Annotated[kbcore.KnowledgeBase, Depends(knowledge_base)]
Sync = Annotated[kbcore.SyncCoordinator, Depends(coordinator)]

api = APIRouter(prefix="/api/knowledge-base")


@api.get("")
async def list_documents(
    org: Org, kb: Kb, category: str | None = None, cursor: str | None = None, limit: int = 50
) -> dict[str, Any]:
    page = await kb.list(org, category=category, cursor=cursor, limit=limit)
    return {"items": [_json(doc) for doc in page.items], "next_cursor": page.next_cursor}


@api.post("", status_code=201)
async def create_document(org: Org, kb: Kb, body: NewDocument) -> dict[str, Any]:
    doc = await kb.create(org, **body.model_dump(), actor="api")
    return {"item": _json(doc)}


@api.patch("/{document_id}")
async def update_document(
    org: Org, kb: Kb, document_id: str, body: DocumentChange
) -> dict[str, Any]:
    doc = await kb.update(org, document_id, **body.model_dump(), actor="api")
    return {"item": _json(doc)}


@api.delete("/{document_id}")
async def delete_document(org: Org, kb: Kb, document_id: str) -> dict[str, Any]:
    return {"item": _json(await kb.delete(org, document_id, actor="api"))}


@api.post("/sync")
async def sync_documents(org: Org, sync: Sync) -> dict[str, Any]:
    result = await sync.sync(org, actor="api")
    return {"result": attrs.asdict(result, value_serializer=_plain)}


def create_app(
    store: PostgresStore,
    *,
    api_token: str,
    live_secret: ServerSecret,
    coordinator: kbcore.SyncCoordinator | None = None,
    lifespan: Any = None,
) -> FastAPI:
    """The backend over ``store``; ``api_token`` stands in for the host's real authentication."""
    app = FastAPI(title="Sales backend", lifespan=lifespan)
    app.state.api_token = api_token
    app.state.kb = kbcore.KnowledgeBase(store)
    app.state.sync = coordinator or kbcore.SyncCoordinator(store)
    app.include_router(api)
    app.add_exception_handler(kbcore.KbError, kbcore_errors)
    app.mount("/vapi", LiveKnowledgeServer(store, live_secret))
    return app


async def kbcore_errors(request: Request, error: Exception) -> JSONResponse:
    """kbcore's errors as HTTP answers: their messages are written for the end user."""
    if isinstance(error, kbcore.ValidationError):
        return JSONResponse({"error": error.message, "field": error.field}, status_code=400)
    if isinstance(error, kbcore.NotFound):
        return JSONResponse({"error": str(error)}, status_code=404)
    if isinstance(error, kbcore.VersionConflict | kbcore.SyncInProgress):
        return JSONResponse({"error": str(error)}, status_code=409)
    if isinstance(error, kbcore.RateLimited):
        wait = str(math.ceil(error.retry_after))
        return JSONResponse({"error": str(error)}, status_code=429, headers={"Retry-After": wait})
    if isinstance(error, kbcore.SyncFailed):
        return JSONResponse({"error": error.reason}, status_code=502)
    return JSONResponse({"error": "The knowledge base is unavailable"}, status_code=503)


def _json(doc: kbcore.Document) -> dict[str, Any]:
    return attrs.asdict(doc, value_serializer=_plain)


def _plain(instance: object, field: object, value: Any) -> Any:
    # UUIDs and datetimes as JSON strings; everything else as it is.
    return str(value) if hasattr(value, "hex") or hasattr(value, "isoformat") else value


def app_from_environment() -> FastAPI:
    """The backend on ``DATABASE_URL``: ``uvicorn --factory host:app_from_environment``.

    The pool opens (and the schema is migrated) when the server starts, and closes when
    it stops, after the sync coordinator's HTTP client (one for all the server's syncs).
    """
    pool = asyncpg.create_pool(os.environ["DATABASE_URL"])
    store = PostgresStore(pool)
    coordinator = kbcore.SyncCoordinator(store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await pool
        await migrate(pool)
        try:
            yield
        finally:
            await coordinator.aclose()
            await pool.close()

    return create_app(
        store,
        api_token=os.environ["HOST_API_TOKEN"],
        live_secret=ServerSecret(os.environ["KBCORE_LIVE_SECRET"]),
        coordinator=coordinator,
        lifespan=lifespan,
    )
