"""Vapi's API as a knowledge-base sync uses it: the client, its values and its errors."""

from __future__ import annotations

from kbcore.errors import VapiError
from kbcore.vapi.client import DEFAULT_BASE_URL, UPLOAD_PURPOSE, VapiClient
from kbcore.vapi.errors import (
    VapiAuthenticationError,
    VapiBadRequest,
    VapiConflict,
    VapiNotFound,
    VapiRateLimited,
    VapiServerError,
    VapiTimeout,
    VapiTransientError,
    VapiUnavailable,
)
from kbcore.vapi.models import (
    AssistantModelUpdate,
    AssistantToolsUpdate,
    KnowledgeBaseGroup,
    QueryTool,
    ToolRef,
    VapiAssistant,
    VapiFile,
)
from kbcore.vapi.retries import RetryPolicy, parse_retry_after, retry_wait
from kbcore.vapi.uploads import VAPI_FILE_NAME_LIMIT, mimetype_for, vapi_file_name

__all__ = [
    "DEFAULT_BASE_URL",
    "UPLOAD_PURPOSE",
    "VAPI_FILE_NAME_LIMIT",
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
    "mimetype_for",
    "parse_retry_after",
    "retry_wait",
    "vapi_file_name",
]
