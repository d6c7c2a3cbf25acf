"""docs/operations.md: the commands it shows exist, and its first hour runs as written
(its Python runs in test_docs)."""

from __future__ import annotations

import os
import re
import sys
import uuid
from pathlib import Path

import anyio
import pytest

from kbcore.cli import build_parser
from kbcore.testing import FakeVapi, serve_fake_vapi
from tests.cli.conftest import clean_environment

DOC = Path(__file__).parents[1] / "docs" / "operations.md"
PYTHON = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
CONSOLE = re.compile(r"^```console\n(.*?)^```$", re.DOTALL | re.MULTILINE)
FIRST_HOUR = re.compile(r"^```bash first-hour\n(.*?)^```$", re.DOTALL | re.MULTILINE)
SQL = re.compile(r"\b(select|insert|update|delete|create table|psql)\b", re.IGNORECASE)


def test_every_command_shown_parses() -> None:
    """The command lines of the guide are valid for the parser (ids filled in)."""
    parser = build_parser()
    ids = {
        "ORG_ID": "550e8400-e29b-41d4-a716-446655440000",
        "DOCUMENT_ID": "660e8400-e29b-41d4-a716-446655440000",
        "AGENT_ID": "770e8400-e29b-41d4-a716-446655440000",
    }
    commands = [
        line.split("#")[0].split()
        for block in CONSOLE.finditer(DOC.read_text(encoding="utf-8"))
        for line in block.group(1).splitlines()
        if "kbcore " in line and not line.startswith("export ")
    ]
    assert len(commands) >= 19
    for words in commands:
        args = [ids.get(word, word) for word in words[words.index("kbcore") + 1 :]]
        assert parser.parse_args(args).handler is not None


@pytest.mark.anyio
async def test_the_first_hour_runs_as_written(
    kbcore_empty_database_dsn: str, tmp_path: Path
) -> None:
    """From an empty database to an org synced to Vapi (FakeVapi on loopback), with the
    commands of the guide only: no SQL, and the key in no output."""
    [script] = FIRST_HOUR.findall(DOC.read_text(encoding="utf-8"))
    assert SQL.search(script.replace("kbcore docs", "")) is None
    fake = FakeVapi(api_key=f"sk-{uuid.uuid4()}")
    inbound = fake.add_assistant(name="Inbound sales")
    outbound = fake.add_assistant(name="Outbound sales")
    (tmp_path / "vapi-key.txt").write_text(fake.api_key + "\n", encoding="utf-8")
    async with serve_fake_vapi(fake) as url:
        env = clean_environment(
            DATABASE_URL=kbcore_empty_database_dsn,
            VAPI_BASE_URL=url,
            ORG=str(uuid.uuid4()),
            INBOUND_ASSISTANT=inbound,
            OUTBOUND_ASSISTANT=outbound,
            # The installed command, as an operator's shell finds it.
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        with anyio.fail_after(120):
            done = await anyio.run_process(
                ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, check=False
            )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    assert "The key from the org's Vapi integration works: Vapi shows 2 assistants." in out
    assert "Imported 2 items: 2 created, 0 updated, 0 skipped, 0 rejected" in out
    assert "Synced 2 documents: 2 uploaded, 0 reused, 0 deleted" in out
    assert "2 assistants now use the query tool" in out
    [tool] = fake.tools.values()
    assert sorted(f.name for f in fake.files.values()) == ["objections.md", "pricing.md"]
    for assistant in (inbound, outbound):
        assert tool["id"] in fake.assistants[assistant]["model"]["toolIds"]
    assert fake.api_key not in out + err
