"""What a finished sync reports to its caller."""

from __future__ import annotations

from uuid import UUID

import attrs


@attrs.frozen(kw_only=True)
class SyncResult:
    """A successful sync: what it did and how long it took (by the database's clock)."""

    run_id: UUID
    org_id: UUID
    tool_id: str
    docs_synced: int
    files_uploaded: int
    files_reused: int
    files_deleted: int
    assistants_updated: int
    duration_ms: int
