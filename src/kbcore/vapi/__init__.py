"""Vapi's API as a knowledge-base sync uses it: the client, its values and its errors."""

from __future__ import annotations

from kbcore.errors import VapiError
from kbcore.vapi._client import DEFAULT_BASE_URL, UPLOAD_PURPOSE, VapiClient
from kbcore.vapi._errors import (
    VapiAuthenticationError,
    VapiBadRequest,
    VapiConflict,
    VapiNotFound,
    VapiRateLimited,
    VapiServerError,
    VapiTimeout,
    VapiTransientError,
    VapiUnavailable,
    VapiUnreachable,
)
from kbcore.vapi._models import (
    AssistantModelUpdate,
    AssistantToolsUpdate,
    KnowledgeBaseGroup,
    QueryTool,
    ToolRef,
    VapiAssistant,
    VapiFile,
)
from kbcore.vapi._retries import RetryPolicy, retry_wait

__all__ = [
    "DEFAULT_BASE_URL",
    "UPLOAD_PURPOSE",
    "AssistantModelUpdate",
    "AssistantToolsUpdate",
    "KnowledgeBaseGroup",
    "QueryTool",
    "RetryPolicy",
    "ToolRef",
    "VapiAssistant",
    "VapiAuthenticationError",
    "VapiBadRequest",
    "VapiClient",
    "VapiConflict",
    "VapiError",
    "VapiFile",
    "VapiNotFound",
    "VapiRateLimited",
    "VapiServerError",
    "VapiTimeout",
    "VapiTransientError",
    "VapiUnavailable",
    "VapiUnreachable",
    "retry_wait",
]
