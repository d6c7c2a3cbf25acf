"""An edit of a document's fields, and the changelog rows it makes."""

from __future__ import annotations

import attrs

from kbcore._domain import ChangeDraft, ChangeType, DocumentState


@attrs.frozen
class Edit:
    """A validated update request; ``None`` means "leave as it is"."""

    filename: str | None
    content: str | None = attrs.field(repr=False)
    category: str | None
    active: bool | None
    actor: str | None

    def apply_to(self, state: DocumentState) -> tuple[DocumentState, list[ChangeDraft]]:
        """The state after this edit, and a change for each field it really changes."""
        changes: list[ChangeDraft] = []
        if self.filename is not None and self.filename != state.filename:
            changes.append(
                self._change(ChangeType.RENAMED, f"Renamed: {state.filename} to {self.filename}")
            )
            state = attrs.evolve(state, filename=self.filename)
        if self.content is not None and self.content != state.content:
            changes.append(
                self._change(
                    ChangeType.UPDATED,
                    f"Updated: {state.filename}",
                    version_from=state.version,
                    version_to=state.version + 1,
                    previous_content=state.content,
                    new_content=self.content,
                )
            )
            state = attrs.evolve(state, content=self.content, version=state.version + 1)
        if self.category is not None and self.category != state.category:
            changes.append(
                self._change(
                    ChangeType.RECATEGORIZED,
                    f"Recategorized: {state.filename} from {state.category} to {self.category}",
                )
            )
            state = attrs.evolve(state, category=self.category)
        if self.active is not None and self.active != state.active:
            kind, verb = (
                (ChangeType.REACTIVATED, "Reactivated")
                if self.active
                else (ChangeType.DELETED, "Deleted")
            )
            changes.append(self._change(kind, f"{verb}: {state.filename}"))
            state = attrs.evolve(state, active=self.active)
        return state, changes

    def _change(
        self,
        change_type: ChangeType,
        summary: str,
        *,
        version_from: int | None = None,
        version_to: int | None = None,
        previous_content: str | None = None,
        new_content: str | None = None,
    ) -> ChangeDraft:
        return ChangeDraft(
            change_type=change_type,
            summary=summary,
            changed_by=self.actor,
            version_from=version_from,
            version_to=version_to,
            previous_content=previous_content,
            new_content=new_content,
        )
