"""Record labels: values, evidence, notes and status, each change kept in the history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from ..codebook import Codebook as CodebookDefinition
from ..models import (
    Assignment,
    CodebookVersion,
    Document,
    Evidence,
    Label,
    LabelEvent,
    LabelSet,
    LabelStatus,
    Page,
    User,
    utcnow,
)
from . import Session


class LabelError(ValueError):
    """A write was refused; ``errors`` maps variable ids (or ``""``) to messages."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))
        self.errors = dict(errors)


class StaleRevision(LabelError):
    """The label set changed since the writer loaded it: another tab or device saved first."""

    def __init__(self, label_set: LabelSet, expected: int):
        super().__init__(
            {
                "": f"this label set was saved elsewhere (revision {label_set.revision}, you had {expected})"
            }
        )
        self.current_revision = label_set.revision
        self.current_values = label_set.values()
        self.current_note = label_set.note


@dataclass(frozen=True)
class SaveResult:
    """What a save changed."""

    label_set: LabelSet
    changed: tuple[str, ...]


def find_assignment(session: Session, document: Document, coder: User) -> Assignment | None:
    """The coder's assignment for this document, if they have one."""
    return session.scalar(
        select(Assignment)
        .where(Assignment.document_id == document.id, Assignment.coder_id == coder.id)
        .order_by(Assignment.id)
    )


def find_label_set(
    session: Session, document_id: int, coder_id: int, codebook_id: int, *, for_update: bool = False
) -> LabelSet | None:
    """The coder's label set for the document under any version of the codebook, or None.

    Its codebook version and labels come in the same query: saving and showing a label
    set need both, and lazy loads would cost a round trip each. ``for_update`` locks the
    label set's row until the transaction ends (PostgreSQL; SQLite's writers take the
    whole database in turn): two saves at once, from two tabs naming the same revision,
    then follow each other, and the second is refused as stale instead of both passing the
    revision check and the second overwriting the first.
    """
    query = (
        select(LabelSet)
        .join(LabelSet.codebook_version)
        .options(contains_eager(LabelSet.codebook_version), joinedload(LabelSet.labels))
        .where(
            LabelSet.document_id == document_id,
            LabelSet.coder_id == coder_id,
            CodebookVersion.codebook_id == codebook_id,
        )
        .order_by(CodebookVersion.number.desc())
    )
    if for_update:
        query = query.with_for_update(of=LabelSet)
    return session.scalars(query).unique().first()


def label_set_for(
    session: Session, document: Document, coder: User, version: CodebookVersion, *, create: bool
) -> LabelSet | None:
    """The coder's label set for the document under this codebook.

    A label set made under an older version of the codebook is returned as it is: its
    labels stay tied to the version they were made under. A new one is made under
    ``version`` only when ``create`` is true.
    """
    existing = find_label_set(session, document.id, coder.id, version.codebook_id)
    if existing is not None or not create:
        return existing
    label_set = LabelSet(document=document, coder=coder, codebook_version=version)
    session.add(label_set)
    session.flush()
    return label_set


def _record(session: Session, label_set: LabelSet, user: User, action: str, **fields: Any) -> None:
    session.add(LabelEvent(label_set_id=label_set.id, user_id=user.id, action=action, **fields))


def save_labels(
    session: Session,
    label_set: LabelSet,
    user: User,
    values: Mapping[str, Any],
    *,
    note: str | None = None,
    expected_revision: int | None = None,
    submit: bool = False,
) -> SaveResult:
    """Store values (only the variables given), optionally submit; nothing on any error.

    Every value is checked against the codebook version of the label set; on submit,
    every required variable must have a value. A submitted label set must be reopened
    before it changes.
    """
    if expected_revision is not None and expected_revision != label_set.revision:
        raise StaleRevision(label_set, expected_revision)
    if label_set.status is LabelStatus.SUBMITTED:
        raise LabelError({"": "this label set is submitted: reopen it to change it"})
    codebook: CodebookDefinition = label_set.codebook_version.parsed()
    errors: dict[str, str] = {}
    normalised: dict[str, Any] = {}
    for variable_id, raw in values.items():
        try:
            variable = codebook.variable(variable_id)
        except KeyError:
            errors[variable_id] = "not a variable of this codebook"
            continue
        problem = variable.check_value(raw)
        if problem:
            errors[variable_id] = problem
        else:
            normalised[variable_id] = variable.normalize_value(raw)
    current = label_set.values()
    if submit and not errors:
        merged = {**current, **normalised}
        for variable_id in codebook.missing_required(merged):
            errors[variable_id] = "required: give a value before submitting"
    if errors:
        raise LabelError(errors)

    by_variable = {label.variable: label for label in label_set.labels}
    changed: list[str] = []
    for variable_id, value in normalised.items():
        before = current.get(variable_id)
        if before == value and (variable_id in by_variable or value is None):
            continue
        if variable_id in by_variable:
            by_variable[variable_id].value = value
        else:
            label_set.labels.append(Label(variable=variable_id, value=value))
        _record(
            session, label_set, user, "set_value", variable=variable_id, before=before, after=value
        )
        changed.append(variable_id)
    if note is not None and note != label_set.note:
        _record(session, label_set, user, "set_note", before=label_set.note, after=note)
        label_set.note = note
        changed.append("note")
    if submit:
        label_set.status = LabelStatus.SUBMITTED
        label_set.submitted_at = utcnow()
        _record(
            session,
            label_set,
            user,
            "submit",
            before=LabelStatus.IN_PROGRESS.value,
            after="submitted",
        )
        changed.append("status")
    if changed:
        label_set.revision += 1
        label_set.updated_at = utcnow()
    session.flush()
    return SaveResult(label_set, tuple(changed))


def reopen(session: Session, label_set: LabelSet, user: User) -> None:
    """Make a submitted label set editable again, and say so in the history."""
    if label_set.status is not LabelStatus.SUBMITTED:
        return
    label_set.status = LabelStatus.IN_PROGRESS
    label_set.submitted_at = None
    label_set.revision += 1
    label_set.updated_at = utcnow()
    _record(
        session, label_set, user, "reopen", before="submitted", after=LabelStatus.IN_PROGRESS.value
    )
    session.flush()


def add_evidence(
    session: Session,
    label_set: LabelSet,
    user: User,
    *,
    variable: str,
    page: int,
    quote: str,
    start: int | None = None,
) -> Evidence:
    """Attach a quoted passage to a variable, located on its page of the document.

    Without ``start``, the quote is found in the page text (its first occurrence); with
    it, the text at ``start`` must be the quote. A quote that is not in the document is
    refused: evidence must be checkable.
    """
    if label_set.status is LabelStatus.SUBMITTED:
        raise LabelError({"": "this label set is submitted: reopen it to change it"})
    codebook: CodebookDefinition = label_set.codebook_version.parsed()
    try:
        codebook.variable(variable)
    except KeyError:
        raise LabelError({variable: "not a variable of this codebook"}) from None
    quote = quote.strip()
    if not quote:
        raise LabelError({variable: "the quote is empty"})
    text = session.scalar(
        select(Page.text).where(Page.document_id == label_set.document_id, Page.number == page)
    )
    if text is None:
        raise LabelError({variable: f"the document has no page {page}"})
    if start is None:
        start = text.find(quote)
        if start < 0:
            raise LabelError({variable: f"the quote is not on page {page}"})
    elif text[start : start + len(quote)] != quote:
        raise LabelError({variable: f"the quote is not at offset {start} of page {page}"})
    evidence = Evidence(
        variable=variable, page=page, quote=quote, start=start, end=start + len(quote)
    )
    label_set.evidence.append(evidence)
    session.flush()
    label_set.revision += 1
    label_set.updated_at = utcnow()
    _record(session, label_set, user, "add_evidence", variable=variable, after=evidence.as_dict())
    session.flush()
    return evidence


def remove_evidence(session: Session, label_set: LabelSet, user: User, evidence_id: int) -> None:
    """Detach a quote; the history keeps what it was."""
    if label_set.status is LabelStatus.SUBMITTED:
        raise LabelError({"": "this label set is submitted: reopen it to change it"})
    evidence = next((e for e in label_set.evidence if e.id == evidence_id), None)
    if evidence is None:
        raise LabelError({"": f"no evidence {evidence_id} in this label set"})
    _record(
        session,
        label_set,
        user,
        "remove_evidence",
        variable=evidence.variable,
        before=evidence.as_dict(),
    )
    label_set.evidence.remove(evidence)
    label_set.revision += 1
    label_set.updated_at = utcnow()
    session.flush()


def history(session: Session, label_set: LabelSet) -> list[LabelEvent]:
    """Every change to a label set, oldest first."""
    return list(
        session.scalars(
            select(LabelEvent)
            .where(LabelEvent.label_set_id == label_set.id)
            .order_by(LabelEvent.id)
        )
    )
