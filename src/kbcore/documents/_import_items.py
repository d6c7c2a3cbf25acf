"""An import's input: read as a stream, validated a batch at a time.

An import never holds its whole input: it reads items in batches of ``size`` items
(or fewer, once the batch's contents reach ``BATCH_CHARACTERS``), validates each
batch before anything of it is written, and lets go of it once written. So its
memory is bounded by the batch, whatever the size of the import.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sized
from typing import Any
from uuid import UUID

import attrs

from kbcore import _validators as check
from kbcore._domain import Document, DocumentDraft, ImportProblem, NewDocument
from kbcore.documents._rules import Rules
from kbcore.documents._rules import metadata as metadata_rule
from kbcore.errors import ValidationError

#: An item to import: a draft, a mapping with the draft's keys, or an exported Document.
DraftLike = DocumentDraft | Document | Mapping[str, Any]

#: The contents one batch holds at most (plus one item), so that large documents come
#: a few at a time: 8 MB of text in ASCII.
BATCH_CHARACTERS = 8 * 1024 * 1024

_FIELDS = ("filename", "content", "category", "metadata", "active")
# The other fields of an exported Document: accepted in a mapping and ignored, so that
# exported records import as they are.
_IGNORED = frozenset({"id", "org_id", "version", "created_at", "updated_at"})


@attrs.frozen
class Item:
    """A valid item; ``category`` and ``metadata`` are None where the item left them out."""

    index: int
    document: NewDocument
    category: str | None
    metadata: Mapping[str, Any] | None = attrs.field(repr=False)
    active: bool = True


@attrs.frozen
class Batch:
    """The next items of the input: the valid ones, and a problem for each of the others."""

    items: list[Item]
    problems: list[ImportProblem]

    @property
    def read(self) -> int:
        return len(self.items) + len(self.problems)


def input_size(drafts: object) -> int | None:
    """How many items the input holds, when it can tell without being read."""
    return len(drafts) if isinstance(drafts, Sized) else None


def items_of(drafts: object) -> AsyncIterator[object]:
    """The input's items, in order, read one at a time."""
    if isinstance(drafts, AsyncIterable):
        return aiter(drafts)
    if isinstance(drafts, str | bytes | Mapping) or not isinstance(drafts, Iterable):
        raise ValidationError("drafts", "must be an iterable of documents")
    return _from_iterable(drafts)


async def _from_iterable(drafts: Iterable[object]) -> AsyncIterator[object]:
    for draft in drafts:
        yield draft


async def batches(
    rules: Rules,
    org: UUID,
    source: AsyncIterator[object],
    size: int,
    *,
    characters: int = BATCH_CHARACTERS,
) -> AsyncIterator[Batch]:
    """The input in validated batches of at most ``size`` valid items and ``characters`` of
    text (the invalid items come with the batch they were read in)."""
    batch = Batch([], [])
    held = 0
    index = 0
    async for draft in source:
        try:
            item = validate(rules, org, index, draft)
        except ValidationError as error:
            batch.problems.append(
                ImportProblem(index=index, field=error.field, message=error.message)
            )
        else:
            batch.items.append(item)
            held += len(item.document.content)
        index += 1
        if len(batch.items) >= size or held >= characters:
            yield batch
            batch, held = Batch([], []), 0
    if batch.read:
        yield batch


def validate(rules: Rules, org: UUID, index: int, draft: object) -> Item:
    fields = _fields(draft)
    if "filename" not in fields:
        raise ValidationError("filename", "Filename is required")
    if "content" not in fields:
        raise ValidationError("content", "Content is required")
    category = fields.get("category")
    metadata = fields.get("metadata")
    document = NewDocument(
        org_id=org,
        filename=rules.filename(fields["filename"]),
        content=rules.content(fields["content"]),
        category=rules.category(category),
        metadata=metadata_rule(metadata),
    )
    return Item(
        index=index,
        document=document,
        category=None if category is None else document.category,
        metadata=None if metadata is None else document.metadata,
        active=check.flag("active", fields.get("active", True)),
    )


def _fields(draft: object) -> Mapping[str, Any]:
    if isinstance(draft, DocumentDraft | Document):
        # A draft is active; an exported Document says whether it is.
        return {name: getattr(draft, name) for name in _FIELDS if hasattr(draft, name)}
    if not isinstance(draft, Mapping):
        raise ValidationError("document", f"must be a mapping, not {type(draft).__name__}")
    for key in draft:
        if key not in _FIELDS and key not in _IGNORED:
            raise ValidationError(str(key), "Unknown field")
    return draft
