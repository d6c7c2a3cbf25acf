"""How a failed Vapi call becomes the SyncFailed a user reads."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

from kbcore.errors import KbError, SyncFailed, VapiError
from kbcore.vapi import VapiAuthenticationError, VapiBadRequest

T = TypeVar("T")


async def vapi_step(what: str, call: Awaitable[T]) -> T:
    """Await one Vapi call; its failure fails the sync with "Could not <what> on Vapi"."""
    try:
        return await call
    except VapiError as error:
        raise failure(f"Could not {what} on Vapi", [error]) from error


def failure(reason: str, errors: Sequence[KbError]) -> SyncFailed:
    """A SyncFailed whose reason speaks to the user; Vapi's own words go to provider_message.

    A request Vapi refused for a property it does not know is named in the reason:
    kbcore and Vapi's API disagree, and no retry will change that.
    """
    if any(isinstance(error, VapiAuthenticationError) for error in errors):
        reason = "Vapi rejected the API key; check the org's Vapi integration"
    unknown = [
        name
        for error in errors
        if isinstance(error, VapiBadRequest)
        for name in error.unknown_properties
    ]
    if unknown:
        names = ", ".join(f"'{name}'" for name in dict.fromkeys(unknown))
        reason = (
            f"{reason}: Vapi does not accept {names} in what kbcore sent; "
            "this version of kbcore and Vapi's API disagree"
        )
    details = [
        f"{error.status_code or '-'}: {error.vapi_message or error}"
        for error in errors
        if isinstance(error, VapiError)
    ]
    return SyncFailed(reason, provider_message="; ".join(details[:5]) or None)
