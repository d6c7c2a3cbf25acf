"""Hypothesis strategies for kbcore's inputs: valid ones, invalid ones per rule, hostile ones.

Valid values are generated in their stored form (a filename without surrounding
whitespace, say), so that whatever a test writes reads back equal. The valid
strategies include the edges: multi-byte text, the longest filename, content of
exactly the byte limit. Each ``invalid_*`` strategy yields values that one rule
rejects with a ``kbcore.ValidationError`` naming that field. ``hostile_values``
yields anything at all, for checking that an entry point answers junk with a
``kbcore.KbError`` and never with a crash.
"""

from __future__ import annotations

import string
import uuid
from typing import Any, TypeVar
from uuid import UUID

import attrs
from hypothesis import strategies as st

from kbcore import DocumentDraft, Rules
from kbcore.documents import _rules

__all__ = [
    "DocumentEdit",
    "categories",
    "contents",
    "document_edits",
    "edit_sequences",
    "filenames",
    "hostile_text",
    "hostile_values",
    "invalid_categories",
    "invalid_contents",
    "invalid_filenames",
    "invalid_ids",
    "metadata",
    "new_documents",
    "org_ids",
]

_T = TypeVar("_T")

#: One character of each UTF-8 width, so that byte limits meet every encoding length.
_WIDE_CHARACTERS = ("x", "\N{LATIN SMALL LETTER E WITH ACUTE}", "\N{EURO SIGN}", "\U0001f600")

# Any code point UTF-8 can encode (no lone surrogates), except the control characters.
_PRINTABLE = st.characters(codec="utf-8", exclude_categories=["Cc"])
_FILENAME_CHARACTERS = st.characters(
    codec="utf-8", exclude_categories=["Cc"], exclude_characters="/\\"
)
# Neither whitespace nor a dot: a run of these can never strip to less or form "..".
_SOLID_FILENAME_CHARACTERS = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Zs", "Zl", "Zp"), exclude_characters="/\\."
)
_CONTENT_CHARACTERS = st.characters(codec="utf-8", exclude_characters="\x00")
#: Every character ``str.strip`` removes.
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WRONG_TYPES: st.SearchStrategy[object] = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    st.binary(max_size=20),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.builds(object),
)

_SQL_METACHARACTERS = (
    "'; DROP TABLE knowledge_base; --",
    '" OR 1=1 --',
    "$1",
    "$$; SELECT pg_sleep(10); $$",
    "%s %(name)s {0} {}",
    "\\x00",
    "E'\\\\'",
    "*/ /*",
    "${jndi:ldap://example.invalid/a}",
    "<script>alert(1)</script>",
)


def _rarely(common: st.SearchStrategy[_T], rare: st.SearchStrategy[_T]) -> st.SearchStrategy[_T]:
    """``rare`` about one draw in ten; shrinking leads towards ``common``."""
    return st.integers(0, 9).flatmap(lambda n: rare if n == 9 else common)


def _text_of_bytes(unit: str, size: int) -> str:
    """Text of exactly ``size`` bytes of UTF-8, mostly made of ``unit``."""
    width = len(unit.encode())
    return unit * (size // width) + "x" * (size % width)


def org_ids() -> st.SearchStrategy[UUID]:
    """Organisation ids: version-4 UUIDs, a new one every time.

    Never the same twice (unlike ``st.uuids()``, which repeats its simplest values), so that
    each example of a test has an org of its own in a database the examples share: an
    org's documents, and its one active document per filename, stay its own.
    """
    return st.builds(uuid.uuid4)


def filenames() -> st.SearchStrategy[str]:
    """Valid filenames as stored: 1 to 255 characters, trimmed, any script, some at the limit."""
    ordinary = (
        st.text(_FILENAME_CHARACTERS, min_size=1, max_size=_rules.MAX_FILENAME_CHARS)
        .map(str.strip)
        .filter(lambda name: name not in {"", ".", ".."})
    )
    longest = st.one_of(
        st.text(
            _SOLID_FILENAME_CHARACTERS,
            min_size=_rules.MAX_FILENAME_CHARS,
            max_size=_rules.MAX_FILENAME_CHARS,
        ),
        st.sampled_from(_WIDE_CHARACTERS).map(lambda unit: unit * _rules.MAX_FILENAME_CHARS),
    )
    familiar = st.sampled_from(
        ("pricing.md", "FAQ.txt", "a", "objection handling.md", "tarifs-été-€.md", "営業.txt")
    )
    return st.one_of(familiar, _rarely(ordinary, longest))


def contents(*, max_bytes: int = _rules.MAX_CONTENT_BYTES) -> st.SearchStrategy[str]:
    """Valid contents: some non-whitespace, no NUL, at most ``max_bytes`` of UTF-8.

    About one in ten is exactly ``max_bytes`` long, in characters of 1 to 4 bytes.
    """
    ordinary = st.text(
        _CONTENT_CHARACTERS, min_size=1, max_size=max(1, min(500, max_bytes // 4))
    ).filter(lambda text: bool(text.strip()) and len(text.encode()) <= max_bytes)
    at_limit = st.sampled_from(_WIDE_CHARACTERS).map(lambda unit: _text_of_bytes(unit, max_bytes))
    return _rarely(ordinary, at_limit)


def categories(rules: Rules | None = None) -> st.SearchStrategy[str]:
    """The categories ``rules`` allows (the default four without it)."""
    return st.sampled_from(sorted((rules or Rules()).categories))


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
        st.text(_PRINTABLE, max_size=20),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(_PRINTABLE, max_size=10), inner, max_size=3)
        ),
        max_leaves=8,
    )


def metadata() -> st.SearchStrategy[dict[str, Any]]:
    """Small JSON objects of the kind hosts keep with a document."""
    return st.dictionaries(st.text(_PRINTABLE, max_size=10), _json_values(), max_size=4)


def new_documents(rules: Rules | None = None) -> st.SearchStrategy[DocumentDraft]:
    """Valid documents to create: ``kb.create(org_id, **attrs.asdict(draft))``."""
    return st.builds(
        DocumentDraft,
        filename=filenames(),
        content=contents(),
        category=st.none() | categories(rules),
        metadata=st.none() | metadata(),
    )


@attrs.frozen
class DocumentEdit:
    """One valid update of a document; ``None`` fields are left as they are."""

    filename: str | None = None
    content: str | None = attrs.field(default=None, repr=False)
    category: str | None = None
    active: bool | None = None

    def as_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``KnowledgeBase.update`` for this edit."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


def document_edits(rules: Rules | None = None) -> st.SearchStrategy[DocumentEdit]:
    """Valid updates: any mix of a new filename, content, category and active flag."""
    return st.builds(
        DocumentEdit,
        filename=st.none() | filenames(),
        content=st.none() | contents(),
        category=st.none() | categories(rules),
        active=st.none() | st.booleans(),
    )


def edit_sequences(
    rules: Rules | None = None, *, max_size: int = 10
) -> st.SearchStrategy[list[DocumentEdit]]:
    """Lists of updates to apply to one document in order."""
    return st.lists(document_edits(rules), max_size=max_size)


def _inside(bad: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A short valid name with ``bad`` in its middle, where trimming cannot remove it."""
    return st.builds(lambda b: f"a{b}b.md", bad)


def invalid_filenames() -> st.SearchStrategy[object]:
    """Values the filename rule rejects: blank, too long, separators, "." or "..", not text."""
    controls = st.characters(categories=["Cc"])
    return st.one_of(
        st.text(st.sampled_from(_WHITESPACE), max_size=10),
        st.sampled_from(_WIDE_CHARACTERS).map(lambda u: u * (_rules.MAX_FILENAME_CHARS + 1)),
        _inside(st.sampled_from(("/", "\\", "/../", "..\\"))),
        st.sampled_from((".", "..", "../etc/passwd", "..\\boot.ini", "/", "a/b", "C:\\x")),
        _inside(controls),
        _inside(st.characters(categories=["Cs"])),
        _WRONG_TYPES,
    )


def invalid_contents(*, max_bytes: int = _rules.MAX_CONTENT_BYTES) -> st.SearchStrategy[object]:
    """Values the content rule rejects: blank, over the byte limit, NUL, surrogates, not text."""
    return st.one_of(
        st.text(st.sampled_from(_WHITESPACE), max_size=20),
        st.sampled_from(_WIDE_CHARACTERS).map(lambda u: _text_of_bytes(u, max_bytes + 1)),
        st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=5), st.text(max_size=5)),
        st.builds(lambda c: f"text {c}", st.characters(categories=["Cs"])),
        _WRONG_TYPES.filter(lambda value: not isinstance(value, str)),
    )


def invalid_categories(rules: Rules | None = None) -> st.SearchStrategy[object]:
    """Values the category rule rejects: unknown names (near misses too), not text.

    ``None`` is not among them: it means the default category.
    """
    allowed = (rules or Rules()).categories
    near_misses = st.sampled_from(sorted(allowed)).flatmap(
        lambda name: st.sampled_from((name.upper(), name + "_", name.replace("_", " "), ""))
    )
    return st.one_of(
        near_misses.filter(lambda name: name.strip() not in allowed),
        st.text(max_size=20).filter(lambda name: name.strip() not in allowed),
        _WRONG_TYPES,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def invalid_ids() -> st.SearchStrategy[object]:
    """Values that are not ids: malformed UUID strings and other types (``None`` too)."""
    near_misses = st.uuids().flatmap(
        lambda u: st.sampled_from((str(u)[:-1], str(u) + "0", str(u).replace("-", "_"), " "))
    )
    return st.one_of(
        near_misses.filter(lambda text: not _is_uuid(text)),
        st.text(max_size=40).filter(lambda text: not _is_uuid(text)),
        st.none(),
        _WRONG_TYPES,
    )


def hostile_text() -> st.SearchStrategy[str]:
    """Text meant to hurt: huge, empty, controls, SQL, lone surrogates, odd Unicode."""
    huge = st.builds(
        lambda unit, size: unit * size,
        st.sampled_from((*_WIDE_CHARACTERS, "\x00", " ", "'")),
        st.sampled_from((256, _rules.MAX_CONTENT_BYTES // 4 + 1, 1_000_000)),
    )
    return st.one_of(
        st.just(""),
        st.sampled_from(_SQL_METACHARACTERS),
        st.text(st.characters(codec="utf-8", categories=("Cc", "Cf", "Zs", "Zl", "Zp"))),
        st.text(st.characters(categories=["Cs"]) | st.sampled_from(string.printable)),
        st.text(),
        _rarely(st.text(st.characters(codec="utf-8")), huge),
    )


def hostile_values() -> st.SearchStrategy[object]:
    """Anything a caller might pass by mistake or in malice: hostile text and other types."""
    text = hostile_text()
    return st.one_of(
        text,
        st.none(),
        st.booleans(),
        st.integers() | st.sampled_from((-1, 0, 2**31, 2**63, -(2**63) - 1, 10**100)),
        st.floats(),
        st.binary(max_size=50),
        st.lists(text, max_size=3),
        st.dictionaries(text, st.integers() | text, max_size=3),
        st.sets(st.integers(), max_size=3),
        st.builds(object),
        st.uuids().map(str).map(lambda s: s.upper() + " "),
    )
