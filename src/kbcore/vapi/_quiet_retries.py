"""stamina's own retry log line, silent for kbcore's retries until the host sets logging up.

stamina logs every retry it schedules (``stamina.retry_scheduled``) through structlog
when structlog is installed, configured or not; unconfigured structlog prints to
standard output. kbcore logs each of its retries itself (``kbcore.vapi.retrying``,
through ``kbcore.logging``: silent until the host configures logging), so stamina's
line for a kbcore retry is dropped until the host configures structlog. Every other
hook (the host's own, Prometheus, the command's progress) is left as it is.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import structlog
from stamina.instrumentation import (
    RetryDetails,
    RetryHook,
    get_on_retry_hooks,
    set_on_retry_hooks,
)

from kbcore.errors import KbError

__all__ = ["quiet_stamina_logging"]

# The module of stamina's structlog hook (stamina.instrumentation.StructlogOnRetryHook).
_STAMINA_STRUCTLOG = "stamina.instrumentation._structlog"


class _QuietForKbcore:
    """stamina's structlog hook, skipped for kbcore's retries while structlog is unconfigured."""

    __slots__ = ("wrapped",)

    def __init__(self, wrapped: RetryHook) -> None:
        self.wrapped = wrapped

    def __call__(self, details: RetryDetails) -> AbstractContextManager[None] | None:
        if isinstance(details.caused_by, KbError) and not structlog.is_configured():
            return None
        return self.wrapped(details)


def quiet_stamina_logging() -> None:
    """Wrap stamina's structlog hook, if it is among the hooks in use; once."""
    hooks = get_on_retry_hooks()
    if not any(_is_stamina_structlog(hook) for hook in hooks):
        return
    set_on_retry_hooks(
        [_QuietForKbcore(hook) if _is_stamina_structlog(hook) else hook for hook in hooks]
    )


def _is_stamina_structlog(hook: object) -> bool:
    return getattr(hook, "__module__", None) == _STAMINA_STRUCTLOG
