"""What an uploaded file is called and typed as on Vapi's side."""

from __future__ import annotations

import mimetypes
import os
import posixpath
import re
from collections.abc import Mapping

__all__ = ["VAPI_FILE_NAME_LIMIT", "Form", "encoded_form", "mimetype_for", "vapi_file_name"]

#: Vapi keeps at most this many characters of a file's name.
VAPI_FILE_NAME_LIMIT = 40

# Vapi's documented text types; the platform's mimetypes table may lack some.
_MIMETYPES = {
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".xml": "application/xml",
    ".log": "text/plain",
}


def vapi_file_name(filename: str, limit: int = VAPI_FILE_NAME_LIMIT) -> str:
    """``filename`` cut to Vapi's limit, keeping its extension (it decides how Vapi parses).

    >>> vapi_file_name("a-very-long-name-about-our-pricing-and-discounts.md")
    'a-very-long-name-about-our-pricing-an.md'
    """
    # Characters a multipart header cannot carry as they are would reach Vapi percent-encoded.
    name = "".join("_" if _unsafe_in_header(char) else char for char in filename.strip())
    if len(name) <= limit:
        return name
    stem, extension = posixpath.splitext(name)
    if not stem or len(extension) >= limit:
        return name[:limit]
    return stem[: limit - len(extension)].rstrip(" .") + extension


def _unsafe_in_header(char: str) -> bool:
    return char == '"' or not char.isprintable()


def mimetype_for(filename: str) -> str:
    """The content type sent with an upload; plain text when the extension says nothing."""
    extension = posixpath.splitext(filename)[1].lower()
    if extension in _MIMETYPES:
        return _MIMETYPES[extension]
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "text/plain"


#: A multipart form as it goes on the wire: its body and its ``Content-Type`` header.
Form = tuple[bytes, str]

# How a quoted name or filename of a part escapes its characters (the HTML standard's
# rule, as httpx applies it).
_ESCAPES = {'"': "%22", "\\": "\\\\"} | {
    chr(code): f"%{code:02X}" for code in range(0x20) if code != 0x1B
}
_ESCAPED = re.compile("|".join(re.escape(char) for char in _ESCAPES))


def encoded_form(fields: Mapping[str, str], name: str, body: bytes) -> Form:
    """An upload's form (``fields``, then the file), encoded once.

    Sent as one piece with its length, rather than streamed part by part (about ten
    socket writes an upload); every retry sends the same bytes.
    """
    boundary = os.urandom(16).hex()
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_escaped(field)}"\r\n\r\n'
        f"{value}\r\n".encode()
        for field, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{_escaped(name)}"\r\nContent-Type: {mimetype_for(name)}\r\n\r\n'.encode()
    )
    parts += (body, f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _escaped(text: str) -> str:
    return _ESCAPED.sub(lambda match: _ESCAPES[match[0]], text)
