"""How kbcore logs, and structlog set up for hosts and the ``kbcore`` command.

kbcore is silent until its host configures logging, as a library should. Its
events go through structlog once the host configured structlog, and otherwise
to the standard library's ``kbcore`` logger, which has only a ``NullHandler``
(so ``logging.basicConfig()`` or any handler shows them). Importing kbcore
configures nothing. A host (or the command) that wants kbcore's own set-up calls
``configure()`` once at start-up::

    import kbcore.logging

    kbcore.logging.configure()  # LOG_LEVEL, JSON unless writing to a terminal

Bind a request id with ``structlog.contextvars.bind_contextvars(request_id=...)``
and every event logged in that context (that task) carries it.
"""

from __future__ import annotations

# This module is kbcore.logging: these imports are absolute, so "logging" is the stdlib's.
import logging as stdlib_logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from kbcore.errors import ValidationError

__all__ = [
    "LEVELS",
    "REDACTED",
    "Logger",
    "configure",
    "get_logger",
    "parse_level",
    "redact_secrets",
    "redact_text",
]

#: What ``LOG_LEVEL`` may say (any case). ``NONE`` (``None`` here) logs nothing.
LEVELS: Mapping[str, int | None] = {
    "DEBUG": stdlib_logging.DEBUG,
    "INFO": stdlib_logging.INFO,
    "WARN": stdlib_logging.WARNING,
    "WARNING": stdlib_logging.WARNING,
    "ERROR": stdlib_logging.ERROR,
    "CRITICAL": stdlib_logging.CRITICAL,
    "NONE": None,
}

#: What a secret is replaced with.
REDACTED = "***"

_DEFAULT_LEVEL = "INFO"

# Key names are compared without case, "_" or "-": apiKey, api_key and X-Api-Key alike.
_SECRET_KEY_PARTS = (
    "apikey",
    "privatekey",
    "authorization",
    "password",
    "passwd",
    "secret",
    "cookie",
    "credential",
)
# "token", "access_token", "idToken"; not "max_tokens" or "token_count".
_SECRET_KEY_ENDINGS = ("token",)

# Credentials inside free text: an Authorization header's value, a URL's password.
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[^\s\"',;]+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]*://[^:/?#\s@]*:)[^@/?#\s]+@", re.IGNORECASE)

# Nested values deeper than this are not walked (a guard against cycles).
_MAX_DEPTH = 12

#: The standard library logger kbcore's events go to until structlog is configured.
_STDLIB_LOGGER = stdlib_logging.getLogger("kbcore")
# What the logging HOWTO asks of libraries: no output (not even warnings, through
# logging's last-resort handler) until the application configures logging.
_STDLIB_LOGGER.addHandler(stdlib_logging.NullHandler())
_STRUCTLOG_LOGGER = structlog.get_logger("kbcore")

# structlog's filtering loggers, by the level below which each one drops events.
_FILTERING_LEVELS: Mapping[type, int] = {
    structlog.make_filtering_bound_logger(level): level
    for level in (0, *sorted(set(filter(None, LEVELS.values()))))
}
# Fields in a standard library message are shown bare unless one of these makes it ambiguous.
_QUOTED = frozenset(" \t\"'=")


class Logger:
    """kbcore's own logger: structlog once the host configured it, else standard ``logging``.

    The methods are structlog's (``log.info("kbcore.sync.started", org_id=...)``).
    An event below the threshold costs a flag test and a level lookup; nothing is
    rendered, so debug events are free when nobody asked for them.
    """

    __slots__ = ("_context",)

    def __init__(self, context: Mapping[str, Any] | None = None) -> None:
        self._context: dict[str, Any] = dict(context or {})

    def bind(self, **values: Any) -> Logger:
        """A logger that adds ``values`` to every event."""
        return Logger({**self._context, **values})

    def debug(self, event: str, **fields: Any) -> None:
        self._log(stdlib_logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(stdlib_logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(stdlib_logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(stdlib_logging.ERROR, "error", event, fields)

    def _log(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            if level >= _FILTERING_LEVELS.get(structlog.get_config()["wrapper_class"], 0):
                bound = _STRUCTLOG_LOGGER.bind(**self._context)
                getattr(bound, method)(event, **fields)
        elif _STDLIB_LOGGER.isEnabledFor(level):
            # The context variables are read now: a handler may format the record later.
            values = {**structlog.contextvars.get_contextvars(), **self._context, **fields}
            # stacklevel 3: the record names the line that logged, not this module.
            _STDLIB_LOGGER.log(level, _Message(event, values), stacklevel=3)


def get_logger() -> Logger:
    """The logger kbcore's modules log with (a host's extension of kbcore may use it too)."""
    return Logger()


class _Message:
    """``event key=value ...``, with secrets redacted, rendered only if a handler formats it."""

    __slots__ = ("event", "values")

    def __init__(self, event: str, values: dict[str, Any]) -> None:
        self.event = event
        self.values = values

    def __str__(self) -> str:
        clean = redact_secrets(None, "", {"event": self.event, **self.values})
        pairs = (f"{key}={_shown(value)}" for key, value in clean.items() if key != "event")
        return " ".join((str(clean["event"]), *pairs))


def _shown(value: object) -> str:
    if isinstance(value, str) and value.isprintable() and not _QUOTED.intersection(value):
        return value or "''"
    return repr(value)


def parse_level(value: str | int | None = None) -> int | None:
    """The threshold a level name means; ``None`` for ``NONE`` (log nothing).

    ``None`` reads ``LOG_LEVEL`` from the environment, defaulting to INFO.
    Raises ``ValidationError`` for anything else.
    """
    if value is None:
        value = os.environ.get("LOG_LEVEL", "").strip() or _DEFAULT_LEVEL
    if isinstance(value, int) and not isinstance(value, bool):
        if value in LEVELS.values():
            return value
    elif isinstance(value, str) and value.strip().upper() in LEVELS:
        return LEVELS[value.strip().upper()]
    allowed = ", ".join(LEVELS)
    raise ValidationError("LOG_LEVEL", f"Unknown log level {value!r}. Must be one of: {allowed}")


def configure(
    level: str | int | None = None, json: bool | None = None, *, stream: TextIO | None = None
) -> None:
    """Configure structlog for the whole process: level, format, timestamps, redaction.

    ``level`` as ``parse_level`` reads it (``None``: ``LOG_LEVEL``, default INFO).
    ``json=None`` follows ``LOG_FORMAT`` (``json`` or ``console``) when set, and
    otherwise writes JSON unless ``stream`` is a terminal. Events go to ``stream``
    (standard error by default), one per line, with an ISO 8601 UTC ``timestamp``,
    the ``level``, the host's context variables, and every secret redacted.
    """
    threshold = parse_level(level)
    out = sys.stderr if stream is None else stream
    as_json = _wants_json(json, out)
    renderer: Processor = (
        structlog.processors.JSONRenderer(default=_json_default)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=_is_terminal(out))
    )
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # Tracebacks become text before redaction, so that their secrets are scrubbed too.
        structlog.processors.format_exc_info,
        redact_secrets,
        renderer,
    ]
    if threshold is None:
        processors.insert(0, _drop)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            stdlib_logging.CRITICAL if threshold is None else threshold
        ),
        context_class=dict,
        logger_factory=structlog.WriteLoggerFactory(out),
        # Not cached: a later configure() (a test, a host that reconfigures) takes effect.
        cache_logger_on_first_use=False,
    )


def _json_default(value: object) -> str:
    # UUIDs, datetimes, Decimals and paths read best as their str(), not their repr().
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _wants_json(json: bool | None, stream: TextIO) -> bool:
    if json is not None:
        return json
    fmt = os.environ.get("LOG_FORMAT", "").strip().lower()
    if fmt in {"json", "console"}:
        return fmt == "json"
    return not _is_terminal(stream)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _drop(_logger: WrappedLogger, _method: str, _event: EventDict) -> EventDict:
    # LOG_LEVEL=NONE: the filtering logger has no level above CRITICAL, so drop here.
    raise structlog.DropEvent


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """A structlog processor that replaces secrets with ``***`` wherever they appear.

    Values under secret-looking keys (api keys, authorization, passwords, secrets,
    cookies, tokens) are replaced, at any depth of nested mappings and sequences;
    in every string, ``Bearer <token>`` and a URL's password are scrubbed.
    """
    return {key: _redact_item(key, value, 0) for key, value in event_dict.items()}


def _redact_item(key: object, value: Any, depth: int) -> Any:
    if value is not None and isinstance(key, str) and _is_secret_key(key):
        return REDACTED
    return _redact(value, depth)


def _redact(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {key: _redact_item(key, item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_redact(item, depth + 1) for item in value]
        # Plain tuples stay tuples; sets become lists (JSON has no sets anyway).
        return tuple(items) if isinstance(value, tuple) else items
    return value


def _is_secret_key(key: str) -> bool:
    name = key.lower().replace("_", "").replace("-", "")
    return any(part in name for part in _SECRET_KEY_PARTS) or name.endswith(_SECRET_KEY_ENDINGS)


def redact_text(text: str) -> str:
    """``text`` with ``Bearer``/``Basic`` credentials and URL passwords replaced by ``***``."""
    text = _BEARER.sub(lambda match: f"{match.group(1)} {REDACTED}", text)
    return _URL_PASSWORD.sub(lambda match: f"{match.group(1)}{REDACTED}@", text)
