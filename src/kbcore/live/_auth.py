"""How the server knows a request comes from Vapi: the credentials Vapi's docs describe.

A Vapi credential (``server.credentialId``) authenticates each request in one of two
ways this module checks, with the org's derived secret (``ServerSecret.for_org``):

- ``BearerToken``: the secret in a header, ``Authorization: Bearer <secret>`` by
  default; header and prefix are configurable, so ``X-Vapi-Secret: <secret>`` (the
  legacy ``server.secret``) is ``BearerToken("X-Vapi-Secret", bearer_prefix=False)``.
- ``HmacSignature``: an HMAC of the body, signed as Vapi's ``HMACAuthenticationPlan``
  says (by default ``x-signature`` = hex HMAC-SHA256 of ``{timestamp}.{body}``, the
  time in ``x-timestamp``). A timestamp outside ``tolerance`` is refused, and so is a
  signature seen before, so a captured request cannot be replayed.

Every comparison takes constant time, and no secret or header value is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Literal

import attrs

from kbcore.errors import ValidationError

_ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512, "sha1": hashlib.sha1}
_PLACEHOLDER = re.compile(r"\{(body|timestamp|method|url|svix-id)\}")
# A timestamp above this is in milliseconds (seconds reach it in the year 5138).
_MILLISECONDS = 10**11


@attrs.frozen
class SignedRequest:
    """What authentication looks at: method, URL as called, headers (lower case), body."""

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)


def _header_name(value: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", value):
        raise ValidationError("header_name", "must be an HTTP header name")
    return value.lower()


@attrs.frozen
class BearerToken:
    """The org's secret in a header: ``Authorization: Bearer <secret>`` by default.

    As Vapi's ``BearerAuthenticationPlan``: ``header_name`` (default ``Authorization``)
    and whether the value starts with ``Bearer `` (``bearer_prefix``).
    """

    header_name: str = attrs.field(default="Authorization", converter=_header_name)
    bearer_prefix: bool = True

    def verify(self, request: SignedRequest, secret: str, now: float) -> bool | None:
        """True or False; None when the request does not carry this header."""
        value = request.headers.get(self.header_name)
        if value is None:
            return None
        if self.bearer_prefix:
            scheme, _, value = value.partition(" ")
            if scheme.lower() != "bearer":
                return False
        return hmac.compare_digest(value.strip().encode(), secret.encode())


def _algorithm(value: str) -> str:
    if value not in _ALGORITHMS:
        raise ValidationError("algorithm", f"must be one of {', '.join(_ALGORITHMS)}")
    return value


def _payload_format(value: str) -> str:
    if not isinstance(value, str) or "{body}" not in value:
        raise ValidationError("payload_format", "must contain {body}")
    return value


def _tolerance(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise ValidationError("tolerance", "must be a number of seconds between 0 and 3600")
    return float(value)


@attrs.frozen
class HmacSignature:
    """An HMAC of the request, as Vapi's ``HMACAuthenticationPlan`` signs it.

    The defaults are Vapi's: SHA-256, hex, in ``x-signature``, over ``{timestamp}.{body}``
    with the time (Unix seconds or milliseconds) in ``x-timestamp``. ``payload_format``
    may also say ``{method}``, ``{url}`` (as Vapi called it, so a proxy in front must
    keep it) and ``{svix-id}`` (from ``message_id_header``). ``timestamp_header=None``
    signs without a time, as the custom-knowledge-base guide's ``x-vapi-signature:
    sha256=<hex>`` does: then only the memory of seen signatures stops a replay.
    """

    algorithm: Literal["sha256", "sha512", "sha1"] = attrs.field(
        default="sha256", converter=_algorithm
    )
    signature_header: str = attrs.field(default="x-signature", converter=_header_name)
    timestamp_header: str | None = attrs.field(
        default="x-timestamp", converter=attrs.converters.optional(_header_name)
    )
    signature_prefix: str = ""
    payload_format: str = attrs.field(default="{timestamp}.{body}", converter=_payload_format)
    signature_encoding: Literal["hex", "base64"] = "hex"
    message_id_header: str | None = attrs.field(
        default=None, converter=attrs.converters.optional(_header_name)
    )
    #: How far the timestamp may be from the server's clock, in seconds, either way.
    tolerance: float = attrs.field(default=300.0, converter=_tolerance)

    def verify(self, request: SignedRequest, secret: str, now: float) -> bool | None:
        """True or False; None when the request carries no signature header."""
        sent = request.headers.get(self.signature_header)
        if sent is None:
            return None
        timestamp = ""
        if self.timestamp_header is not None:
            timestamp = request.headers.get(self.timestamp_header, "")
            if not self._in_time(timestamp, now):
                return False
        expected = self.signature(request, secret, timestamp)
        return hmac.compare_digest(sent.strip().encode(), expected.encode())

    def signature(self, request: SignedRequest, secret: str, timestamp: str) -> str:
        """The header value this plan gives ``request`` signed with ``secret`` at ``timestamp``."""
        digest = hmac.new(
            secret.encode(), self._payload(request, timestamp), _ALGORITHMS[self.algorithm]
        )
        encoded = (
            digest.hexdigest()
            if self.signature_encoding == "hex"
            else base64.b64encode(digest.digest()).decode()
        )
        return self.signature_prefix + encoded

    def _payload(self, request: SignedRequest, timestamp: str) -> bytes:
        values = {
            "body": request.body,
            "timestamp": timestamp.encode(),
            "method": request.method.encode(),
            "url": request.url.encode(),
            "svix-id": request.headers.get(self.message_id_header or "", "").encode(),
        }
        parts = _PLACEHOLDER.split(self.payload_format)
        # split() alternates literal text and placeholder names.
        return b"".join(
            values[part] if index % 2 else part.encode() for index, part in enumerate(parts)
        )

    def _in_time(self, timestamp: str, now: float) -> bool:
        try:
            sent = float(timestamp)
        except ValueError:
            return False
        if sent > _MILLISECONDS:
            sent /= 1000
        return abs(now - sent) <= self.tolerance


Credential = BearerToken | HmacSignature

#: What the server accepts unless told otherwise: a Bearer token in Authorization or in
#: X-Vapi-Secret (the legacy secret header), or Vapi's default HMAC signature.
DEFAULT_CREDENTIALS: tuple[Credential, ...] = (
    BearerToken(),
    BearerToken("X-Vapi-Secret", bearer_prefix=False),
    HmacSignature(),
)


@attrs.define
class SeenSignatures:
    """Signatures accepted lately, each remembered as long as its timestamp could pass.

    In memory, per process: a replay to another process of the same deployment within
    the tolerance is stopped by the timestamp only.
    """

    limit: int = 100_000
    _expiry: OrderedDict[str, float] = attrs.field(factory=OrderedDict, init=False)

    def first_time(self, signature: str, now: float, keep_for: float) -> bool:
        """Remember ``signature``; False if it was seen (and not forgotten) before."""
        while self._expiry and (
            next(iter(self._expiry.values())) < now or len(self._expiry) >= self.limit
        ):
            self._expiry.popitem(last=False)
        if signature in self._expiry:
            return False
        self._expiry[signature] = now + keep_for
        return True


def authenticate(
    request: SignedRequest,
    secret: str,
    credentials: Sequence[Credential],
    seen: SeenSignatures,
    now: float,
) -> bool:
    """Whether one of ``credentials`` holds for the request with the org's ``secret``."""
    for credential in credentials:
        if credential.verify(request, secret, now) is not True:
            continue
        if isinstance(credential, HmacSignature):
            sent = request.headers[credential.signature_header].strip()
            return seen.first_time(sent, now, 2 * credential.tolerance)
        return True
    return False
