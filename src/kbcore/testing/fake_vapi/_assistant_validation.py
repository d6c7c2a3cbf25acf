"""``UpdateAssistantDTO`` as Vapi checks it: a whitelist of top-level fields, models per provider.

The model is a union upstream, one schema per provider (``vapi-server-sdk`` 3.0.0,
``UpdateAssistantDtoModel``): every provider needs ``model`` except ``vapi``, and
``custom-llm`` needs ``url`` too. Unknown keys inside a model are let through, as the
subset's ``AssistantModel`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kbcore.testing.fake_vapi._validation import is_uuid, name_problems, one_of, unknown

__all__ = ["ASSISTANT_FIELDS", "MODEL_PROVIDERS", "validate_assistant_update"]

#: The top-level properties of ``UpdateAssistantDTO`` and the JSON type of those that have one.
ASSISTANT_FIELDS: Mapping[str, str | None] = {
    "transcriber": None,
    "model": "object",
    "voice": None,
    "firstMessage": "string",
    "firstMessageInterruptionsEnabled": "boolean",
    "firstMessageMode": "string",
    "voicemailDetection": None,
    "clientMessages": "array",
    "serverMessages": "array",
    "maxDurationSeconds": "number",
    "backgroundSound": None,
    "modelOutputInMessagesEnabled": "boolean",
    "transportConfigurations": "array",
    "observabilityPlan": None,
    "credentials": "array",
    "hooks": "array",
    "name": "string",
    "voicemailMessage": "string",
    "endCallMessage": "string",
    "endCallPhrases": "array",
    "compliancePlan": None,
    "metadata": "object",
    "backgroundSpeechDenoisingPlan": None,
    "analysisPlan": None,
    "artifactPlan": None,
    "startSpeakingPlan": None,
    "stopSpeakingPlan": None,
    "monitorPlan": None,
    "credentialIds": "array",
    "server": "object",
    "keypadInputPlan": None,
}

#: Each provider's required model fields besides ``provider``.
MODEL_PROVIDERS: Mapping[str, tuple[str, ...]] = {
    "anthropic": ("model",),
    "anthropic-bedrock": ("model",),
    "anyscale": ("model",),
    "cerebras": ("model",),
    "custom-llm": ("url", "model"),
    "deep-seek": ("model",),
    "deepinfra": ("model",),
    "google": ("model",),
    "groq": ("model",),
    "inflection-ai": ("model",),
    "minimax": ("model",),
    "openai": ("model",),
    "openrouter": ("model",),
    "perplexity-ai": ("model",),
    "together-ai": ("model",),
    "vapi": (),
    "xai": ("model",),
}
_MESSAGE_ROLES = ("assistant", "function", "user", "system", "tool")
_JSON_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "number": (int, float),
    "array": list,
    "object": dict,
}


def validate_assistant_update(body: Any) -> list[str]:
    """``UpdateAssistantDTO``: known top-level fields only; a ``model`` must be a whole model."""
    if not isinstance(body, dict):
        return ["body must be an object"]
    errors = unknown(body, frozenset(ASSISTANT_FIELDS))
    for field, kind in ASSISTANT_FIELDS.items():
        if field in body and kind is not None and not _is_a(body[field], kind):
            errors.append(_must_be(field, kind))
    if isinstance(body.get("name"), str):
        errors.extend(name_problems(body["name"]))
    if isinstance(body.get("model"), dict):
        errors.extend(validate_model(body["model"]))
    return errors


def _must_be(field: str, kind: str) -> str:
    return f"{field} must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _is_a(value: Any, kind: str) -> bool:
    if kind == "number" and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[kind])


def validate_model(model: Mapping[str, Any]) -> list[str]:
    """One provider's model: its required fields, tool ids, version pins and messages."""
    provider = model.get("provider")
    if not isinstance(provider, str) or provider not in MODEL_PROVIDERS:
        return [one_of("model.provider", tuple(MODEL_PROVIDERS))]
    errors = [
        f"model.{field} should not be empty"
        for field in MODEL_PROVIDERS[provider]
        if not isinstance(model.get(field), str) or not model[field]
    ]
    tool_ids = model.get("toolIds", [])
    if not isinstance(tool_ids, list) or not all(isinstance(i, str) for i in tool_ids):
        errors.append("model.each value in toolIds must be a string")
    errors.extend(_each(model.get("toolRefs", []), "toolRefs", _tool_ref))
    errors.extend(_each(model.get("messages", []), "messages", _message))
    if "knowledgeBase" in model:
        errors.extend(_knowledge_base(model["knowledgeBase"]))
    return errors


#: ``Server``'s properties in the subset, each with the JSON type it must have.
_SERVER_FIELDS: Mapping[str, str] = {
    "url": "string",
    "timeoutSeconds": "number",
    "credentialId": "string",
    "headers": "object",
    "staticIpAddressesEnabled": "boolean",
    "encryptedPaths": "array",
    "backoffPlan": "object",
}


def _knowledge_base(value: Any) -> list[str]:
    """``CreateCustomKnowledgeBaseDTO``: the only knowledge base a model may still name."""
    prefix = "model.knowledgeBase."
    if not isinstance(value, dict):
        return ["model.knowledgeBase must be an object"]
    errors = unknown(value, frozenset({"provider", "server"}), prefix)
    if value.get("provider") != "custom-knowledge-base":
        errors.append(one_of(f"{prefix}provider", ("custom-knowledge-base",)))
    server = value.get("server")
    if not isinstance(server, dict):
        return [*errors, f"{prefix}server must be an object"]
    errors.extend(unknown(server, frozenset(_SERVER_FIELDS), f"{prefix}server."))
    for field, kind in _SERVER_FIELDS.items():
        if field in server and not _is_a(server[field], kind):
            errors.append(
                f"{prefix}server.{field} must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
            )
    timeout = server.get("timeoutSeconds", 20)
    if _is_a(timeout, "number") and not 1 <= timeout <= 300:
        errors.append(f"{prefix}server.timeoutSeconds must not be less than 1 or greater than 300")
    headers = server.get("headers", {})
    if isinstance(headers, dict) and not all(isinstance(v, str) for v in headers.values()):
        errors.append(f"{prefix}server.headers values must be strings")
    return errors


def _each(items: Any, field: str, check: Callable[[dict[str, Any], str], list[str]]) -> list[str]:
    """``check`` every object of the model's array ``field``, with its path as a prefix."""
    if not isinstance(items, list):
        return [f"model.{field} must be an array"]
    errors = []
    for index, item in enumerate(items):
        prefix = f"model.{field}.{index}."
        if isinstance(item, dict):
            errors.extend(check(item, prefix))
        else:
            errors.append(f"{prefix[:-1]} must be an object")
    return errors


def _tool_ref(ref: dict[str, Any], prefix: str) -> list[str]:
    """``ToolRef``: ``toolId`` (a UUID) and ``version`` (``"v3"``), both required."""
    errors = unknown(ref, frozenset({"toolId", "version"}), prefix)
    if not is_uuid(ref.get("toolId")):
        errors.append(f"{prefix}toolId must be a UUID")
    if not isinstance(ref.get("version"), str) or not ref["version"]:
        errors.append(f"{prefix}version should not be empty")
    return errors


def _message(message: dict[str, Any], prefix: str) -> list[str]:
    """``OpenAIMessage``: a ``role`` and a ``content`` (text, or null)."""
    errors = []
    if message.get("role") not in _MESSAGE_ROLES:
        errors.append(one_of(f"{prefix}role", _MESSAGE_ROLES))
    content = message.get("content")
    if "content" not in message or not (content is None or isinstance(content, str)):
        errors.append(f"{prefix}content must be a string")
    return errors
