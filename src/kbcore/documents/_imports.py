"""Bulk import and streaming export of an org's documents.

An import validates every item before it writes any, then plans each batch
against the org's active documents of the same filenames (read under a row lock,
in the batch's transaction) and writes the plan with a few statements per batch.
Items apply in the order given, as if created one by one: a filename that occurs
twice meets the first occurrence as an existing document.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Mapping, Sequence
from typing import Any, Literal
from uuid import UUID

import attrs

from kbcore._domain import (
    ChangeDraft,
    ChangeType,
    Creation,
    Document,
    DocumentDraft,
    DocumentState,
    ImportProblem,
    ImportReport,
    NewDocument,
    Revision,
)
from kbcore._ports import Store, Transaction
from kbcore.documents import _rules as rules
from kbcore.documents._edits import Edit
from kbcore.documents._rules import Rules
from kbcore.errors import ValidationError

#: What an import does with an item whose filename an active document already has.
OnConflict = Literal["error", "skip", "update"]

#: An item to import: a draft, a mapping with the draft's keys, or an exported Document.
DraftLike = DocumentDraft | Document | Mapping[str, Any]

DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 10_000

_FIELDS = ("filename", "content", "category", "metadata")
# The other fields of an exported Document: accepted in a mapping and ignored, so that
# exported records import as they are.
_IGNORED = frozenset({"id", "org_id", "version", "active", "created_at", "updated_at"})


@attrs.frozen
class _Item:
    """A valid item; ``category`` and ``metadata`` are None where the item left them out."""

    index: int
    document: NewDocument
    category: str | None
    metadata: Mapping[str, Any] | None = attrs.field(repr=False)


async def import_documents(
    store: Store,
    validation: Rules,
    org_id: UUID | str,
    drafts: Iterable[DraftLike] | AsyncIterable[DraftLike],
    *,
    actor: str | None,
    on_conflict: OnConflict,
    all_or_nothing: bool,
    batch_size: int,
) -> ImportReport:
    """Validate every item, then write them in batches; see ``KnowledgeBase.import_documents``."""
    org = rules.uuid(org_id, "org_id")
    mode = _mode(on_conflict)
    atomic = _flag(all_or_nothing, "all_or_nothing")
    size = _batch_size(batch_size)
    planner = _Planner(mode=mode, changed_by=rules.actor(actor))
    items, problems = _validate_all(validation, org, await _collect(drafts))
    if atomic and problems:
        return ImportReport(errors=tuple(problems))
    if atomic:
        async with store.transaction() as tx:
            plan = await planner.plan(tx, org, items)
            if plan.problems:
                return ImportReport(errors=tuple(sorted(problems + plan.problems, key=_index)))
            await plan.write(tx, org, size)
        return plan.report(problems)
    total = _Plan()
    for start in range(0, len(items), size):
        async with store.transaction() as tx:
            plan = await planner.plan(tx, org, items[start : start + size])
            await plan.write(tx, org, size)
        total = total.merge(plan)
    return total.report(problems)


def export(
    store: Store, org_id: UUID | str, *, include_inactive: bool
) -> AsyncGenerator[Document, None]:
    """The org's documents, oldest first, streamed from one snapshot.

    The arguments are checked now, not at the first iteration.
    """
    org = rules.uuid(org_id, "org_id")
    wanted = rules.active(include_inactive)
    return _stream(store, org, wanted)


async def _stream(
    store: Store, org: UUID, include_inactive: bool
) -> AsyncGenerator[Document, None]:
    async with store.transaction() as tx:
        async for document in tx.batches.stream(org, include_inactive=include_inactive):
            yield document


def _mode(value: object) -> OnConflict:
    if value == "error" or value == "skip" or value == "update":  # noqa: PLR1714 (narrows)
        return value
    raise ValidationError("on_conflict", "must be one of: error, skip, update")


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, f"must be true or false, not {type(value).__name__}")
    return value


def _batch_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("batch_size", f"must be an integer, not {type(value).__name__}")
    if not 1 <= value <= MAX_BATCH_SIZE:
        raise ValidationError("batch_size", f"must be between 1 and {MAX_BATCH_SIZE}")
    return value


def _index(problem: ImportProblem) -> int:
    return problem.index


async def _collect(drafts: Iterable[DraftLike] | AsyncIterable[DraftLike]) -> list[object]:
    """Every item, in order. An import reads all of its input before writing anything."""
    if isinstance(drafts, AsyncIterable):
        return [draft async for draft in drafts]
    if isinstance(drafts, str | bytes | Mapping) or not isinstance(drafts, Iterable):
        raise ValidationError("drafts", "must be an iterable of documents")
    return list(drafts)


def _validate_all(
    validation: Rules, org: UUID, raw: Sequence[object]
) -> tuple[list[_Item], list[ImportProblem]]:
    items: list[_Item] = []
    problems: list[ImportProblem] = []
    for index, draft in enumerate(raw):
        try:
            items.append(_validate(validation, org, index, draft))
        except ValidationError as error:
            problems.append(ImportProblem(index=index, field=error.field, message=error.message))
    return items, problems


def _validate(validation: Rules, org: UUID, index: int, draft: object) -> _Item:
    fields = _fields(draft)
    if "filename" not in fields:
        raise ValidationError("filename", "Filename is required")
    if "content" not in fields:
        raise ValidationError("content", "Content is required")
    category = fields.get("category")
    metadata = fields.get("metadata")
    document = NewDocument(
        org_id=org,
        filename=validation.filename(fields["filename"]),
        content=validation.content(fields["content"]),
        category=validation.category(category),
        metadata=rules.metadata(metadata),
    )
    return _Item(
        index=index,
        document=document,
        category=None if category is None else document.category,
        metadata=None if metadata is None else document.metadata,
    )


def _fields(draft: object) -> Mapping[str, Any]:
    if isinstance(draft, DocumentDraft | Document):
        return {name: getattr(draft, name) for name in _FIELDS}
    if not isinstance(draft, Mapping):
        raise ValidationError("document", f"must be a mapping, not {type(draft).__name__}")
    for key in draft:
        if key not in _FIELDS and key not in _IGNORED:
            raise ValidationError(str(key), "Unknown field")
    return draft


@attrs.define
class _Target:
    """A document an import writes to: stored before, or created earlier in this import."""

    id: UUID
    state: DocumentState
    metadata: Mapping[str, Any] = attrs.field(repr=False)
    changes: list[ChangeDraft] = attrs.Factory(list)
    edited: bool = False


@attrs.define
class _Plan:
    """What one batch (or a whole atomic import) writes, and the tally of its items."""

    creations: list[Creation] = attrs.Factory(list)
    targets: list[_Target] = attrs.Factory(list)
    problems: list[ImportProblem] = attrs.Factory(list)
    created: int = 0
    updated: int = 0
    skipped: int = 0

    async def write(self, tx: Transaction, org: UUID, size: int) -> None:
        # Creations first: a revision may concern a document created by this plan.
        for start in range(0, len(self.creations), size):
            await tx.batches.insert_many(org, self.creations[start : start + size])
        revisions = [
            Revision(document_id=t.id, state=t.state, metadata=t.metadata, changes=t.changes)
            for t in self.targets
            if t.edited
        ]
        for start in range(0, len(revisions), size):
            await tx.batches.update_many(org, revisions[start : start + size])

    def merge(self, other: _Plan) -> _Plan:
        return _Plan(
            problems=self.problems + other.problems,
            created=self.created + other.created,
            updated=self.updated + other.updated,
            skipped=self.skipped + other.skipped,
        )

    def report(self, invalid: Sequence[ImportProblem]) -> ImportReport:
        errors = sorted([*invalid, *self.problems], key=_index)
        return ImportReport(
            created=self.created, updated=self.updated, skipped=self.skipped, errors=tuple(errors)
        )


@attrs.frozen
class _Planner:
    mode: OnConflict
    changed_by: str | None

    async def plan(self, tx: Transaction, org: UUID, items: Sequence[_Item]) -> _Plan:
        names = sorted({item.document.filename for item in items})
        stored: dict[str, list[Document]] = {}
        for document in await tx.batches.active_named(org, names):
            stored.setdefault(document.filename, []).append(document)
        plan = _Plan()
        targets: dict[str, _Target] = {}
        for item in items:
            self._place(plan, targets, stored.get(item.document.filename, []), item)
        plan.targets = list(targets.values())
        return plan

    def _place(
        self, plan: _Plan, targets: dict[str, _Target], stored: list[Document], item: _Item
    ) -> None:
        name = item.document.filename
        target = targets.get(name)
        if target is None and not stored:
            targets[name] = self._create(plan, item)
        elif self.mode == "skip":
            plan.skipped += 1
        elif self.mode == "error":
            message = f"A document named {name} already exists"
            plan.problems.append(ImportProblem(item.index, "filename", message))
        elif target is None and len(stored) > 1:
            message = f"{len(stored)} active documents are named {name}; update them one by one"
            plan.problems.append(ImportProblem(item.index, "filename", message))
        else:
            if target is None:
                target = targets[name] = _stored_target(stored[0])
            if self._revise(target, item):
                plan.updated += 1
            else:
                plan.skipped += 1

    def _create(self, plan: _Plan, item: _Item) -> _Target:
        document = item.document
        change = ChangeDraft(
            change_type=ChangeType.CREATED,
            summary=f"Created: {document.filename}",
            changed_by=self.changed_by,
            version_to=1,
            new_content=document.content,
        )
        plan.creations.append(Creation(id=uuid.uuid4(), document=document, change=change))
        plan.created += 1
        state = DocumentState(
            filename=document.filename,
            content=document.content,
            category=document.category,
            version=1,
            active=True,
        )
        return _Target(id=plan.creations[-1].id, state=state, metadata=document.metadata)

    def _revise(self, target: _Target, item: _Item) -> bool:
        """Apply the item to the target as an update would; False when nothing changes."""
        edit = Edit(
            filename=None,
            content=item.document.content,
            category=item.category,
            active=None,
            actor=self.changed_by,
        )
        target.state, changes = edit.apply_to(target.state)
        target.changes.extend(changes)
        moved = bool(changes)
        if item.metadata is not None and item.metadata != target.metadata:
            target.metadata, moved = item.metadata, True
        target.edited = target.edited or moved
        return moved


def _stored_target(document: Document) -> _Target:
    return _Target(id=document.id, state=DocumentState.of(document), metadata=document.metadata)
