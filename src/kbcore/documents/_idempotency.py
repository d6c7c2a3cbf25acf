"""Idempotency keys of creates: checked, and bound to the request they came with."""

from __future__ import annotations

import hashlib
import json

from kbcore import _validators as check
from kbcore._domain import IdempotencyKey, NewDocument
from kbcore.errors import ValidationError

MAX_KEY_CHARS = 255


def key_for(value: object, draft: NewDocument) -> IdempotencyKey | None:
    """The key a create came with, fingerprinted with the validated ``draft``; or None."""
    if value is None:
        return None
    key = check.text("idempotency_key", value)
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        raise ValidationError("idempotency_key", f"must be 1 to {MAX_KEY_CHARS} characters")
    # Not printable covers control characters, NUL and lone surrogates alike.
    if not key.isprintable():
        raise ValidationError("idempotency_key", "cannot contain control characters")
    return IdempotencyKey(key=key, fingerprint=fingerprint(draft))


def fingerprint(draft: NewDocument) -> str:
    """The SHA-256 of what a create asks to store (not of who asks)."""
    request = [draft.filename, draft.content, draft.category, draft.metadata]
    encoded = json.dumps(request, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()
