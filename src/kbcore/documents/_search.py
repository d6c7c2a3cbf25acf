"""What a search may ask: the query and the number of hits.

PostgreSQL does the searching (a generated ``tsvector`` column with a GIN index,
``websearch_to_tsquery``, ``ts_rank_cd``, ``ts_headline``); ``MemoryStore`` follows
the same rules closely enough to give the same hits for plain queries.
"""

from __future__ import annotations

from kbcore._validators import text as _text
from kbcore.errors import ValidationError

MAX_QUERY_CHARS = 1000
MAX_HITS = 100


def query_text(value: object) -> str:
    """A search query, trimmed; a ValidationError naming ``query`` otherwise."""
    text = _text("query", value).strip()
    if not text:
        raise ValidationError("query", "Search query cannot be empty")
    if len(text) > MAX_QUERY_CHARS:
        raise ValidationError("query", f"Search query too long. Max {MAX_QUERY_CHARS} characters.")
    if "\x00" in text:
        raise ValidationError("query", "Search query cannot contain NUL characters")
    return text
