"""kbcore.logging: levels from LOG_LEVEL, JSON or console lines, context, redaction."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import structlog
from structlog.testing import capture_logs

import kbcore.logging
from kbcore import KnowledgeBase, ValidationError
from kbcore.logging import REDACTED, configure, get_logger, parse_level, redact_secrets
from kbcore.memory import MemoryStore

pytestmark = pytest.mark.anyio

TOKEN = "sk_live_4f9a8b7c6d5e"


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def clean_structlog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts unconfigured, with no LOG_* variables, and leaves it so."""
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def emit_all_levels() -> None:
    log = structlog.get_logger("kbcore")
    log.debug("kbcore.test.debug")
    log.info("kbcore.test.info")
    log.warning("kbcore.test.warning")
    log.error("kbcore.test.error")


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("level", "seen"),
    [
        ("DEBUG", ["debug", "info", "warning", "error"]),
        ("info", ["info", "warning", "error"]),
        ("Warn", ["warning", "error"]),
        ("WARNING", ["warning", "error"]),
        ("error", ["error"]),
        ("NONE", []),
        ("none", []),
    ],
)
def test_level_filtering(level: str, seen: list[str]) -> None:
    """Events below the level are dropped; NONE drops everything."""
    out = io.StringIO()
    configure(level, json=True, stream=out)
    emit_all_levels()
    structlog.get_logger().critical("kbcore.test.critical")
    expected = [*seen, "critical"] if level.upper() != "NONE" else []
    assert [line["level"] for line in lines(out)] == expected


def test_the_level_comes_from_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no argument, LOG_LEVEL decides, case-insensitively; unset means INFO."""
    assert parse_level() == 20
    monkeypatch.setenv("LOG_LEVEL", "error")
    out = io.StringIO()
    configure(json=True, stream=out)
    emit_all_levels()
    assert [line["event"] for line in lines(out)] == ["kbcore.test.error"]
    monkeypatch.setenv("LOG_LEVEL", "")
    assert parse_level() == 20


@pytest.mark.parametrize("bad", ["verbose", "", "10", 15, True])
def test_an_unknown_level_is_refused(bad: object) -> None:
    """Anything but the known names (or their stdlib numbers) is a ValidationError."""
    with pytest.raises(ValidationError, match="Unknown log level") as caught:
        parse_level(bad)  # type: ignore[arg-type]
    assert caught.value.field == "LOG_LEVEL"


def test_json_lines_carry_level_timestamp_and_fields() -> None:
    """One JSON object per line: event, level, an ISO 8601 UTC timestamp, the fields."""
    out = io.StringIO()
    configure("INFO", json=True, stream=out)
    org_id = uuid.uuid4()
    structlog.get_logger("kbcore").info("kbcore.sync.finished", org_id=org_id, uploaded=3)
    [line] = lines(out)
    assert line["event"] == "kbcore.sync.finished"
    assert line["level"] == "info"
    assert line["uploaded"] == 3
    assert line["org_id"] == str(org_id)
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)


def test_the_console_format_is_for_people() -> None:
    """json=False: a readable line, not JSON, with the event and its fields."""
    out = io.StringIO()
    configure("INFO", json=False, stream=out)
    structlog.get_logger().warning("kbcore.sync.rejected", reason="Rate limited")
    text = out.getvalue()
    assert "kbcore.sync.rejected" in text
    assert "reason=" in text
    assert "warning" in text
    assert not text.startswith("{")
    assert "\x1b[" not in text  # no colours when not writing to a terminal


@pytest.mark.parametrize(
    ("stream", "log_format", "is_json"),
    [
        (io.StringIO, None, True),
        (Terminal, None, False),
        (Terminal, "json", True),
        (io.StringIO, "console", False),
    ],
)
def test_the_format_follows_the_stream_and_log_format(
    monkeypatch: pytest.MonkeyPatch,
    stream: type[io.StringIO],
    log_format: str | None,
    is_json: bool,
) -> None:
    """JSON unless writing to a terminal; LOG_FORMAT overrides that."""
    if log_format is not None:
        monkeypatch.setenv("LOG_FORMAT", log_format)
    out = stream()
    configure("INFO", stream=out)
    structlog.get_logger().info("kbcore.test.info")
    assert out.getvalue().startswith("{") == is_json


async def test_a_request_id_bound_in_a_task_stays_in_that_task() -> None:
    """Two concurrent requests log their own request id, never each other's."""
    out = io.StringIO()
    configure("INFO", json=True, stream=out)

    async def handle(request_id: str) -> None:
        structlog.contextvars.bind_contextvars(request_id=request_id)
        await anyio.lowlevel.checkpoint()  # let the other requests interleave
        structlog.get_logger("kbcore").info("kbcore.test.request", handled=request_id)

    async with anyio.create_task_group() as tg:
        for request_id in ("req-1", "req-2", "req-3"):
            tg.start_soon(handle, request_id)
    found = lines(out)
    assert len(found) == 3
    assert all(line["request_id"] == line["handled"] for line in found)


async def test_kbcore_events_go_through_the_configuration() -> None:
    """The library's own events come out as configured, with org_id and the request id."""
    out = io.StringIO()
    configure("DEBUG", json=True, stream=out)
    org_id = uuid.uuid4()
    # Bound for this block only: async tests share one context, and it must not leak.
    with structlog.contextvars.bound_contextvars(request_id="req-42"):
        await KnowledgeBase(MemoryStore()).create(org_id, filename="a.md", content="x")
    [line] = lines(out)
    assert line["event"] == "kbcore.document.created"
    assert (line["org_id"], line["request_id"]) == (str(org_id), "req-42")


def test_secrets_are_redacted_wherever_they_appear() -> None:
    """Secret keys at any depth, Bearer tokens and URL passwords in any string."""
    out = io.StringIO()
    configure("INFO", json=True, stream=out)
    structlog.get_logger().info(
        f"kbcore.test.sent Authorization: Bearer {TOKEN}",
        api_key=TOKEN,
        headers={"Authorization": f"Bearer {TOKEN}", "X-Api-Key": TOKEN, "accept": "json"},
        calls=[{"password": "hunter2", "accessToken": TOKEN}, f"bearer {TOKEN}"],
        dsn=f"postgresql://app:{TOKEN}@db.internal:5432/kb",
        max_tokens=512,
    )
    text = out.getvalue()
    assert TOKEN not in text
    assert "hunter2" not in text
    [line] = lines(out)
    assert line["api_key"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED, "accept": "json"}
    assert line["calls"] == [{"password": REDACTED, "accessToken": REDACTED}, "bearer ***"]
    assert line["dsn"] == "postgresql://app:***@db.internal:5432/kb"
    assert line["event"] == "kbcore.test.sent Authorization: Bearer ***"
    assert line["max_tokens"] == 512


def test_secrets_in_a_traceback_are_redacted() -> None:
    """An exception's text is scrubbed like any other string."""
    out = io.StringIO()
    configure("INFO", json=True, stream=out)
    error = RuntimeError(f"upstream said: Bearer {TOKEN} is invalid")
    structlog.get_logger().error("kbcore.test.failed", exc_info=error)
    [line] = lines(out)
    assert "RuntimeError: upstream said: Bearer *** is invalid" in line["exception"]
    assert TOKEN not in out.getvalue()


def test_redact_secrets_is_a_processor_of_its_own() -> None:
    """A host can put redact_secrets in its own chain (here: structlog's capture_logs)."""
    with capture_logs(processors=[redact_secrets]) as captured:
        structlog.get_logger().info("kbcore.test.call", token=TOKEN, note=f"Bearer {TOKEN}")
    assert captured == [
        {"event": "kbcore.test.call", "token": REDACTED, "note": "Bearer ***", "log_level": "info"}
    ]


def test_importing_kbcore_configures_nothing() -> None:
    """The library (its logging helpers included) leaves structlog unconfigured on import."""
    code = (
        "import structlog, kbcore, kbcore.logging, kbcore.report, kbcore.cli;"
        "assert not structlog.is_configured()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_module_is_the_package_logging_not_the_stdlib() -> None:
    """kbcore.logging shadows nothing: the stdlib's logging is still itself."""
    import logging

    assert kbcore.logging.__name__ == "kbcore.logging"
    assert logging.getLogger is not None
    assert not hasattr(logging, "redact_secrets")


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer ***"),
        (f"basic {TOKEN}, then", "basic ***, then"),
        (
            f"postgres://app:{TOKEN}@db:5432/kb?sslmode=require",
            "postgres://app:***@db:5432/kb?sslmode=require",
        ),
        (
            "postgresql://postgres:@/postgres?host=/tmp/x",
            "postgresql://postgres:@/postgres?host=/tmp/x",
        ),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact_text_scrubs_credentials_in_free_text(text: str, clean: str) -> None:
    assert kbcore.logging.redact_text(text) == clean


# Silent until the host configures logging


def test_unconfigured_kbcore_prints_nothing() -> None:
    """No configuration at all: a document write and a warning print nothing anywhere."""
    code = """
import asyncio, uuid
from kbcore import KnowledgeBase
from kbcore.logging import get_logger
from kbcore.memory import MemoryStore

async def main():
    await KnowledgeBase(MemoryStore()).create(uuid.uuid4(), filename="a.md", content="x")
    get_logger().warning("kbcore.test.warning", reason="nobody asked")

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (done.stdout, done.stderr) == ("", "")


async def test_a_host_s_standard_logging_shows_kbcore_s_events() -> None:
    """With only ``logging`` configured, events arrive as records of the ``kbcore`` logger:
    the event and its fields as text, secrets redacted, the caller's line as the source."""
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    kbcore_logger = logging.getLogger("kbcore")
    kbcore_logger.addHandler(handler)
    kbcore_logger.setLevel(logging.DEBUG)
    try:
        org_id = uuid.uuid4()
        with structlog.contextvars.bound_contextvars(request_id="req-7"):
            document = await KnowledgeBase(MemoryStore()).create(
                org_id, filename="a.md", content="x"
            )
        get_logger().bind(run_id="r1").warning(
            "kbcore.test.call", api_key=TOKEN, note=f"Bearer {TOKEN}", words="two words"
        )
    finally:
        kbcore_logger.removeHandler(handler)
        kbcore_logger.setLevel(logging.NOTSET)
    created, call = records
    assert (created.name, created.levelname, created.funcName) == ("kbcore", "DEBUG", "create")
    assert created.getMessage() == (
        f"kbcore.document.created request_id=req-7 org_id={org_id} "
        f"document_id={document.id} category=general"
    )
    assert call.levelname == "WARNING"
    assert call.getMessage() == (
        "kbcore.test.call run_id=r1 api_key=*** note='Bearer ***' words='two words'"
    )


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)  # as a real handler would: the message is rendered here
        self.records.append(record)


class _Counted:
    """A field value that counts how often it is rendered."""

    renders = 0

    def __repr__(self) -> str:
        type(self).renders += 1
        return "counted"


@pytest.mark.parametrize("configured", [False, True], ids=["logging", "structlog"])
def test_an_event_below_the_level_renders_nothing(configured: bool) -> None:
    """Below the threshold an event costs a level check: no field is rendered, none written."""
    out = io.StringIO()
    if configured:
        configure("INFO", json=True, stream=out)
    handler = _Collect([])
    logging.getLogger("kbcore").addHandler(handler)  # the stdlib default: WARNING and above
    _Counted.renders = 0
    try:
        get_logger().debug("kbcore.test.debug", value=_Counted())
        get_logger().info("kbcore.test.info", value=_Counted())
    finally:
        logging.getLogger("kbcore").removeHandler(handler)
    assert handler.records == []  # logging's default level is WARNING
    if configured:
        assert [line["event"] for line in lines(out)] == ["kbcore.test.info"]
    assert _Counted.renders == (1 if configured else 0)  # only for the INFO line written
