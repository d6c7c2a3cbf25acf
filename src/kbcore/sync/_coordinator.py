"""SyncCoordinator: the front door of a sync, with its rate limit and its audit trail."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self
from uuid import UUID

import anyio
import attrs
import httpx
import structlog

from kbcore import _progress as progress
from kbcore import _validators as check
from kbcore._domain import CANCELLED_MESSAGE, SyncOutcome, SyncRun, SyncStatus
from kbcore._ports import SyncState
from kbcore._progress import OnProgress
from kbcore.errors import SyncFailed, ValidationError
from kbcore.logging import Logger, get_logger
from kbcore.sync._claims import Claims
from kbcore.sync._context import SyncContext
from kbcore.sync._dry_run import DryRun
from kbcore.sync._lease import Lease
from kbcore.sync._policy import SyncPolicy
from kbcore.sync._preview import SyncPreview
from kbcore.sync._result import SyncResult
from kbcore.sync._run import RunReport, SyncInputs, SyncRunner, load_inputs, vapi_key
from kbcore.vapi import DEFAULT_BASE_URL, VapiClient
from kbcore.vapi._client import BeforeWrite, checked_api_key, checked_base_url

log = get_logger()

# Vapi tool function names follow OpenAI's rule for function names.
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNEXPECTED_FAILURE = "The sync stopped on an unexpected error; see the logs for details"


@attrs.define
class SyncCoordinator:
    """Syncs an org's active documents to its Vapi assistants.

    At most one sync per org runs at a time, and at most one succeeds per
    ``policy.min_interval``, across every process that shares the database.
    Every attempt, refused or failed ones included, becomes a ``kb_sync_log`` row.

    Every sync sends its Vapi calls through one long-lived HTTP client, so that its
    connections (and TLS sessions) are reused from one sync to the next. An
    ``http_client`` passed in is that client and stays the host's to close. Otherwise
    the coordinator opens its own at the first sync (or on ``async with``) and closes
    it on leaving ``async with`` or on ``await coordinator.aclose()``; a host that
    keeps one coordinator for the life of its process closes it at shutdown.
    """

    _store: SyncState
    _vapi_base_url: str = attrs.field(
        default=DEFAULT_BASE_URL, kw_only=True, converter=checked_base_url
    )
    _http_client: httpx.AsyncClient | None = attrs.field(default=None, kw_only=True)
    _policy: SyncPolicy = attrs.field(factory=SyncPolicy, kw_only=True)
    _owned_client: httpx.AsyncClient | None = attrs.field(default=None, init=False, repr=False)

    async def __aenter__(self) -> Self:
        self._client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client the coordinator opened; a host's own is left open.

        A sync after this opens a new client, which needs closing in its turn.
        """
        client, self._owned_client = self._owned_client, None
        if client is not None:
            await client.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._http_client is not None:
            return self._http_client
        if self._owned_client is None:
            # Built once: loading the certificate bundle alone takes tens of milliseconds.
            # Keep-alive for as many connections as a sync runs calls at once.
            limits = httpx.Limits(max_keepalive_connections=max(20, self._policy.max_concurrency))
            self._owned_client = httpx.AsyncClient(limits=limits)
        return self._owned_client

    async def sync(
        self,
        org_id: UUID | str,
        *,
        tool_name: str = "knowledge-search",
        roles: Sequence[str] = ("inbound", "outbound"),
        actor: str | None = None,
        on_progress: OnProgress | None = None,
    ) -> SyncResult:
        """Make the org's active documents the knowledge of its assistants.

        Raises ``ValidationError`` for bad arguments or an unusable Vapi key,
        before anything is recorded; ``RateLimited`` (with ``retry_after``) or
        ``SyncInProgress`` when the attempt may not run, and ``SyncFailed`` (with
        ``reason``) when it ran and could not finish. ``on_progress`` hears of the
        phases ``"upload"``, ``"assistants"`` and ``"delete"``, in that order.
        """
        org = check.uuid("org_id", org_id)
        tool = _tool_name(tool_name)
        wanted_roles = _roles(roles)
        changed_by = check.actor(actor)
        callback = progress.on_progress(on_progress)
        await self._check_vapi_key(org)
        claims = Claims(self._store, self._policy)
        run_id = await claims.claim(org, changed_by)
        bound = log.bind(org_id=str(org), run_id=str(run_id), tool_name=tool)
        bound.info("kbcore.sync.started")
        report = await self._run_audited(
            claims, org, run_id, bound, tool=tool, roles=wanted_roles, on_progress=callback
        )
        run = await claims.finish(org, run_id, report.outcome)
        if run.status != "success":
            # The lease lapsed mid-run and another process took the org over.
            bound.warning("kbcore.sync.claim_lost")
            raise SyncFailed("The sync lost its claim on the org; run it again")
        result = _result(run, report)
        for warning in result.warnings:
            bound.warning("kbcore.sync.warning", warning=warning)
        bound.info(
            "kbcore.sync.finished",
            tool_id=result.tool_id,
            uploaded=result.files_uploaded,
            reused=result.files_reused,
            deleted=result.files_deleted,
            assistants_updated=result.assistants_updated,
            duration_ms=result.duration_ms,
            warnings=len(result.warnings),
        )
        return result

    async def plan(
        self,
        org_id: UUID | str,
        *,
        tool_name: str = "knowledge-search",
        roles: Sequence[str] = ("inbound", "outbound"),
    ) -> SyncPreview:
        """What ``sync`` would do now, with the same arguments: a dry run.

        It reads the database and asks Vapi with GETs only (files, tools, assistants);
        it writes nothing anywhere, takes no claim and is not rate limited. Raises what
        ``sync`` would: ``ValidationError`` for bad arguments or an unusable key,
        ``SyncFailed`` (with ``reason``) when the sync would fail before its first write.
        """
        org = check.uuid("org_id", org_id)
        tool = _tool_name(tool_name)
        wanted_roles = _roles(roles)
        await self._check_vapi_key(org)
        inputs = await load_inputs(self._store, org, tool, wanted_roles)
        async with self._context(org, tool, inputs, before_write=_refuse_write) as context:
            policy = self._policy
            dry_run = DryRun(context, policy.reconcile_files, _instruction(policy))
            preview = await dry_run.preview(inputs)
        log.info(
            "kbcore.sync.planned",
            org_id=str(org),
            tool_name=tool,
            uploads=len(preview.uploads),
            reused=len(preview.reused),
            deletes=len(preview.delete),
            tool_action=preview.tool.action,
            warnings=len(preview.warnings),
        )
        return preview

    @property
    def policy(self) -> SyncPolicy:
        """The rate limit, lease and patience this coordinator syncs with."""
        return self._policy

    async def sync_status(
        self, org_id: UUID | str, *, tool_name: str = "knowledge-search"
    ) -> SyncStatus:
        """Where the org's auto-sync stands: pending or not, due when, edits waiting,
        the last success, the last failure, and why it is parked, if it is."""
        org = check.uuid("org_id", org_id)
        return await self._store.request_status(org, _tool_name(tool_name))

    async def resume(self, org_id: UUID | str, *, tool_name: str = "knowledge-search") -> None:
        """Make the org's auto-sync due now, parked or not; a worker runs it next."""
        org = check.uuid("org_id", org_id)
        tool = _tool_name(tool_name)
        await self._store.resume_requests(org, tool)
        log.info("kbcore.worker.resumed", org_id=str(org), tool_name=tool)

    async def _run_audited(
        self,
        claims: Claims,
        org: UUID,
        run_id: UUID,
        bound: Logger,
        *,
        tool: str,
        roles: Sequence[str],
        on_progress: OnProgress | None,
    ) -> RunReport:
        """Run the claimed sync; a failure closes its audit row before it propagates."""
        try:
            # Bound as context variables too, so the Vapi client's events (and the host's
            # own, from hooks) carry the org and the run; restored when the sync ends.
            with structlog.contextvars.bound_contextvars(org_id=str(org), run_id=str(run_id)):
                lease = claims.lease(org, run_id)
                return await claims.run_leased(
                    lease, lambda: self._run(lease, tool, roles, on_progress)
                )
        except SyncFailed as error:
            failed = SyncOutcome(succeeded=False, error_message=error.reason)
            await claims.finish(org, run_id, failed)
            bound.warning(
                "kbcore.sync.failed", reason=error.reason, provider_message=error.provider_message
            )
            raise
        except anyio.get_cancelled_exc_class():
            # Ctrl-C, a shutdown, a host's timeout: not a failure of the sync itself.
            cancelled = SyncOutcome(succeeded=False, error_message=CANCELLED_MESSAGE)
            await claims.finish(org, run_id, cancelled)
            bound.warning("kbcore.sync.cancelled")
            raise
        except BaseException as error:
            crashed = SyncOutcome(succeeded=False, error_message=_UNEXPECTED_FAILURE)
            await claims.finish(org, run_id, crashed)
            bound.error("kbcore.sync.crashed", error_type=type(error).__name__)
            raise

    async def _check_vapi_key(self, org_id: UUID) -> None:
        """Refuse an unusable key before the claim: a bad set-up records no attempt.

        An org without any key is left to the run, which records why it failed.
        """
        key, source = await vapi_key(self._store, org_id)
        if key is None:
            return
        try:
            checked_api_key(key)
        except ValidationError:
            raise ValidationError(
                "api_key",
                f"The Vapi key in {source} is not usable: it must be visible ASCII "
                "characters, with no line breaks",
            ) from None

    async def _run(
        self,
        lease: Lease,
        tool_name: str,
        roles: Sequence[str],
        on_progress: OnProgress | None,
    ) -> RunReport:
        org_id = lease.org_id
        inputs: SyncInputs = await load_inputs(self._store, org_id, tool_name, roles)
        # No Vapi write is sent unless the org is still this run's, for a whole lease.
        async with self._context(
            org_id, tool_name, inputs, before_write=lease.confirm, on_progress=on_progress
        ) as context:
            policy = self._policy
            runner = SyncRunner(context, policy.reconcile_files, _instruction(policy))
            return await runner.run(inputs)

    @asynccontextmanager
    async def _context(
        self,
        org_id: UUID,
        tool_name: str,
        inputs: SyncInputs,
        *,
        before_write: BeforeWrite,
        on_progress: OnProgress | None = None,
    ) -> AsyncIterator[SyncContext]:
        """The steps' collaborators, with a Vapi client open on the org's key."""
        policy = self._policy
        async with VapiClient(
            inputs.api_key,
            base_url=self._vapi_base_url,
            http_client=self._client(),
            timeout=policy.request_timeout,
            retry_policy=policy.retry_policy,
            before_write=before_write,
        ) as client:
            yield SyncContext(
                self._store,
                client,
                org_id,
                tool_name,
                anyio.CapacityLimiter(policy.max_concurrency),
                inputs.key_source,
                on_progress,
            )


def _instruction(policy: SyncPolicy) -> str | None:
    """The line kept in every assistant's system prompt, or ``None`` when the policy says not."""
    return policy.instruction if policy.instruct_assistants else None


def _result(run: SyncRun, report: RunReport) -> SyncResult:
    """What the caller learns of a successful run: its audit row's figures, and its pins."""
    outcome = report.outcome
    return SyncResult(
        run_id=run.id,
        org_id=run.org_id,
        tool_id=outcome.tool_id or "",
        docs_synced=outcome.docs_synced,
        files_uploaded=outcome.files_uploaded,
        files_reused=outcome.files_reused,
        files_deleted=outcome.files_deleted,
        assistants_updated=outcome.assistants_updated,
        duration_ms=run.duration_ms or 0,
        warnings=outcome.warnings,
        pins=report.pins,
    )


async def _refuse_write() -> None:
    """A dry run's Vapi client sends no write: a bug that tries is stopped before it is sent."""
    raise RuntimeError("A dry run does not write to Vapi")


def _tool_name(value: object) -> str:
    if not isinstance(value, str) or not _TOOL_NAME.fullmatch(value):
        raise ValidationError("tool_name", "must be 1 to 64 letters, digits, underscores or dashes")
    return value


def _roles(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ValidationError("roles", "must be a non-empty list of agent roles")
    for role in value:
        if not isinstance(role, str) or not role.strip():
            raise ValidationError("roles", "every role must be a non-empty string")
        # Not printable covers control characters, NUL and lone surrogates alike.
        if not role.isprintable():
            raise ValidationError("roles", f"{role!r} is not a usable role name")
    return tuple(dict.fromkeys(value))
