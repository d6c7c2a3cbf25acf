"""Importing many documents into an org at once.

An import reads its input a batch at a time (``_import_items.py``), validates each
batch before writing any of it, then plans the batch against the org's documents of
the same filenames (read under a row lock, in the batch's transaction, which in an
all-or-nothing import is the import's one transaction) and writes the plan with a few
statements. Items apply in the order given, as if created one by one: a filename
that occurs twice meets the first occurrence as an existing document.

An org has at most one active document per filename. An active item meets the
active document of its filename as ``on_conflict`` says; an inactive item (a
deleted document, as an export of deleted ones holds it) clashes with nothing:
it is created deleted, unless the org already had a deleted document just like
it (same filename, content, category and metadata), which it then skips, so
that importing one export twice adds nothing the second time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Literal
from uuid import UUID

import attrs

from kbcore._domain import (
    ChangeDraft,
    ChangeType,
    Creation,
    Document,
    DocumentState,
    ImportProblem,
    ImportReport,
    NewDocument,
    Revision,
)
from kbcore._ports import Documents, DocumentWrites
from kbcore._progress import OnProgress, Tally
from kbcore.documents._edits import Edit
from kbcore.documents._import_items import Batch, DraftLike, Item, batches, input_size, items_of
from kbcore.documents._rules import Rules
from kbcore.errors import DuplicateFilename, OutcomeUnknown, StoreUnavailable, ValidationError

#: What an import does with an item whose filename an active document already has.
OnConflict = Literal["error", "skip", "update"]

DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 10_000


class _Rejected(Exception):
    """Rolls an all-or-nothing import back: some item could not be taken."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__(f"{len(problems)} items rejected")
        self.problems = problems


@attrs.frozen(kw_only=True)
class Importer:
    """One import into an org, its options checked; see ``KnowledgeBase.import_documents``."""

    store: Documents
    rules: Rules
    on_conflict: OnConflict
    all_or_nothing: bool
    batch_size: int
    changed_by: str | None
    on_progress: OnProgress | None = None

    async def run(
        self, org: UUID, drafts: Iterable[DraftLike] | AsyncIterable[DraftLike]
    ) -> ImportReport:
        """Read, validate and write the items a batch at a time: in one unit of work, or
        one per batch. ``done`` counts the items read and dealt with (written, skipped or
        rejected), of the input's length when it has one."""
        source = batches(self.rules, org, items_of(drafts), self.batch_size)
        tally = Tally("import", self.on_progress)
        tally.start(input_size(drafts) or 0)
        if self.all_or_nothing:
            report = await self._at_once(org, source, tally)
        else:
            report = await self._by_batch(org, source, tally)
        if report.ok or not self.all_or_nothing:
            tally.reach(tally.total)
        return report

    async def _at_once(self, org: UUID, source: AsyncIterator[Batch], tally: Tally) -> ImportReport:
        """Everything in one unit of work, rolled back when any item cannot be taken."""
        try:
            async with self.store.writing() as writes:
                total = await self._write_all(writes, org, source, tally)
        except _Rejected as rejected:
            return ImportReport(errors=tuple(sorted(rejected.problems, key=_index)))
        return total.report(())

    async def _write_all(
        self, writes: DocumentWrites, org: UUID, source: AsyncIterator[Batch], tally: Tally
    ) -> _Plan:
        """Write batch after batch; after a first problem write nothing more, only
        validate the rest (every problem is reported), and raise ``_Rejected``."""
        planner = _Planner(mode=self.on_conflict, changed_by=self.changed_by)
        total, problems = _Plan(), list[ImportProblem]()
        async for batch in source:
            problems += batch.problems
            if not problems:
                plan = await planner.plan(writes, org, batch.items)
                problems += plan.problems
            if not problems:
                await plan.write(writes, org, self.batch_size)
                total = total.merge(plan)
            tally.advance(batch.read)
        if problems:
            raise _Rejected(problems)
        return total

    async def _by_batch(
        self, org: UUID, source: AsyncIterator[Batch], tally: Tally
    ) -> ImportReport:
        planner = _Planner(mode=self.on_conflict, changed_by=self.changed_by)
        total, problems, first = _Plan(), list[ImportProblem](), True
        async for batch in source:
            problems += batch.problems
            try:
                async with self.store.writing() as writes:
                    plan = await planner.plan(writes, org, batch.items)
                    await plan.write(writes, org, self.batch_size)
            except StoreUnavailable as error:
                # Read the rest, to say which items were never written.
                later = [batch async for batch in source]
                problems += [p for b in later for p in b.problems]
                report = total.report(problems)
                left = [item for b in later for item in b.items]
                raise ImportInterrupted.of(report, batch.items, left, error, first=first) from error
            tally.advance(batch.read)
            total, first = total.merge(plan), False
        return total.report(problems)


class ImportInterrupted(StoreUnavailable):
    """The database stopped an import that writes in batches; ``report`` says what it kept.

    The report counts the batches committed before, and lists by index the items of the
    batch that failed and of those never started: in ``not_saved``, or in
    ``outcome_unknown`` when the failed batch's commit went unanswered. The cause is that
    batch's ``NotSaved`` or ``OutcomeUnknown``.
    """

    def __init__(self, message: str, report: ImportReport, cause: StoreUnavailable) -> None:
        super().__init__(message, sqlstate=cause.sqlstate, database_message=cause.database_message)
        self.report = report

    @classmethod
    def of(
        cls,
        done: ImportReport,
        batch: Sequence[Item],
        left: Sequence[Item],
        cause: StoreUnavailable,
        *,
        first: bool,
    ) -> ImportInterrupted:
        """The error for an import whose ``batch`` failed with ``cause``; ``left`` came after.

        ``first`` says whether that batch was the import's first one.
        """
        failed = tuple(item.index for item in batch)
        later = tuple(item.index for item in left)
        unknown = failed if isinstance(cause, OutcomeUnknown) else ()
        not_saved = later if unknown else failed + later
        report = attrs.evolve(done, not_saved=not_saved, outcome_unknown=unknown)
        fate = "may or may not have been saved" if unknown else "were not saved"
        before = (
            "Nothing was committed before it" if first else "The batches before it were committed"
        )
        message = (
            f"The import stopped at item {failed[0]}: {cause}. {before}; "
            f"the {len(failed)} items of its batch {fate}, and the {len(later)} items after "
            "them were not written (see the report)"
        )
        return cls(message, report, cause)


def on_conflict(value: object) -> OnConflict:
    if value == "error" or value == "skip" or value == "update":  # noqa: PLR1714 (narrows)
        return value
    raise ValidationError("on_conflict", "must be one of: error, skip, update")


def _index(problem: ImportProblem) -> int:
    return problem.index


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

    async def write(self, writes: DocumentWrites, org: UUID, size: int) -> None:
        """Write the plan, ``size`` documents a statement."""
        revisions = [
            Revision(document_id=t.id, state=t.state, metadata=t.metadata, changes=t.changes)
            for t in self.targets
            if t.edited
        ]
        # Creations first: a revision may concern a document created by this plan.
        for start in range(0, len(self.creations), size):
            await writes.insert_many(org, self.creations[start : start + size])
        for start in range(0, len(revisions), size):
            await writes.update_many(org, revisions[start : start + size])

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

    async def plan(self, writes: DocumentWrites, org: UUID, items: Sequence[Item]) -> _Plan:
        names = sorted({item.document.filename for item in items if item.active})
        active = {document.filename: document for document in await writes.lock_named(org, names)}
        deleted = await self._deleted(writes, org, items)
        plan = _Plan()
        targets: dict[str, _Target] = {}
        for item in items:
            if item.active:
                self._place(plan, targets, active.get(item.document.filename), item)
            elif _view(item.document) in deleted:
                plan.skipped += 1
            else:
                self._create(plan, item)
        plan.targets = list(targets.values())
        return plan

    @staticmethod
    async def _deleted(
        writes: DocumentWrites, org: UUID, items: Sequence[Item]
    ) -> set[tuple[Any, ...]]:
        """What the org's deleted documents of the inactive items' filenames hold."""
        names = sorted({item.document.filename for item in items if not item.active})
        if not names:
            return set()
        stored = await writes.lock_named(org, names, include_inactive=True)
        return {_view(document) for document in stored if not document.active}

    def _place(
        self, plan: _Plan, targets: dict[str, _Target], stored: Document | None, item: Item
    ) -> None:
        name = item.document.filename
        target = targets.get(name)
        if target is None and stored is None:
            targets[name] = self._create(plan, item)
        elif self.mode == "skip":
            plan.skipped += 1
        elif self.mode == "error":
            message = DuplicateFilename(name).message
            plan.problems.append(ImportProblem(item.index, "filename", message))
        else:
            if target is None:
                assert stored is not None  # one of the two is there
                target = targets[name] = _stored_target(stored)
            if self._revise(target, item):
                plan.updated += 1
            else:
                plan.skipped += 1

    def _create(self, plan: _Plan, item: Item) -> _Target:
        document = item.document
        change = ChangeDraft(
            change_type=ChangeType.CREATED,
            summary=f"Created: {document.filename}",
            changed_by=self.changed_by,
            version_to=1,
            new_content=document.content,
        )
        deletion = (
            None
            if item.active
            else ChangeDraft(
                change_type=ChangeType.DELETED,
                summary=f"Deleted: {document.filename}",
                changed_by=self.changed_by,
            )
        )
        plan.creations.append(
            Creation(id=uuid.uuid4(), document=document, change=change, deletion=deletion)
        )
        plan.created += 1
        state = DocumentState(
            filename=document.filename,
            content=document.content,
            category=document.category,
            version=1,
            active=True,
        )
        return _Target(id=plan.creations[-1].id, state=state, metadata=document.metadata)

    def _revise(self, target: _Target, item: Item) -> bool:
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


def _view(document: NewDocument | Document) -> tuple[Any, ...]:
    """What makes two documents of a filename the same, whatever their ids and versions."""
    metadata = json.dumps(dict(document.metadata), sort_keys=True)
    return (document.filename, document.content, document.category, metadata)


def _stored_target(document: Document) -> _Target:
    return _Target(id=document.id, state=DocumentState.of(document), metadata=document.metadata)
