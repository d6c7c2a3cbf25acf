"""How Vapi failures reach a caller: one class per decision a caller makes.

Each message is safe to show to a person; what Vapi itself said is kept in
``vapi_message``. ``VapiTransientError`` marks the failures worth retrying.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from kbcore.errors import VapiError

__all__ = [
    "VapiAuthenticationError",
    "VapiBadRequest",
    "VapiConflict",
    "VapiNotFound",
    "VapiRateLimited",
    "VapiServerError",
    "VapiTimeout",
    "VapiTransientError",
    "VapiUnavailable",
    "VapiUnreachable",
    "error_for_status",
]


_AUTH_MESSAGE = "Vapi rejected the API key; check the organisation's Vapi private key"


class VapiAuthenticationError(VapiError):
    """Vapi rejected the API key (401 or 403): retrying cannot help, fixing the key can."""


class VapiBadRequest(VapiError):
    """Vapi rejected the request as invalid (400, 422): a bug or an input Vapi does not accept.

    ``unknown_properties`` names the fields Vapi said "should not exist": the
    request and Vapi's API disagree, and sending it again cannot help.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = 400,
        vapi_message: str | None = None,
        unknown_properties: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, status_code=status_code, vapi_message=vapi_message)
        self.unknown_properties = unknown_properties


class VapiNotFound(VapiError):
    """The file, tool or assistant does not exist in Vapi (any more)."""


class VapiConflict(VapiError):
    """Vapi refused a change because of the object's state.

    ``error`` is Vapi's code for the reason, e.g. ``tool_pinned``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = 409,
        vapi_message: str | None = None,
        error: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, vapi_message=vapi_message)
        self.error = error


class VapiTransientError(VapiError):
    """A failure that may pass: worth retrying, after ``retry_after`` seconds when Vapi said so."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        vapi_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, vapi_message=vapi_message)
        self.retry_after = retry_after


class VapiRateLimited(VapiTransientError):
    """Vapi answered 429 Too Many Requests."""


class VapiServerError(VapiTransientError):
    """Vapi failed on its side (5xx)."""


class VapiUnavailable(VapiTransientError):
    """No answer came from Vapi: the connection failed or was dropped."""


class VapiUnreachable(VapiUnavailable):
    """No connection to Vapi could be made: refused, unknown host, TLS failure, or too slow.

    The request never reached Vapi, so it changed nothing there.
    """


class VapiTimeout(VapiUnavailable):
    """Vapi did not answer in time (a client-side timeout or a 408)."""


# Answers that retrying cannot change: the class, and the message with {what} and {status}.
_PERMANENT: Mapping[int, tuple[type[VapiError], str]] = {
    401: (VapiAuthenticationError, _AUTH_MESSAGE),
    403: (VapiAuthenticationError, _AUTH_MESSAGE),
    404: (VapiNotFound, "Vapi has no {what}"),
}
_CONFLICT_REASONS = {
    "tool_pinned": "it is pinned",
    "tool_write_conflict": "another write to it got in the way",
}
# class-validator's whitelist message; the name is a property path such as knowledgeBases.0.model.
_UNKNOWN_PROPERTY = re.compile(r"property ([A-Za-z0-9_.\[\]-]{1,100}) should not exist")


def error_for_status(
    status_code: int,
    body: Any,
    *,
    what: str,
    retry_after: float | None = None,
) -> VapiError:
    """The error for an HTTP error answer; ``what`` names the object, e.g. ``file 1f3c…``."""
    vapi_message = _vapi_message(body)
    if status_code == 409:
        code = body.get("error") if isinstance(body, Mapping) else None
        code = code if isinstance(code, str) else None
        reason = _CONFLICT_REASONS.get(code or "", "of a conflict")
        return VapiConflict(
            f"Vapi refused to change {what} because {reason}",
            vapi_message=vapi_message,
            error=code,
        )
    if status_code in (400, 422):
        return _bad_request(status_code, vapi_message, what)
    if status_code in (408, 429) or status_code >= 500:
        return _transient(status_code, vapi_message, retry_after)
    cls, message = _PERMANENT.get(
        status_code, (VapiError, "Vapi answered HTTP {status} for {what}")
    )
    return cls(
        message.format(what=what, status=status_code),
        status_code=status_code,
        vapi_message=vapi_message,
    )


def _bad_request(status_code: int, vapi_message: str | None, what: str) -> VapiBadRequest:
    unknown = tuple(dict.fromkeys(_UNKNOWN_PROPERTY.findall(vapi_message or "")))
    message = f"Vapi rejected the request for {what}"
    if unknown:
        message += f": it does not accept {_properties(unknown)}"
    return VapiBadRequest(
        message, status_code=status_code, vapi_message=vapi_message, unknown_properties=unknown
    )


def _properties(names: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{name}'" for name in names)
    return f"the propert{'y' if len(names) == 1 else 'ies'} {quoted}"


def _transient(
    status_code: int, vapi_message: str | None, retry_after: float | None
) -> VapiTransientError:
    cls: type[VapiTransientError]
    if status_code == 429:
        cls, message = VapiRateLimited, "Vapi is rate limiting requests; try again shortly"
        if retry_after is not None:
            message = (
                f"Vapi is rate limiting requests; try again in {max(1, math.ceil(retry_after))}s"
            )
    elif status_code == 408:
        cls, message = VapiTimeout, "Vapi timed out (HTTP 408); try again later"
    else:
        cls = VapiServerError
        message = f"Vapi had a server error (HTTP {status_code}); try again later"
    return cls(message, status_code=status_code, vapi_message=vapi_message, retry_after=retry_after)


def _vapi_message(body: Any) -> str | None:
    """NestJS sends ``message`` as a string, or as a list of strings for validation errors."""
    if not isinstance(body, Mapping):
        return None
    message = body.get("message")
    if isinstance(message, str):
        return message
    if isinstance(message, list):
        return "; ".join(str(item) for item in message)
    return None
