"""How a failed Vapi call becomes the SyncFailed a user reads."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

from kbcore.errors import KbError, SyncFailed, VapiError
from kbcore.sync._context import SyncContext
from kbcore.vapi import VapiAuthenticationError, VapiBadRequest, VapiUnavailable

T = TypeVar("T")


async def vapi_step(ctx: SyncContext, what: str, call: Awaitable[T]) -> T:
    """Await one Vapi call; its failure fails the sync with "Could not <what> on Vapi"."""
    try:
        return await call
    except VapiError as error:
        raise failure(ctx, f"Could not {what} on Vapi", [error]) from error


def failure(ctx: SyncContext, reason: str, errors: Sequence[KbError]) -> SyncFailed:
    """A SyncFailed whose reason speaks to the user; Vapi's own words go to provider_message.

    A rejected key is named by where it came from. When Vapi gave no answer at all,
    the reason says why (refused, DNS, timeout, TLS). A request Vapi refused for a
    property it does not know is named in the reason: kbcore and Vapi's API
    disagree, and no retry will change that.
    """
    vapi_errors = [error for error in errors if isinstance(error, VapiError)]
    # What no retry changes: a rejected key, a request Vapi's API does not accept.
    permanent = False
    if any(isinstance(error, VapiAuthenticationError) for error in vapi_errors):
        reason = f"Vapi rejected the API key; check {ctx.key_source}"
        permanent = True
    elif vapi_errors and all(_unanswered(error) for error in vapi_errors):
        reason = f"{reason}: {vapi_errors[0]}"
    unknown = [
        name
        for error in vapi_errors
        if isinstance(error, VapiBadRequest)
        for name in error.unknown_properties
    ]
    if unknown:
        names = ", ".join(f"'{name}'" for name in dict.fromkeys(unknown))
        reason = (
            f"{reason}: Vapi does not accept {names} in what kbcore sent; "
            "this version of kbcore and Vapi's API disagree"
        )
        permanent = True
    details = [f"{e.status_code or '-'}: {e.vapi_message or e}" for e in vapi_errors]
    return SyncFailed(
        reason,
        provider_message="; ".join(details[:5]) or None,
        kind="permanent" if permanent else "transient",
    )


def _unanswered(error: VapiError) -> bool:
    """No answer came: no connection, a timeout, a dropped connection (not a 408)."""
    return isinstance(error, VapiUnavailable) and error.status_code is None
