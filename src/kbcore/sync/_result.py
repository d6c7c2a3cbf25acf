"""What a finished sync reports to its caller."""

from __future__ import annotations

from uuid import UUID

import attrs


@attrs.frozen(kw_only=True)
class PinnedTool:
    """An assistant that pins a version of one of kbcore's tools in ``model.toolRefs``.

    A pinned assistant uses that version, whatever the sync writes to the tool later.
    ``current`` says whether the pin is on the org's current tool; ``latest_version``
    is that tool's newest version, when Vapi says (``None`` for an earlier tool).
    """

    assistant_id: str
    tool_id: str
    version: str
    current: bool
    latest_version: str | None = None

    @property
    def outdated(self) -> bool:
        """Whether the assistant misses what the sync put in the tool."""
        return not self.current or (
            self.latest_version is not None and self.version != self.latest_version
        )


@attrs.frozen(kw_only=True)
class SyncResult:
    """A successful sync: what it did and how long it took (by the database's clock).

    ``warnings`` are plain sentences about what the sync could not fix itself (they
    are logged and kept in the audit row too); ``pins`` lists every assistant that
    pins a version of kbcore's tool.
    """

    run_id: UUID
    org_id: UUID
    tool_id: str
    docs_synced: int
    files_uploaded: int
    files_reused: int
    files_deleted: int
    assistants_updated: int
    duration_ms: int
    warnings: tuple[str, ...] = ()
    pins: tuple[PinnedTool, ...] = ()
