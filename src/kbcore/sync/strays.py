"""Query tools kbcore made but never recorded: how they are known, and found.

A create whose answer was lost (and was retried), or a process that died between
creating a tool and recording it, leaves a tool on Vapi that no ledger row names.
Vapi's query tools carry no name, so kbcore records an intent before every create:
the tool name and the fingerprint of the knowledge bases it is about to send. A tool
nobody recorded whose knowledge bases have a recorded fingerprint is such a copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Sequence

import attrs

from kbcore.domain import ToolIntent
from kbcore.vapi import KnowledgeBaseGroup, QueryTool

__all__ = ["Stray", "find_strays", "fingerprint"]


def fingerprint(knowledge_bases: Iterable[KnowledgeBaseGroup]) -> str:
    """A SHA-256 of the knowledge bases, whatever order they and their files come in."""
    canonical = sorted(
        ({**group.to_json(), "fileIds": sorted(group.file_ids)} for group in knowledge_bases),
        key=lambda group: json.dumps(group, sort_keys=True),
    )
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


@attrs.frozen
class Stray:
    """A copy of one of kbcore's tools that no ledger row names, and the intent it matches."""

    tool: QueryTool
    intent: ToolIntent


def find_strays(
    tools: Sequence[QueryTool], recorded: Collection[str], intents: Iterable[ToolIntent]
) -> list[Stray]:
    """The tools not in ``recorded`` whose knowledge bases match an intent of the org."""
    by_fingerprint = {intent.fingerprint: intent for intent in intents}
    strays = []
    for tool in tools:
        if tool.id in recorded:
            continue
        intent = by_fingerprint.get(fingerprint(tool.knowledge_bases))
        if intent is not None:
            strays.append(Stray(tool, intent))
    return strays
