"""Pure parts of a sync: the prompt heuristic, kbcore's instruction line, tool ids and strays."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kbcore._domain import ToolIntent
from kbcore.sync._prompt import (
    DEFAULT_INSTRUCTION,
    INSTRUCTION_MARKER,
    mentions_knowledge_base,
    with_instruction,
    without_instruction,
)
from kbcore.sync._strays import find_strays, fingerprint
from kbcore.vapi import KnowledgeBaseGroup, QueryTool, VapiAssistant
from kbcore.vapi._assistant_tools import change_tool_ids

STAMP = datetime(2026, 8, 20, tzinfo=UTC)


def model(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"provider": "openai", "model": "gpt-4o", "messages": list(messages), **fields}


def system(content: str) -> dict[str, str]:
    return {"role": "system", "content": content}


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Use the knowledge base for prices.", True),
        ("Search our Knowledge-Base first.", True),
        ("knowledge_base lookups come first", True),
        ("Call knowledge-search before quoting a price.", True),
        ("KNOWLEDGEBASE", True),
        ("You are a helpful sales agent.", False),
        ("You know a lot; base your answers on facts.", False),
    ],
)
def test_the_heuristic_looks_for_the_knowledge_base_or_the_tool_name(
    prompt: str, expected: bool
) -> None:
    """Documented in docs/sync.md: 'knowledge base' in any spelling, or the tool's name."""
    assert mentions_knowledge_base(model(system(prompt)), "knowledge-search") is expected


def test_only_system_messages_count() -> None:
    """A user message or a missing model mentions nothing."""
    assert not mentions_knowledge_base(model({"role": "user", "content": "knowledge base"}), "t")
    assert not mentions_knowledge_base(None, "t")


prompts = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)


@given(before=prompts, after=prompts)
def test_the_instruction_line_is_added_once_and_removed_cleanly(before: str, after: str) -> None:
    """Adding is idempotent, keeps the other text, and removing gives the stripped original."""
    original = model(system(before), {"role": "user", "content": after})
    once = with_instruction(original, DEFAULT_INSTRUCTION)
    assert with_instruction(once, DEFAULT_INSTRUCTION) == once
    lines = [
        line
        for message in once["messages"]
        if message["role"] == "system"
        for line in message["content"].split("\n")
    ]
    assert sum(line.lstrip().startswith(INSTRUCTION_MARKER) for line in lines) == 1
    assert mentions_knowledge_base(once, "knowledge-search")
    removed = without_instruction(once)
    assert removed["messages"][-1] == {"role": "user", "content": after}
    assert without_instruction(removed) == removed


def test_a_prompt_without_a_system_message_gets_one_and_loses_it_again() -> None:
    """The line makes its own system message when there is none; removing drops it whole."""
    bare = model({"role": "user", "content": "hi"})
    added = with_instruction(bare, "Search the knowledge base.")
    assert added["messages"][0] == system(f"{INSTRUCTION_MARKER} Search the knowledge base.")
    assert without_instruction(added) == bare


def assistant(**model_fields: Any) -> VapiAssistant:
    return VapiAssistant.from_json(
        {
            "id": "a1",
            "orgId": "o1",
            "model": model(**model_fields),
            "createdAt": STAMP.isoformat(),
            "updatedAt": STAMP.isoformat(),
        }
    )


def test_tool_ids_change_keeps_others_and_respects_pins() -> None:
    """Attach adds once, detach removes only kbcore's, and a pinned tool is not re-added."""
    pinned = "11111111-1111-1111-1111-111111111111"
    change = change_tool_ids(
        assistant(toolIds=["calendar", "old"], toolRefs=[{"toolId": pinned, "version": "v1"}]),
        attach=["new", pinned],
        detach=["old", "never-there"],
    )
    assert (change.added, change.removed, change.pinned) == (("new",), ("old",), (pinned,))
    assert change.model is not None
    assert change.model["toolIds"] == ["calendar", "new"]
    assert change.model["toolRefs"] == [{"toolId": pinned, "version": "v1"}]
    assert change_tool_ids(assistant(toolIds=["new"]), attach=["new"]).model is None


def group(name: str, *file_ids: str) -> KnowledgeBaseGroup:
    return KnowledgeBaseGroup.for_category(name, file_ids)


def tool(tool_id: str, *groups: KnowledgeBaseGroup) -> QueryTool:
    return QueryTool(tool_id, "o1", groups, STAMP, STAMP)


def test_a_fingerprint_ignores_order_only() -> None:
    """The same groups in any order agree; another file or description does not."""
    a, b = group("general", "f1", "f2"), group("operations", "f3")
    assert fingerprint([a, b]) == fingerprint([b, group("general", "f2", "f1")])
    assert fingerprint([a, b]) != fingerprint([a, group("operations", "f4")])
    assert fingerprint([a]) != fingerprint([KnowledgeBaseGroup("general", "other", ["f1", "f2"])])


def test_strays_are_unrecorded_tools_that_match_an_intent() -> None:
    """A recorded tool is never a stray; an unrecorded one is only with a matching intent."""
    wanted = (group("general", "f1"),)
    intent = ToolIntent("knowledge-search", fingerprint(wanted))
    tools = [tool("t1", *wanted), tool("t2", *wanted), tool("t3", group("general", "f9"))]
    strays = find_strays(tools, recorded={"t1"}, intents=[intent])
    assert [(s.tool.id, s.intent) for s in strays] == [("t2", intent)]
