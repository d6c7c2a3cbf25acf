"""MemoryStore's Vapi ledger: what kbcore has put on Vapi, per org."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import attrs

from kbcore.domain import LedgerFile, LedgerTool

if TYPE_CHECKING:
    from kbcore.memory import _Tables


@attrs.define
class MemoryLedger:
    _tables: _Tables

    async def files(self, org_id: UUID, tool_name: str) -> Sequence[LedgerFile]:
        return list(self._tables.files.get((org_id, tool_name), []))

    async def add_file(self, org_id: UUID, tool_name: str, file: LedgerFile) -> None:
        self._tables.files.setdefault((org_id, tool_name), []).append(file)

    async def forget_files(self, org_id: UUID, tool_name: str, file_ids: Sequence[str]) -> None:
        gone = set(file_ids)
        key = (org_id, tool_name)
        self._tables.files[key] = [
            f for f in self._tables.files.get(key, []) if f.file_id not in gone
        ]

    async def tools(self, org_id: UUID) -> Sequence[LedgerTool]:
        return list(self._tables.tools.get(org_id, []))

    async def set_current_tool(self, org_id: UUID, tool_name: str, tool_id: str) -> None:
        tools = [
            attrs.evolve(tool, current=False) if tool.tool_name == tool_name else tool
            for tool in self._tables.tools.get(org_id, [])
            if tool.tool_id != tool_id
        ]
        tools.append(LedgerTool(tool_id=tool_id, tool_name=tool_name, current=True))
        self._tables.tools[org_id] = tools

    async def forget_tool(self, org_id: UUID, tool_id: str) -> None:
        tools = self._tables.tools.get(org_id, [])
        self._tables.tools[org_id] = [tool for tool in tools if tool.tool_id != tool_id]
