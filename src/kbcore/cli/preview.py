"""``kbcore sync ORG_ID --dry-run``: what the next sync would do, for people and for scripts."""

from __future__ import annotations

from typing import Any

from kbcore.cli.output import jsonable, plural, table
from kbcore.sync import SyncPreview

_TOOL = {
    "create": "Would create the query tool.",
    "update": "Would update the query tool {tool_id} in place.",
    "unchanged": "The query tool {tool_id} is up to date.",
}


def preview_json(preview: SyncPreview) -> dict[str, Any]:
    """The preview as JSON: its fields, each assistant's status, and ``nothing_to_do``."""
    data: dict[str, Any] = jsonable(preview)
    for assistant, shown in zip(preview.assistants, data["assistants"], strict=True):
        shown["status"] = assistant.status
    data["nothing_to_do"] = preview.nothing_to_do
    return data


def describe_preview(preview: SyncPreview) -> list[str]:
    """Lines for people: the uploads, reuses and deletes, the tool, the assistants, warnings."""
    lines = [f"Dry run: nothing was sent to Vapi or written for org {preview.org_id}."]
    if preview.nothing_to_do:
        lines.append(
            f"Nothing to do: {plural(len(preview.reused), 'file')} reused, "
            f"the query tool {preview.tool.tool_id} and the assistants are up to date."
        )
    else:
        lines += _files(preview)
        lines.append(_TOOL[preview.tool.action].format(tool_id=preview.tool.tool_id))
        if preview.tool.retire:
            lines.append(f"Would delete earlier tools: {', '.join(preview.tool.retire)}")
    rows = [
        (
            a.assistant_id,
            a.status,
            ", ".join(a.detach) or None,
            a.instruction,
            "yes" if a.patched else "no",
        )
        for a in preview.assistants
    ]
    lines += table(("ASSISTANT", "TOOL", "DETACH", "PROMPT LINE", "PATCH"), rows)
    return [*lines, *(f"Warning: {warning}" for warning in preview.warnings)]


def _files(preview: SyncPreview) -> list[str]:
    lines = [f"Would upload {plural(len(preview.uploads), 'document')}:"] if preview.uploads else []
    lines += [
        f"  {upload.filename} (version {upload.version}, {upload.reason})"
        for upload in preview.uploads
    ]
    lines.append(f"Would reuse {plural(len(preview.reused), 'file')}.")
    if preview.delete:
        count = plural(len(preview.delete), "superseded file")
        lines.append(f"Would delete {count}: {', '.join(preview.delete)}")
    if preview.lost:
        lines.append(f"Would forget {plural(len(preview.lost), 'file')} Vapi no longer has.")
    return lines
