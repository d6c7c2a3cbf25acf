"""The server secret, and the per-org secrets derived from it.

Each org's credential is the HMAC-SHA256 of its id under the one server secret: the
server needs to keep only that one secret, and an org's credential opens that org's
URL and no other, so a leaked credential (in a Vapi dashboard, a log of the host's)
costs one org, not all of them, and is revoked by moving that org to a new secret.
"""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

import attrs

from kbcore.errors import ValidationError

#: The fewest characters a server secret may have: 32 characters of a random token
#: carry far more than the 128 bits that make guessing hopeless.
MIN_SECRET_LENGTH = 32

# Names what the derived value is for, so that it never equals an HMAC made elsewhere
# with the same secret.
_PURPOSE = b"kbcore live knowledge org "


def _checked(value: str) -> str:
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH or not value.isprintable():
        raise ValidationError(
            "secret", f"must be at least {MIN_SECRET_LENGTH} printable characters"
        )
    return value


@attrs.frozen(repr=False)
class ServerSecret:
    """The live-knowledge server's one secret; ``for_org`` gives each org's credential.

    Make one with ``secrets.token_urlsafe(32)`` and keep it where the host keeps secrets
    (``KBCORE_LIVE_SECRET`` for ``kbcore serve``). Its repr never shows it.
    """

    _value: str = attrs.field(converter=_checked, alias="value")

    def __repr__(self) -> str:
        return "ServerSecret('***')"

    def for_org(self, org_id: UUID) -> str:
        """The org's credential: 64 hex digits, what Vapi sends as token or HMAC key."""
        digest = hmac.new(self._value.encode(), _PURPOSE + org_id.bytes, hashlib.sha256)
        return digest.hexdigest()
