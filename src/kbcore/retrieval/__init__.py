"""How kbcore reads text for live knowledge: documents as passages, callers' words as terms.

Pure functions, no I/O. ``split_document`` cuts a Markdown document into the passages
that every document write stores; ``spoken_query`` turns what a caller said into the
query terms that a store ranks passages for. ``Synonyms`` maps a caller's everyday words
to the documents' words: extend ``DEFAULT_SYNONYMS`` with a domain's own.
"""

from kbcore.retrieval._passages import (
    CONTEXT_SEPARATOR,
    DEFAULT_MAX_WORDS,
    Passage,
    split_document,
)
from kbcore.retrieval._spoken import (
    DEFAULT_SYNONYMS,
    NO_SYNONYMS,
    SpokenQuery,
    Synonyms,
    spoken_query,
)

__all__ = [
    "CONTEXT_SEPARATOR",
    "DEFAULT_MAX_WORDS",
    "DEFAULT_SYNONYMS",
    "NO_SYNONYMS",
    "Passage",
    "SpokenQuery",
    "Synonyms",
    "split_document",
    "spoken_query",
]
