"""One Vapi call on the wire: per-attempt timeout, retries, errors and their log lines."""

from __future__ import annotations

import email.utils
import socket
import ssl
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import attrs
import httpx
import stamina

from kbcore._domain import Secret
from kbcore.errors import VapiError
from kbcore.logging import get_logger
from kbcore.vapi._errors import (
    VapiNotFound,
    VapiTimeout,
    VapiUnavailable,
    VapiUnreachable,
    error_for_status,
)
from kbcore.vapi._quiet_retries import quiet_stamina_logging
from kbcore.vapi._retries import RetryPolicy, failure_kind, parse_retry_after, retry_wait

__all__ = ["Exchange", "VapiRequest"]

log = get_logger()


@attrs.frozen
class VapiRequest:
    """One Vapi call, rebuilt into a fresh HTTP request for every attempt.

    ``what`` names the object for messages, e.g. ``"file 1f3c..."``.
    """

    method: str
    path: str
    what: str
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    data: dict[str, str] | None = None


@attrs.frozen
class Exchange:
    """Sends ``VapiRequest``s with a ``Bearer`` key, retrying what ``policy`` allows."""

    api_key: Secret = attrs.field(repr=False)
    base_url: str
    timeout: float
    policy: RetryPolicy
    http_client: httpx.AsyncClient = attrs.field(repr=False)

    async def call(self, request: VapiRequest, *, missing_ok: bool = False) -> Any:
        """The decoded JSON answer; ``None`` for a 404 when ``missing_ok``."""
        try:
            response = await self._send_with_retries(request)
        except VapiNotFound as error:
            if not missing_ok:
                _log_failure(request, error)
                raise
            log.info("kbcore.vapi.already_gone", method=request.method, path=request.path)
            return None
        except VapiError as error:
            _log_failure(request, error)
            raise
        try:
            return response.json()
        except ValueError as exc:
            raise VapiError(
                f"Vapi sent an answer about {request.what} that kbcore could not read",
                status_code=response.status_code,
            ) from exc

    async def _send_with_retries(self, request: VapiRequest) -> httpx.Response:
        policy = self.policy
        last_error: VapiError | None = None
        quiet_stamina_logging()
        # stamina bounds the waits it schedules; this scope also cuts an attempt in flight.
        with anyio.move_on_after(policy.timeout):
            deadline = anyio.current_time() + policy.timeout
            async for attempt in stamina.retry_context(
                on=self._retry_hook(request, deadline),
                attempts=policy.attempts,
                timeout=policy.timeout,
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                wait_jitter=policy.wait_jitter,
                wait_exp_base=policy.wait_exp_base,
            ):
                with attempt:
                    if last_error is not None:
                        _log_retry(request, attempt.num, last_error)
                    try:
                        return await self._attempt(request)
                    except VapiError as error:
                        last_error = error
                        raise
        if last_error is not None:
            raise last_error
        raise VapiTimeout(
            f"Vapi at {_display_url(self.base_url)} did not answer within {policy.timeout:g} s"
        )

    def _retry_hook(
        self, request: VapiRequest, deadline: float
    ) -> Callable[[Exception], bool | float]:
        policy = self.policy
        failures: Counter[str] = Counter()

        def hook(exc: Exception) -> bool | float:
            wait = retry_wait(exc, retry_after_cap=policy.retry_after_cap)
            if wait is False:
                return False
            kind = failure_kind(exc)
            failures[kind] += 1
            if failures[kind] >= policy.tries_for(exc):
                # Its own budget is spent (a refused connection, a server that never
                # answers): fail now rather than spend the rest of the call's attempts.
                return False
            if isinstance(wait, bool) or anyio.current_time() + wait < deadline:
                return wait
            # Waiting as asked would pass the call's bound: fail now and say so.
            log.info(
                "kbcore.vapi.retry_abandoned",
                method=request.method,
                path=request.path,
                wait=wait,
                reason="the wait Vapi asked for passes the call's time bound",
            )
            return False

        return hook

    async def _attempt(self, request: VapiRequest) -> httpx.Response:
        error: VapiError
        where = _display_url(self.base_url)
        connect_within = min(self.policy.connect_timeout, self.timeout)
        try:
            with anyio.fail_after(self.timeout):
                response = await self.http_client.request(
                    request.method,
                    f"{self.base_url}{request.path}",
                    headers={
                        "Authorization": f"Bearer {self.api_key.value}",
                        "Accept": "application/json",
                    },
                    json=request.json,
                    files=request.files,
                    data=request.data,
                    timeout=httpx.Timeout(self.timeout, connect=connect_within),
                )
        # Each error is raised below, outside this block: an httpx error holds the request
        # and its Authorization header, and must not travel along as the new error's context.
        except httpx.ConnectTimeout:
            error = VapiUnreachable(
                f"Vapi at {where} did not accept a connection within {connect_within:g} s"
            )
        except (TimeoutError, httpx.TimeoutException):
            error = VapiTimeout(f"Vapi at {where} did not answer within {self.timeout:g} s")
        except httpx.ConnectError as exc:
            error = VapiUnreachable(f"Vapi at {where} {_connect_failure(exc)}")
        except httpx.RemoteProtocolError:
            error = VapiUnavailable(f"Vapi at {where} closed the connection without answering")
        except httpx.TransportError as exc:
            error = VapiUnavailable(f"Vapi at {where} could not be reached ({type(exc).__name__})")
        else:
            if response.is_success:
                return response
            error = _error_from(response, request.what)
        log.debug(
            "kbcore.vapi.attempt_failed",
            method=request.method,
            path=request.path,
            status_code=error.status_code,
            error=type(error).__name__,
        )
        raise error


def _display_url(url: str) -> str:
    """``url`` as messages show it: without credentials, query or fragment."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "the configured URL"
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


def _connect_failure(error: httpx.ConnectError) -> str:
    """Why no connection was made, from the OS error under httpx's, as a predicate."""
    seen: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in seen:
        seen.append(cause)
        if isinstance(cause, ConnectionRefusedError):
            return "refused the connection"
        if isinstance(cause, socket.gaierror):
            return "could not be found: its host name does not resolve (DNS)"
        if isinstance(cause, ssl.SSLError):
            detail = getattr(cause, "verify_message", None) or cause.reason or "no detail"
            return f"failed the TLS handshake ({detail})"
        cause = cause.__cause__ or cause.__context__
    return f"could not be reached ({type(error).__name__})"


def _log_failure(request: VapiRequest, error: VapiError) -> None:
    log.warning(
        "kbcore.vapi.request_failed",
        method=request.method,
        path=request.path,
        status_code=error.status_code,
        error=type(error).__name__,
        vapi_message=error.vapi_message,
    )


def _log_retry(request: VapiRequest, attempt: int, previous: VapiError) -> None:
    log.info(
        "kbcore.vapi.retrying",
        method=request.method,
        path=request.path,
        attempt=attempt,
        after=type(previous).__name__,
        status_code=previous.status_code,
        retry_after=getattr(previous, "retry_after", None),
    )


def _error_from(response: httpx.Response, what: str) -> VapiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    return error_for_status(
        response.status_code,
        body,
        what=what,
        retry_after=parse_retry_after(
            response.headers.get("retry-after"), now=_server_date(response)
        ),
    )


def _server_date(response: httpx.Response) -> datetime | None:
    """When the server answered, by its own clock: what a Retry-After date is relative to."""
    value = response.headers.get("date")
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
