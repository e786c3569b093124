"""Adjudication: the final ("gold") value of each variable of a document.

Where several coders coded a document, an adjudicator (the PI, or a coder given the right
who did not code the document) compares their values and decides the final one, taken
from a coder or typed, with a note. Final values are stored apart from the labels
(``FinalValue``), and every change writes a ``FinalEvent`` (append-only). A document coded
by one coder takes that coder's submitted values as final unless a final value is stored;
with ``agreement_is_final``, so do the values on which all coders agree.

``final_values`` is what the exports read. This module imports no Flask.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload

from ..codebook import Variable, VariableType
from ..messages import Message
from ..models import (
    Assignment,
    CodebookVersion,
    Document,
    Evidence,
    FinalEvent,
    FinalValue,
    Label,
    LabelSet,
    LabelStatus,
    User,
    utcnow,
)
from . import Session
from .reliability import Quote, rating_value, unit_names

# FinalEvent.action values.
SET = "set"
ACCEPT_AGREED = "accept_agreed"
CLEAR = "clear"


class AdjudicationError(ValueError):
    """A decision was refused; ``errors`` maps a field (or ``""``) to a message."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))
        self.errors = dict(errors)


class NotAllowed(AdjudicationError):
    """The person may not adjudicate this document."""


# --- who may adjudicate ---------------------------------------------------------------------


def coded_by(session: Session, user: User, document: Document, version: CodebookVersion) -> bool:
    """Whether the person codes or coded the document with this codebook (any version).

    An assignment counts as well as a label set: a coder who has yet to start must not see
    the others' values first.
    """
    label_set = session.scalar(
        select(LabelSet.id)
        .join(CodebookVersion, LabelSet.codebook_version_id == CodebookVersion.id)
        .where(
            LabelSet.document_id == document.id,
            LabelSet.coder_id == user.id,
            CodebookVersion.codebook_id == version.codebook_id,
        )
        .limit(1)
    )
    if label_set is not None:
        return True
    assignment = session.scalar(
        select(Assignment.id)
        .where(
            Assignment.document_id == document.id,
            Assignment.coder_id == user.id,
            Assignment.codebook_id == version.codebook_id,
        )
        .limit(1)
    )
    return assignment is not None


def may_adjudicate(
    session: Session, user: User, document: Document, version: CodebookVersion
) -> bool:
    """Whether the person may decide final values of this document.

    The PI always may; a coder given the adjudicator right may, except for a document they
    code themselves (adjudicating one's own coding would not be independent).
    """
    if not user.active or not user.may_adjudicate:
        return False
    if user.role.can_adjudicate():
        return True
    return not coded_by(session, user, document, version)


def may_read(session: Session, user: User, document: Document) -> bool:
    """Whether an adjudicator may open a document: one they may adjudicate, in some version.

    The documents views ask this of a person who is not assigned the document: an
    adjudicator reads the document beside the coders' values, never one of their own.
    """
    if not user.active or not user.may_adjudicate:
        return False
    versions = session.scalars(
        select(CodebookVersion)
        .join(LabelSet, LabelSet.codebook_version_id == CodebookVersion.id)
        .where(LabelSet.document_id == document.id, LabelSet.status == LabelStatus.SUBMITTED)
        .distinct()
    )
    return any(may_adjudicate(session, user, document, version) for version in versions)


def set_adjudicator(session: Session, user: User, allowed: bool) -> bool:
    """Give a coder the adjudicator right or take it back; whether anything changed.

    The PI always may adjudicate: the right is a coder's only.
    """
    if user.role.can_adjudicate():
        raise AdjudicationError({"": f"{user.username} may always adjudicate"})
    if user.can_adjudicate == allowed:
        return False
    user.can_adjudicate = allowed
    session.flush()
    return True


def coders_and_rights(session: Session) -> list[User]:
    """Every person who codes (and could be given the adjudicator right), by user name."""
    return [
        user
        for user in session.scalars(select(User).order_by(User.username))
        if not user.role.can_adjudicate()
    ]


def _own_documents(session: Session, user: User, version: CodebookVersion) -> set[int]:
    """The documents a person codes with the version's codebook (assigned or labelled)."""
    labelled = session.scalars(
        select(LabelSet.document_id)
        .join(CodebookVersion, LabelSet.codebook_version_id == CodebookVersion.id)
        .where(LabelSet.coder_id == user.id, CodebookVersion.codebook_id == version.codebook_id)
    )
    assigned = session.scalars(
        select(Assignment.document_id).where(
            Assignment.coder_id == user.id, Assignment.codebook_id == version.codebook_id
        )
    )
    return set(labelled) | set(assigned)


def _require(session: Session, user: User, document: Document, version: CodebookVersion) -> None:
    if not may_adjudicate(session, user, document, version):
        raise NotAllowed(
            {"": f"{user.username} may not adjudicate document {document.id}"}
            if user.may_adjudicate
            else {"": f"{user.username} does not have the adjudicator right"}
        )


# --- what the coders said -------------------------------------------------------------------


def _submitted_label_sets(
    session: Session, version: CodebookVersion, document_id: int | None = None
) -> list[LabelSet]:
    """Submitted label sets of a version (of one document), with labels and coder."""
    query = (
        select(LabelSet)
        .join(User, LabelSet.coder_id == User.id)
        .where(
            LabelSet.codebook_version_id == version.id,
            LabelSet.status == LabelStatus.SUBMITTED,
        )
        .options(selectinload(LabelSet.labels), selectinload(LabelSet.coder))
        .order_by(LabelSet.document_id, User.username)
    )
    if document_id is not None:
        query = query.where(LabelSet.document_id == document_id)
    return list(session.scalars(query))


def _normalised(variable: Variable, value: Any) -> Any:
    """A stored value in canonical form; a value the codebook rejects is kept as it is."""
    problem = variable.check_value(value)
    return value if problem else variable.normalize_value(value)


def agreed_value(variable: Variable, values: list[Any]) -> tuple[bool, Any]:
    """Whether at least two coders all gave the same, non-missing value; and that value."""
    if len(values) < 2:
        return False, None
    ratings = {_key(variable, value) for value in values}
    if len(ratings) != 1 or None in ratings:
        return False, None
    return True, _normalised(variable, values[0])


def _key(variable: Variable, value: Any) -> Any:
    """A hashable form of a value for comparing coders (None: missing)."""
    if variable.type is VariableType.TEXT:
        normalised = _normalised(variable, value)
        return normalised if isinstance(normalised, str) else None
    return rating_value(variable, _normalised(variable, value))


def _finals(
    session: Session, version: CodebookVersion, document_id: int | None = None
) -> list[FinalValue]:
    query = select(FinalValue).where(FinalValue.codebook_version_id == version.id)
    if document_id is not None:
        query = query.where(FinalValue.document_id == document_id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class DocumentStatus:
    """A document coded by several coders, and where its adjudication stands."""

    document: Document
    unit: str
    coders: tuple[str, ...]
    n_disagreements: int  # coded variables on which the coders differ
    n_undecided: int  # of those, how many have no final value yet
    n_decided: int  # final values stored (any variable)

    @property
    def done(self) -> bool:
        """Every disagreement has a final value."""
        return self.n_undecided == 0


def documents_to_adjudicate(
    session: Session,
    version: CodebookVersion,
    *,
    submitted_only: bool = True,
    for_user: User | None = None,
) -> list[DocumentStatus]:
    """Every document coded by at least two coders under a version, in unit order.

    Only submitted label sets count unless ``submitted_only`` is false. With ``for_user``,
    documents that person codes are left out (an adjudicator never sees their own).
    """
    query = (
        select(LabelSet)
        .join(User, LabelSet.coder_id == User.id)
        .where(LabelSet.codebook_version_id == version.id)
        .options(selectinload(LabelSet.labels), selectinload(LabelSet.coder))
        .order_by(LabelSet.document_id, User.username)
    )
    if submitted_only:
        query = query.where(LabelSet.status == LabelStatus.SUBMITTED)
    by_document: dict[int, list[LabelSet]] = {}
    for label_set in session.scalars(query):
        by_document.setdefault(label_set.document_id, []).append(label_set)
    multi = {id: sets for id, sets in by_document.items() if len(sets) >= 2}
    if for_user is not None and not for_user.role.can_adjudicate():
        for own in _own_documents(session, for_user, version):
            multi.pop(own, None)
    if not multi:
        return []
    documents = {
        document.id: document
        for document in session.scalars(select(Document).where(Document.id.in_(multi)))
    }
    names = unit_names(documents.values())
    decided: dict[int, set[str]] = {}
    for final in _finals(session, version):
        decided.setdefault(final.document_id, set()).add(final.variable)
    coded = [v for v in version.parsed().variables if v.type is not VariableType.TEXT]
    statuses = []
    for document_id, label_sets in multi.items():
        values = [label_set.values() for label_set in label_sets]
        differing = [v.id for v in coded if len({_key(v, each.get(v.id)) for each in values}) > 1]
        done = decided.get(document_id, set())
        statuses.append(
            DocumentStatus(
                documents[document_id],
                names[document_id],
                tuple(label_set.coder.username for label_set in label_sets),
                len(differing),
                len([v for v in differing if v not in done]),
                len(done),
            )
        )
    return sorted(statuses, key=lambda status: (status.unit, status.document.id))


@dataclass(frozen=True)
class EvidenceQuote(Quote):
    """A coder's evidence quote, located in the page text so the page can highlight it."""

    id: int = 0
    start: int = 0  # code points within the page's extracted text, end exclusive
    end: int = 0


@dataclass(frozen=True)
class CoderEntry:
    """One coder's value of a variable, with the quotes behind it."""

    coder: User
    value: Any  # normalised where the codebook accepts it; None: missing
    quotes: tuple[EvidenceQuote, ...] = ()


@dataclass(frozen=True)
class VariableComparison:
    """Every coder's value of one variable of a document, and the final value if decided."""

    variable: Variable
    entries: tuple[CoderEntry, ...]
    agree: bool  # at least two coders, all with the same non-missing value
    agreed: Any  # that value (None unless ``agree``)
    disagree: bool  # a coded (not free-text) variable whose coders differ
    final: FinalValue | None = None


@dataclass(frozen=True)
class Comparison:
    """A document's coding side by side, one row per variable in codebook order."""

    document: Document
    version: CodebookVersion
    coders: tuple[User, ...]
    rows: tuple[VariableComparison, ...] = field(default=())

    @property
    def n_disagreements(self) -> int:
        """Variables on which the coders differ."""
        return sum(row.disagree for row in self.rows)

    @property
    def n_agreed_open(self) -> int:
        """Agreed variables with no final value yet: what "accept agreed" would set."""
        return sum(row.agree and row.final is None for row in self.rows)


def comparison(session: Session, document: Document, version: CodebookVersion) -> Comparison:
    """Each coder's submitted value and quotes for every variable of a document.

    Free-text variables are included for reading, but never count as a disagreement: two
    coders rarely write the same words.
    """
    label_sets = _submitted_label_sets(session, version, document.id)
    quotes: dict[tuple[int, str], list[EvidenceQuote]] = {}
    if label_sets:
        for evidence in session.scalars(
            select(Evidence)
            .where(Evidence.label_set_id.in_([ls.id for ls in label_sets]))
            .order_by(Evidence.page, Evidence.start, Evidence.id)
        ):
            quotes.setdefault((evidence.label_set_id, evidence.variable), []).append(
                EvidenceQuote(
                    evidence.page, evidence.quote, evidence.id, evidence.start, evidence.end
                )
            )
    finals = {final.variable: final for final in _finals(session, version, document.id)}
    rows = []
    for variable in version.parsed().variables:
        entries = tuple(
            CoderEntry(
                label_set.coder,
                _normalised(variable, label_set.values().get(variable.id)),
                tuple(quotes.get((label_set.id, variable.id), ())),
            )
            for label_set in label_sets
        )
        raw = [label_set.values().get(variable.id) for label_set in label_sets]
        agree, agreed = agreed_value(variable, raw)
        disagree = (
            variable.type is not VariableType.TEXT
            and len(label_sets) >= 2
            and len({_key(variable, value) for value in raw}) > 1
        )
        rows.append(
            VariableComparison(variable, entries, agree, agreed, disagree, finals.get(variable.id))
        )
    return Comparison(
        document, version, tuple(label_set.coder for label_set in label_sets), tuple(rows)
    )


# --- deciding -------------------------------------------------------------------------------


def _record(
    session: Session,
    document: Document,
    version: CodebookVersion,
    variable: str,
    user: User,
    action: str,
    **fields: Any,
) -> None:
    session.add(
        FinalEvent(
            document_id=document.id,
            codebook_version_id=version.id,
            variable=variable,
            user_id=user.id,
            action=action,
            **fields,
        )
    )


def _store(
    session: Session,
    document: Document,
    version: CodebookVersion,
    variable: str,
    *,
    user: User,
    value: Any,
    source_coder: User | None,
    note: str,
    action: str,
) -> FinalValue:
    """Write a final value and its history event; an unchanged decision writes nothing."""
    final = session.scalar(
        select(FinalValue).where(
            FinalValue.document_id == document.id,
            FinalValue.codebook_version_id == version.id,
            FinalValue.variable == variable,
        )
    )
    source_id = source_coder.id if source_coder is not None else None
    if final is not None and (final.value, final.source_coder_id, final.note) == (
        value,
        source_id,
        note,
    ):
        return final
    before = final.value if final is not None else None
    if final is None:
        final = FinalValue(
            document_id=document.id, codebook_version_id=version.id, variable=variable
        )
        session.add(final)
    final.value = value
    final.source_coder_id = source_id
    final.decided_by_id = user.id
    final.decided_at = utcnow()
    final.note = note
    _record(
        session,
        document,
        version,
        variable,
        user,
        action,
        before=before,
        after=value,
        source_coder_id=source_id,
        note=note,
    )
    session.flush()
    return final


def set_final(
    session: Session,
    document: Document,
    version: CodebookVersion,
    variable: str,
    *,
    user: User,
    value: Any = None,
    source_coder: User | None = None,
    note: str = "",
) -> FinalValue:
    """Decide a variable's final value: a coder's submitted value, or one typed (checked).

    With ``source_coder``, the value is that coder's (``value`` is ignored); otherwise
    ``value`` is checked against the codebook and stored in canonical form (None: the
    final value is missing). Raises ``NotAllowed`` for someone who may not adjudicate the
    document, ``AdjudicationError`` for anything else wrong; nothing is written then.
    """
    _require(session, user, document, version)
    try:
        definition = version.parsed().variable(variable)
    except KeyError:
        raise AdjudicationError({"variable": Message("not a variable of this codebook")}) from None
    if source_coder is not None:
        label_set = next(
            (
                ls
                for ls in _submitted_label_sets(session, version, document.id)
                if ls.coder_id == source_coder.id
            ),
            None,
        )
        if label_set is None:
            raise AdjudicationError(
                {
                    "source": Message(
                        "%(coder)s has no submitted coding of this document",
                        coder=source_coder.username,
                    )
                }
            )
        value = label_set.values().get(variable)
    problem = definition.check_value(value)
    if problem:
        raise AdjudicationError({"value": problem})
    return _store(
        session,
        document,
        version,
        variable,
        user=user,
        value=definition.normalize_value(value),
        source_coder=source_coder,
        note=note.strip(),
        action=SET,
    )


def clear_final(
    session: Session,
    document: Document,
    version: CodebookVersion,
    variable: str,
    *,
    user: User,
    note: str = "",
) -> bool:
    """Remove a decided final value (the history keeps it); whether there was one."""
    _require(session, user, document, version)
    final = session.scalar(
        select(FinalValue).where(
            FinalValue.document_id == document.id,
            FinalValue.codebook_version_id == version.id,
            FinalValue.variable == variable,
        )
    )
    if final is None:
        return False
    _record(
        session,
        document,
        version,
        variable,
        user,
        CLEAR,
        before=final.value,
        after=None,
        source_coder_id=None,
        note=note.strip(),
    )
    session.delete(final)
    session.flush()
    return True


def accept_agreed(
    session: Session, document: Document, version: CodebookVersion, user: User
) -> list[str]:
    """Make final every agreed value that has no final value yet; the variables set.

    The stored source is the first coder (by user name): every coder gave that value.
    """
    _require(session, user, document, version)
    compared = comparison(session, document, version)
    accepted = []
    for row in compared.rows:
        if row.agree and row.final is None:
            _store(
                session,
                document,
                version,
                row.variable.id,
                user=user,
                value=row.agreed,
                source_coder=row.entries[0].coder,
                note="",
                action=ACCEPT_AGREED,
            )
            accepted.append(row.variable.id)
    return accepted


def history(session: Session, document: Document, version: CodebookVersion) -> list[FinalEvent]:
    """Every change to a document's final values under a version, oldest first."""
    return list(
        session.scalars(
            select(FinalEvent)
            .where(
                FinalEvent.document_id == document.id,
                FinalEvent.codebook_version_id == version.id,
            )
            .order_by(FinalEvent.at, FinalEvent.id)
        )
    )


# --- what the exports read ------------------------------------------------------------------


def final_values(
    session: Session, version: CodebookVersion, *, agreement_is_final: bool
) -> dict[int, dict[str, Any]]:
    """The final value of each variable of each document: {document_id: {variable_id: value}}.

    A stored final value always wins. Where none is stored, a document with one submitted
    label set takes that coder's values; with ``agreement_is_final``, a document with
    several takes the values on which all its coders agree. Other variables are absent.
    """
    return dict(iter_final_values(session, version, agreement_is_final=agreement_is_final))


def final_documents(version: CodebookVersion) -> Select[Any]:
    """The ids of the documents that can have final values: those with a submitted label
    set or a stored final value of the version."""
    submitted = select(LabelSet.document_id).where(
        LabelSet.codebook_version_id == version.id, LabelSet.status == LabelStatus.SUBMITTED
    )
    decided = select(FinalValue.document_id).where(FinalValue.codebook_version_id == version.id)
    return select(Document.id).where(or_(Document.id.in_(submitted), Document.id.in_(decided)))


def iter_final_values(
    session: Session, version: CodebookVersion, *, agreement_is_final: bool, batch: int = 500
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``final_values`` one document at a time, by document file name and id.

    Reads the label sets, labels and stored final values of ``batch`` documents at a time,
    so that memory does not grow with the size of the data set (the exports stream it).
    """
    codebook = version.parsed()
    connection = session.connection()
    documents = (
        final_documents(version)
        .order_by(Document.filename, Document.id)
        .execution_options(yield_per=batch)
    )
    for partition in connection.execute(documents).partitions():
        ids = [row.id for row in partition]
        coded: dict[int, dict[int, dict[str, Any]]] = {id: {} for id in ids}
        for document_id, label_set_id in connection.execute(
            select(LabelSet.document_id, LabelSet.id)
            .join(User, LabelSet.coder_id == User.id)
            .where(
                LabelSet.codebook_version_id == version.id,
                LabelSet.status == LabelStatus.SUBMITTED,
                LabelSet.document_id.in_(ids),
            )
            .order_by(LabelSet.document_id, User.username)
        ):
            coded[document_id][label_set_id] = {}
        for document_id, label_set_id, variable, value in connection.execute(
            select(LabelSet.document_id, Label.label_set_id, Label.variable, Label.value)
            .join(LabelSet, Label.label_set_id == LabelSet.id)
            .where(
                LabelSet.codebook_version_id == version.id,
                LabelSet.status == LabelStatus.SUBMITTED,
                LabelSet.document_id.in_(ids),
            )
        ):
            coded[document_id][label_set_id][variable] = value
        decided: dict[int, dict[str, Any]] = {}
        for document_id, variable, value in connection.execute(
            select(FinalValue.document_id, FinalValue.variable, FinalValue.value).where(
                FinalValue.codebook_version_id == version.id, FinalValue.document_id.in_(ids)
            )
        ):
            decided.setdefault(document_id, {})[variable] = value
        for document_id in ids:
            values = list(coded[document_id].values())
            result: dict[str, Any] | None = None
            if len(values) == 1:
                result = {
                    variable.id: _normalised(variable, values[0][variable.id])
                    for variable in codebook.variables
                    if variable.id in values[0]
                }
            elif agreement_is_final:
                for variable in codebook.variables:
                    agree, agreed = agreed_value(
                        variable, [each.get(variable.id) for each in values]
                    )
                    if agree:
                        result = result or {}
                        result[variable.id] = agreed
            if document_id in decided:
                result = (result or {}) | decided[document_id]
            if result is not None:
                yield document_id, result
