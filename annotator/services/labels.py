"""Record labels: values, evidence, notes and status, each change kept in the history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from ..codebook import Codebook as CodebookDefinition
from ..messages import Message, on_one_line
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
    parsed_definition,
    utcnow,
)
from . import Session

# Refused changes of a submitted label set.
SUBMITTED = Message("this label set is submitted: reopen it to change it")


class LabelError(ValueError):
    """A write was refused; ``errors`` maps variable ids (or ``""``) to messages."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__(on_one_line(errors))
        self.errors = dict(errors)


@dataclass(frozen=True)
class LabelSetState:
    """A label set as a save reads and writes it: its row and its values, no ORM objects.

    Saving is the request coders make most (the page autosaves every change), so it reads
    and writes with plain statements: loading ORM objects and flushing them through the
    unit of work cost a save more CPU than all its SQL.
    """

    id: int
    codebook_version_id: int
    fingerprint: str
    status: LabelStatus
    note: str
    revision: int
    values: dict[str, Any]

    def codebook(self, session: Session) -> CodebookDefinition:
        """The codebook version this label set was made under (parsed once per process)."""
        return parsed_definition(
            self.fingerprint,
            lambda: session.execute(
                _DEFINITION, {"version_id": self.codebook_version_id}
            ).scalar_one(),
        )


class StaleRevision(LabelError):
    """The label set changed since the writer loaded it: another tab or device saved first."""

    def __init__(self, current: LabelSetState, expected: int):
        super().__init__(
            {
                "": Message(
                    "this label set was saved elsewhere (revision %(revision)s, you had "
                    "%(expected)s)",
                    revision=current.revision,
                    expected=expected,
                )
            }
        )
        self.current_revision = current.revision
        self.current_values = current.values
        self.current_note = current.note


@dataclass(frozen=True)
class SaveResult:
    """What a save changed, and the label set as it stands after it."""

    state: LabelSetState
    changed: tuple[str, ...]


# Saving's statements, built once: a statement built per call costs more CPU than SQLite
# takes to run it, and a prebuilt one also keeps its cache key.
_label_set = LabelSet.__table__
_label = Label.__table__
_event = LabelEvent.__table__
_version = CodebookVersion.__table__
_assignment = Assignment.__table__
_STATE = select(
    _label_set.c.id,
    _label_set.c.codebook_version_id,
    _version.c.fingerprint,
    _label_set.c.status,
    _label_set.c.note,
    _label_set.c.revision,
).join(_version, _version.c.id == _label_set.c.codebook_version_id)
_STATE_BY_OWNER = (
    _STATE.where(
        _label_set.c.document_id == bindparam("document_id"),
        _label_set.c.coder_id == bindparam("coder_id"),
        _version.c.codebook_id == bindparam("codebook_id"),
    )
    .order_by(_version.c.number.desc())
    .limit(1)
)
_STATE_BY_ID = _STATE.where(_label_set.c.id == bindparam("label_set_id"))
_STATE_BY_ID_LOCKED = _STATE_BY_ID.with_for_update(of=_label_set)
_VALUES = (
    select(_label.c.variable, _label.c.value)
    .where(_label.c.label_set_id == bindparam("label_set_id"))
    .order_by(_label.c.id)
)
_NEWEST_VERSION = (
    select(_version.c.id, _version.c.fingerprint)
    .where(_version.c.codebook_id == bindparam("codebook_id"))
    .order_by(_version.c.number.desc())
    .limit(1)
)
_DEFINITION = select(_version.c.definition).where(_version.c.id == bindparam("version_id"))
# The coder's assignment for a document, its label set (the newest version's) and values,
# in one query: the autosave's whole read. Rows: the first assignment, then its label sets
# from the newest version, then their labels in order; None where there is none.
_ASSIGNED_STATE = (
    select(
        _assignment.c.id.label("assignment_id"),
        _assignment.c.codebook_id,
        _label_set.c.id,
        _label_set.c.codebook_version_id,
        _version.c.fingerprint,
        _label_set.c.status,
        _label_set.c.note,
        _label_set.c.revision,
        _label.c.variable,
        _label.c.value,
    )
    .select_from(
        _assignment.outerjoin(
            _label_set.join(_version, _version.c.id == _label_set.c.codebook_version_id),
            and_(
                _label_set.c.document_id == _assignment.c.document_id,
                _label_set.c.coder_id == _assignment.c.coder_id,
                _version.c.codebook_id == _assignment.c.codebook_id,
            ),
        ).outerjoin(_label, _label.c.label_set_id == _label_set.c.id)
    )
    .where(
        _assignment.c.document_id == bindparam("document_id"),
        _assignment.c.coder_id == bindparam("coder_id"),
    )
    .order_by(_assignment.c.id, _version.c.number.desc(), _label_set.c.id, _label.c.id)
)
_INSERT_LABEL_SET = insert(_label_set)
_UPDATE_LABEL_SET = update(_label_set).where(
    _label_set.c.id == bindparam("set_id"),
    _label_set.c.revision == bindparam("read_revision"),
)
_UPDATE_LABEL = update(_label).where(
    _label.c.label_set_id == bindparam("set_id"),
    _label.c.variable == bindparam("variable_id"),
)
_INSERT_LABEL = insert(_label)
_INSERT_EVENT = insert(_event)
# A save that lost the race for its label set to a save that named no revision either is
# made again on the new state, read locked: its second round cannot lose. This bounds the
# loop all the same; past it the writer would be told to try again.
SAVE_ROUNDS = 3


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
    whole database in turn), for a caller that reads more than the label set before it
    writes; ``save_labels`` itself needs no lock (its write is conditional on the revision).
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
        # Locked, it is read afresh: a label set the session had loaded before would
        # otherwise keep the attributes it had then.
        query = query.with_for_update(of=LabelSet).execution_options(populate_existing=True)
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


def assigned_state(
    session: Session, document_id: int, coder_id: int
) -> tuple[int, LabelSetState | None] | None:
    """The codebook of the coder's assignment for the document and the label set made for
    it, if any (``read_state``'s), in one query; None when the document is not assigned.
    """
    rows = session.connection().execute(
        _ASSIGNED_STATE, {"document_id": document_id, "coder_id": coder_id}
    )
    first = None
    values: dict[str, Any] = {}
    for row in rows:
        if first is None:
            first = row
        elif (row.assignment_id, row.id) != (first.assignment_id, first.id):
            break
        if row.variable is not None:
            values[row.variable] = row.value
    rows.close()
    if first is None:
        return None
    if first.id is None:
        return first.codebook_id, None
    return first.codebook_id, _state_of_row(first, values)


def _state_of_row(row: Any, values: dict[str, Any]) -> LabelSetState:
    """A label set's state from a row with ``_STATE``'s columns, and its values."""
    return LabelSetState(
        id=row.id,
        codebook_version_id=row.codebook_version_id,
        fingerprint=row.fingerprint,
        status=row.status,
        note=row.note,
        revision=row.revision,
        values=values,
    )


def _state(connection: Connection, row: Any) -> LabelSetState:
    values = connection.execute(_VALUES, {"label_set_id": row.id})
    return _state_of_row(row, {variable: value for variable, value in values})


def read_state(
    session: Session, document_id: int, coder_id: int, codebook_id: int
) -> LabelSetState | None:
    """The coder's label set for the document under any version of the codebook, or None.

    Two plain queries, no lock: ``save_state`` checks the revision when it writes.
    """
    connection = session.connection()
    row = connection.execute(
        _STATE_BY_OWNER,
        {"document_id": document_id, "coder_id": coder_id, "codebook_id": codebook_id},
    ).first()
    return None if row is None else _state(connection, row)


def reread_state(
    session: Session, label_set_id: int, *, lock: bool = False
) -> LabelSetState | None:
    """A label set's state as the database holds it now (None once it is deleted).

    ``lock`` takes its row until the transaction ends (``FOR UPDATE``, PostgreSQL; on
    SQLite a writer already holds the whole database).
    """
    connection = session.connection()
    statement = _STATE_BY_ID_LOCKED if lock else _STATE_BY_ID
    row = connection.execute(statement, {"label_set_id": label_set_id}).first()
    return None if row is None else _state(connection, row)


def create_state(
    session: Session, document_id: int, coder_id: int, codebook_id: int
) -> LabelSetState | None:
    """The coder's label set for the document, made under the codebook's newest version,
    for a caller that read none (``assigned_state``); None when the codebook has no version.

    Two first saves of the same document at once (two tabs) both read nothing and both
    insert: the unique constraint refuses the second, which then reads the first's label
    set. The caller must not have written anything yet in its transaction: the refused
    insert rolls it back.
    """
    version = session.connection().execute(_NEWEST_VERSION, {"codebook_id": codebook_id}).first()
    if version is None:
        return None
    now = utcnow()
    try:
        inserted = session.connection().execute(
            _INSERT_LABEL_SET,
            {
                "document_id": document_id,
                "coder_id": coder_id,
                "codebook_version_id": version.id,
                "status": LabelStatus.IN_PROGRESS,
                "note": "",
                "revision": 0,
                "created_at": now,
                "updated_at": now,
            },
        )
    except IntegrityError:
        session.rollback()
        winner = read_state(session, document_id, coder_id, codebook_id)
        if winner is None:  # not the race: the document or the coder is gone
            raise
        return winner
    key = inserted.inserted_primary_key
    assert key is not None
    return LabelSetState(
        id=key[0],
        codebook_version_id=version.id,
        fingerprint=version.fingerprint,
        status=LabelStatus.IN_PROGRESS,
        note="",
        revision=0,
        values={},
    )


def state_of(label_set: LabelSet) -> LabelSetState:
    """The state of a label set loaded through the ORM."""
    return LabelSetState(
        id=label_set.id,
        codebook_version_id=label_set.codebook_version_id,
        fingerprint=label_set.codebook_version.fingerprint,
        status=label_set.status,
        note=label_set.note,
        revision=label_set.revision,
        values=label_set.values(),
    )


def _record(session: Session, label_set: LabelSet, user: User, action: str, **fields: Any) -> None:
    session.add(LabelEvent(label_set_id=label_set.id, user_id=user.id, action=action, **fields))


def _checked(
    codebook: CodebookDefinition,
    values: Mapping[str, Any],
    current: Mapping[str, Any],
    submit: bool,
) -> dict[str, Any]:
    """The values normalised; LabelError naming every refused one (and, on submit, every
    required variable left without a value)."""
    errors: dict[str, str] = {}
    normalised: dict[str, Any] = {}
    for variable_id, raw in values.items():
        try:
            variable = codebook.variable(variable_id)
        except KeyError:
            errors[variable_id] = Message("not a variable of this codebook")
            continue
        problem = variable.check_value(raw)
        if problem:
            errors[variable_id] = problem
        else:
            normalised[variable_id] = variable.normalize_value(raw)
    if submit and not errors:
        merged = {**current, **normalised}
        for variable_id in codebook.missing_required(merged):
            errors[variable_id] = Message("required: give a value before submitting")
    if errors:
        raise LabelError(errors)
    return normalised


def save_state(
    session: Session,
    state: LabelSetState,
    user_id: int,
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

    ``state`` may be read without a lock: the write is an update of the label set's row
    on condition that its revision is still the one read, which takes the row (the
    database, on SQLite) until the transaction ends. When another save came between the
    read and the write, a save that named ``expected_revision`` is refused as stale; one
    that did not is made again on what that other save left, read with the row locked,
    so that it is made in two rounds at most however many tabs save at once. The caller
    commits.
    """
    connection = session.connection()
    for _round in range(SAVE_ROUNDS):
        if expected_revision is not None and expected_revision != state.revision:
            raise StaleRevision(state, expected_revision)
        if state.status is LabelStatus.SUBMITTED:
            raise LabelError({"": SUBMITTED})
        current = state.values
        normalised = _checked(state.codebook(session), values, current, submit)
        changed_values = {
            variable_id: value
            for variable_id, value in normalised.items()
            if current.get(variable_id) != value
        }
        note_changed = note is not None and note != state.note
        changed = [
            *changed_values,
            *(["note"] if note_changed else []),
            *(["status"] if submit else []),
        ]
        if not changed:
            return SaveResult(state, ())
        now = utcnow()
        row: dict[str, Any] = {
            "set_id": state.id,
            "read_revision": state.revision,
            "revision": state.revision + 1,
            "updated_at": now,
        }
        if note_changed:
            row["note"] = note
        if submit:
            row.update(status=LabelStatus.SUBMITTED, submitted_at=now)
        if connection.execute(_UPDATE_LABEL_SET, row).rowcount == 1:
            break
        # Lost to a save committed since the read: read again, locked, so that no third
        # save can come between this read and the next round's write.
        fresh = reread_state(session, state.id, lock=True)
        if fresh is None:
            raise LabelError({"": Message("this label set was deleted meanwhile")})
        if expected_revision is not None:
            raise StaleRevision(fresh, expected_revision)
        state = fresh
    else:
        raise StaleRevision(state, state.revision)

    existing = [v for v in changed_values if v in current]
    if existing:
        connection.execute(
            _UPDATE_LABEL,
            [{"set_id": state.id, "variable_id": v, "value": changed_values[v]} for v in existing],
        )
    added = [v for v in changed_values if v not in current]
    if added:
        connection.execute(
            _INSERT_LABEL,
            [{"label_set_id": state.id, "variable": v, "value": changed_values[v]} for v in added],
        )
    events = [
        {"variable": v, "action": "set_value", "before": current.get(v), "after": value}
        for v, value in changed_values.items()
    ]
    if note_changed:
        events.append({"variable": None, "action": "set_note", "before": state.note, "after": note})
    if submit:
        events.append(
            {
                "variable": None,
                "action": "submit",
                "before": LabelStatus.IN_PROGRESS.value,
                "after": "submitted",
            }
        )
    connection.execute(
        _INSERT_EVENT,
        [{"label_set_id": state.id, "user_id": user_id, "at": now, **e} for e in events],
    )
    return SaveResult(
        replace(
            state,
            revision=state.revision + 1,
            note=note if note_changed and note is not None else state.note,
            status=LabelStatus.SUBMITTED if submit else state.status,
            values={**current, **changed_values},
        ),
        tuple(changed),
    )


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
    """``save_state`` for a label set loaded through the ORM, which is refreshed after it."""
    session.flush()
    result = save_state(
        session,
        state_of(label_set),
        user.id,
        values,
        note=note,
        expected_revision=expected_revision,
        submit=submit,
    )
    if result.changed:
        for label in label_set.labels:
            session.expire(label)
        session.expire(label_set)
    return result


def reopen(session: Session, label_set: LabelSet, user: User) -> None:
    """Make a submitted label set editable again, and say so in the history.

    Like ``add_evidence`` and ``remove_evidence``, it raises the revision it read: the
    caller loads the label set locked (``find_label_set(for_update=True)``), so that a save
    landing in between waits and is made on the new revision instead of sharing it.
    """
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
        raise LabelError({"": SUBMITTED})
    codebook: CodebookDefinition = label_set.codebook_version.parsed()
    try:
        codebook.variable(variable)
    except KeyError:
        raise LabelError({variable: Message("not a variable of this codebook")}) from None
    quote = quote.strip()
    if not quote:
        raise LabelError({variable: Message("the quote is empty")})
    text = session.scalar(
        select(Page.text).where(Page.document_id == label_set.document_id, Page.number == page)
    )
    if text is None:
        raise LabelError({variable: Message("the document has no page %(page)s", page=page)})
    if start is None:
        start = text.find(quote)
        if start < 0:
            raise LabelError({variable: Message("the quote is not on page %(page)s", page=page)})
    elif text[start : start + len(quote)] != quote:
        raise LabelError(
            {
                variable: Message(
                    "the quote is not at offset %(start)s of page %(page)s", start=start, page=page
                )
            }
        )
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
        raise LabelError({"": SUBMITTED})
    evidence = next((e for e in label_set.evidence if e.id == evidence_id), None)
    if evidence is None:
        raise LabelError({"": Message("no evidence %(id)s in this label set", id=evidence_id)})
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
