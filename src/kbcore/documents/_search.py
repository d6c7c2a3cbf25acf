"""Full-text search over an org's active documents.

PostgreSQL does the work (a generated ``tsvector`` column with a GIN index,
``websearch_to_tsquery``, ``ts_rank_cd``, ``ts_headline``); ``MemoryStore``
follows the same rules closely enough to give the same hits for plain queries.
"""

from __future__ import annotations

from uuid import UUID

from kbcore._domain import SearchHit
from kbcore._ports import Store
from kbcore.documents import _rules as rules
from kbcore.documents._rules import Rules
from kbcore.errors import ValidationError

MAX_QUERY_CHARS = 1000
MAX_HITS = 100

#: How a snippet marks the words that matched.
HIGHLIGHT = "**"


async def search(
    store: Store,
    validation: Rules,
    org_id: UUID | str,
    query: str,
    *,
    category: str | None,
    limit: int,
) -> list[SearchHit]:
    """Validate, then ask the store; see ``KnowledgeBase.search``."""
    org = rules.uuid(org_id, "org_id")
    text = query_text(query)
    wanted = None if category is None else validation.category(category)
    size = hit_limit(limit)
    # One statement that only reads: no transaction needed, and two round trips fewer.
    async with store.read() as tx:
        return list(await tx.search.search(org, text, category=wanted, limit=size))


def query_text(value: object) -> str:
    """A search query, trimmed; a ValidationError naming ``query`` otherwise."""
    if not isinstance(value, str):
        raise ValidationError("query", f"must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("query", "must be valid Unicode text") from None
    text = value.strip()
    if not text:
        raise ValidationError("query", "Search query cannot be empty")
    if len(text) > MAX_QUERY_CHARS:
        raise ValidationError("query", f"Search query too long. Max {MAX_QUERY_CHARS} characters.")
    if "\x00" in text:
        raise ValidationError("query", "Search query cannot contain NUL characters")
    return text


def hit_limit(value: object) -> int:
    """How many hits to return: 1 to ``MAX_HITS``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("limit", f"must be an integer, not {type(value).__name__}")
    if not 1 <= value <= MAX_HITS:
        raise ValidationError("limit", f"must be between 1 and {MAX_HITS}")
    return value
