"""The coded data of a codebook version, read from the database in batches for export.

``coded_sets`` yields one ``exports.CodedSet`` per label set (values, evidence, dates,
document metadata), reading the label sets with ``yield_per`` and their labels and
evidence one batch at a time, so an export's memory does not grow with the number of
labels. ``final_sets`` yields the final values of each document. ``annotator.exports``
turns them into tables and files. This module imports no Flask.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, cast

from sqlalchemy import func, select

from ..exports import METADATA_FIELDS, CodedSet, ExportError, FinalSet, Quote
from ..models import (
    Codebook,
    CodebookVersion,
    Document,
    Evidence,
    Label,
    LabelSet,
    LabelStatus,
    User,
)
from . import Session
from .codebooks import find_codebook
from .reliability import unit_names

# Label sets per batch; each batch reads its labels with one IN (...) of this many ids,
# within the 999 parameters that SQLite before 3.32 allows.
BATCH = 500
_METADATA_COLUMNS = [getattr(Document, name) for name in METADATA_FIELDS]


def find_version(
    session: Session, codebook_slug: str | None, number: int | None
) -> CodebookVersion:
    """The codebook version to export: ``number``, else the newest anyone has coded with,
    else the newest. Raises ExportError naming the choices."""
    try:
        codebook: Codebook = find_codebook(session, codebook_slug)
    except LookupError as error:
        raise ExportError(str(error)) from None
    versions = {version.number: version for version in codebook.versions}
    if not versions:
        raise ExportError(f"codebook {codebook.slug} has no version")
    if number is not None:
        if number not in versions:
            raise ExportError(
                f"codebook {codebook.slug} has no version {number} "
                f"(versions: {', '.join(map(str, sorted(versions)))})"
            )
        return versions[number]
    coded = session.scalar(
        select(CodebookVersion)
        .join(LabelSet, LabelSet.codebook_version_id == CodebookVersion.id)
        .where(CodebookVersion.codebook_id == codebook.id)
        .order_by(CodebookVersion.number.desc())
        .limit(1)
    )
    return coded or versions[max(versions)]


def _units(session: Session, document_ids: Any) -> dict[int, str]:
    """Unit names (file names, with the id when two share one) of the documents selected."""
    rows = session.execute(
        select(Document.id, Document.filename).where(Document.id.in_(document_ids))
    ).all()
    return unit_names(cast(Iterable[Document], rows))


def _metadata(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in METADATA_FIELDS}


def coded_sets(
    session: Session,
    version: CodebookVersion,
    *,
    include_in_progress: bool = False,
    batch: int = BATCH,
) -> Iterator[CodedSet]:
    """Every submitted label set of a version (with ``include_in_progress``, every one),
    ordered by document file name, document id and coder name.

    Label sets are read ``batch`` at a time; each batch's labels and evidence come in one
    query each.
    """
    where = [LabelSet.codebook_version_id == version.id]
    if not include_in_progress:
        where.append(LabelSet.status == LabelStatus.SUBMITTED)
    documents = select(LabelSet.document_id).where(*where).scalar_subquery()
    # Unit names follow ``reliability.unit_names`` (the file name, with the id when two
    # documents of the export share it) from the shared names alone, not a map of every
    # document, so that memory stays flat however many documents there are.
    shared = set(
        session.scalars(
            select(Document.filename)
            .where(Document.id.in_(documents))
            .group_by(Document.filename)
            .having(func.count(Document.id) > 1)
        )
    )
    query = (
        select(
            LabelSet.id,
            LabelSet.document_id,
            Document.filename,
            User.username,
            LabelSet.status,
            LabelSet.created_at,
            LabelSet.updated_at,
            LabelSet.submitted_at,
            *_METADATA_COLUMNS,
        )
        .join(Document, LabelSet.document_id == Document.id)
        .join(User, LabelSet.coder_id == User.id)
        .where(*where)
        .order_by(Document.filename, Document.id, User.username)
        .execution_options(yield_per=batch)
    )
    # Core rows on the session's connection: no ORM objects are needed, and none are kept.
    connection = session.connection()
    result = connection.execute(query)
    for partition in result.partitions():
        ids = [row.id for row in partition]
        values: dict[int, dict[str, Any]] = {id: {} for id in ids}
        for label_set_id, variable, value in connection.execute(
            select(Label.label_set_id, Label.variable, Label.value).where(
                Label.label_set_id.in_(ids)
            )
        ):
            values[label_set_id][variable] = value
        evidence: dict[int, list[Quote]] = {}
        for label_set_id, variable, page, quote in connection.execute(
            select(Evidence.label_set_id, Evidence.variable, Evidence.page, Evidence.quote)
            .where(Evidence.label_set_id.in_(ids))
            .order_by(Evidence.id)
        ):
            evidence.setdefault(label_set_id, []).append(Quote(variable, page, quote))
        for row in partition:
            yield CodedSet(
                document_id=row.document_id,
                unit=(
                    f"{row.filename} (#{row.document_id})"
                    if row.filename in shared
                    else row.filename
                ),
                coder=row.username,
                status=LabelStatus(row.status).value,
                values=values[row.id],
                evidence=evidence.get(row.id, ()),
                metadata=_metadata(row),
                created_at=row.created_at,
                updated_at=row.updated_at,
                submitted_at=row.submitted_at,
            )


def final_sets(
    session: Session, version: CodebookVersion, *, agreement_is_final: bool
) -> Iterator[FinalSet]:
    """The final value of every variable of each document with one, by document file name.

    Final values come from adjudication (``services.adjudication.final_values``): a
    decision, or with ``agreement_is_final`` the value every coder agreed on.
    """
    from .adjudication import final_values

    finals: dict[int, dict[str, object]] = final_values(
        session, version, agreement_is_final=agreement_is_final
    )
    units = _units(session, list(finals))
    ids = sorted(finals, key=lambda id: (units[id], id))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        rows = session.execute(
            select(Document.id, *_METADATA_COLUMNS).where(Document.id.in_(chunk))
        ).all()
        by_id = {row.id: row for row in rows}
        for document_id in chunk:
            yield FinalSet(
                document_id=document_id,
                unit=units[document_id],
                values=finals[document_id],
                metadata=_metadata(by_id[document_id]),
            )
