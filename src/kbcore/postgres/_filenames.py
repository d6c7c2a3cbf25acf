"""The rule of one active document per org and filename, on PostgreSQL.

Migration 0009's partial unique index enforces it, so no two writers can break it however
they interleave; a write it refuses raises ``DuplicateFilename``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import TypeVar

import asyncpg

from kbcore.errors import DuplicateFilename, NotSaved
from kbcore.postgres._failures import server_error

T = TypeVar("T")

#: The partial unique index of migration 0009: one active document per org and filename.
ONE_ACTIVE_FILENAME = "knowledge_base_one_active_filename_idx"
_CLASHING_KEY = re.compile(
    r"Key \(org_id, filename\)=\([0-9a-f-]{36}, (.*)\) already exists\.", re.S
)


async def one_active_filename(write: Awaitable[T]) -> T:
    """Await a write; one that would make a second active document of a filename raises
    ``DuplicateFilename``.
    """
    try:
        return await write
    except NotSaved as error:
        # ``Db`` maps every server error to ``NotSaved``; the server's own is its cause.
        violation = server_error(error)
        if not (
            isinstance(violation, asyncpg.UniqueViolationError)
            and violation.constraint_name == ONE_ACTIVE_FILENAME
        ):
            raise
        # The server's detail names the key: the org and the filename, nothing secret.
        clash = _CLASHING_KEY.fullmatch(violation.detail or "")
        raise DuplicateFilename(clash[1] if clash else "that filename") from violation
