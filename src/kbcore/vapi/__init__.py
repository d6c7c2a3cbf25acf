"""Vapi's API as a knowledge-base sync uses it: the client, its values and its errors."""

from __future__ import annotations

from kbcore.errors import VapiError
from kbcore.vapi.client import DEFAULT_BASE_URL, VapiClient
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
    VapiUnreachable,
)
from kbcore.vapi.models import (
    AssistantToolsUpdate,
    KnowledgeBaseGroup,
    QueryTool,
    VapiAssistant,
    VapiFile,
)
from kbcore.vapi.retries import RetryPolicy, parse_retry_after, retry_wait
from kbcore.vapi.uploads import VAPI_FILE_NAME_LIMIT, mimetype_for, vapi_file_name

__all__ = [
    "DEFAULT_BASE_URL",
    "VAPI_FILE_NAME_LIMIT",
    "AssistantToolsUpdate",
    "KnowledgeBaseGroup",
    "QueryTool",
    "RetryPolicy",
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
    "mimetype_for",
    "parse_retry_after",
    "retry_wait",
    "vapi_file_name",
]
