"""The system prompt and the knowledge base: does it mention it, and kbcore's one marked line.

Vapi's guide warns that an assistant does not call a query tool unless its system
prompt tells it to. Pure functions over a model's JSON, so they are easy to test.

The heuristic: an assistant's system prompt mentions the knowledge base when one of
its system messages (``model.messages`` with ``role: system``) contains, in any case,
"knowledge base" (also written knowledge-base, knowledge_base or knowledgebase) or
the name of kbcore's tool for it. It is deliberately simple: it finds the prompts that
never speak of the knowledge base at all, not whether they speak of it well.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

#: What starts kbcore's line in a system prompt, and how kbcore finds it again.
INSTRUCTION_MARKER = "[kbcore]"
#: The instruction kbcore adds when ``SyncPolicy.instruct_assistants`` is on.
DEFAULT_INSTRUCTION = (
    "Before you answer a question about the business, its products, prices or policies, "
    "search the knowledge base with your query tool and answer from what it returns."
)

_KNOWLEDGE_BASE = re.compile(r"knowledge[\s_-]*base", re.IGNORECASE)


def system_prompts(model: Mapping[str, Any] | None) -> list[str]:
    """The text of every system message of the model."""
    messages = (model or {}).get("messages") or ()
    return [
        message["content"]
        for message in messages
        if isinstance(message, Mapping)
        and message.get("role") == "system"
        and isinstance(message.get("content"), str)
    ]


def mentions_knowledge_base(model: Mapping[str, Any] | None, tool_name: str) -> bool:
    """Whether a system message speaks of the knowledge base (see the module's heuristic)."""
    return any(
        _KNOWLEDGE_BASE.search(prompt) or tool_name.lower() in prompt.lower()
        for prompt in system_prompts(model)
    )


def has_instruction(model: Mapping[str, Any] | None) -> bool:
    """Whether a system message of the model carries kbcore's marked line."""
    return any(_marked(prompt) for prompt in system_prompts(model))


def with_instruction(model: Mapping[str, Any], instruction: str) -> dict[str, Any]:
    """The model with kbcore's marked line once, at the end of its first system message.

    Applying it again changes nothing; a system message is added when there is none.
    """
    line = f"{INSTRUCTION_MARKER} {instruction.strip()}"
    cleaned = without_instruction(model)
    messages = cleaned.setdefault("messages", [])
    for message in messages:
        if _is_system(message):
            message["content"] = f"{message['content'].rstrip()}\n\n{line}".lstrip()
            return cleaned
    messages.insert(0, {"role": "system", "content": line})
    return cleaned


def without_instruction(model: Mapping[str, Any]) -> dict[str, Any]:
    """The model without kbcore's marked lines; a system message left empty goes too."""
    changed = copy.deepcopy(dict(model))
    messages = changed.get("messages")
    if not isinstance(messages, list):
        return changed
    kept = []
    for message in messages:
        if _is_system(message) and _marked(message["content"]):
            remaining = [
                line
                for line in message["content"].split("\n")
                if not line.lstrip().startswith(INSTRUCTION_MARKER)
            ]
            message["content"] = "\n".join(remaining).rstrip()
            if not message["content"]:
                continue
        kept.append(message)
    changed["messages"] = kept
    return changed


def _is_system(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and message.get("role") == "system"
        and isinstance(message.get("content"), str)
    )


def _marked(text: str) -> bool:
    return any(line.lstrip().startswith(INSTRUCTION_MARKER) for line in text.split("\n"))
