"""The coded data of a codebook version, read from the database in batches for export.

``coded_sets`` yields one ``exports.CodedSet`` per label set (values, evidence, dates,
document metadata), reading the label sets with ``yield_per`` and their labels and
evidence one batch at a time, so an export's memory does not grow with the number of
labels. ``final_sets`` yields the final values of each document. ``annotator.exports``
turns them into tables and files. This module imports no Flask.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any, cast

from sqlalchemy import func, select

from ..exports import METADATA_FIELDS, CodedSet, ExportError, FinalSet, Quote
from ..models import (
    CodebookVersion,
    Document,
    Evidence,
    Label,
    LabelSet,
    LabelStatus,
    User,
)
from . import Session, codebooks

# Label sets per batch; each batch reads its labels with one IN (...) of this many ids,
# within the 999 parameters that SQLite before 3.32 allows.
BATCH = 500
_METADATA_COLUMNS = [getattr(Document, name) for name in METADATA_FIELDS]


def find_version(
    session: Session, codebook_slug: str | None, number: int | None
) -> CodebookVersion:
    """The codebook version to export (``services.codebooks.find_version``); ExportError
    naming the choices when there is none."""
    try:
        return codebooks.find_version(session, codebook_slug, number)
    except LookupError as error:
        raise ExportError(str(error)) from None


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
    shared = _shared_filenames(session, documents)
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
                unit=_unit(row.filename, row.document_id, shared),
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

    Final values come from adjudication (``services.adjudication.iter_final_values``): a
    decision, a single coder's values, or with ``agreement_is_final`` the value every
    coder agreed on. They are read, with the documents' metadata, ``BATCH`` documents at a
    time.
    """
    from .adjudication import final_documents, iter_final_values

    shared = _shared_filenames(session, final_documents(version).scalar_subquery())
    finals = iter_final_values(session, version, agreement_is_final=agreement_is_final)
    while chunk := list(islice(finals, BATCH)):
        rows = session.execute(
            select(Document.id, Document.filename, *_METADATA_COLUMNS).where(
                Document.id.in_([document_id for document_id, _ in chunk])
            )
        ).all()
        by_id = {row.id: row for row in rows}
        for document_id, values in chunk:
            row = by_id[document_id]
            yield FinalSet(
                document_id=document_id,
                unit=_unit(row.filename, document_id, shared),
                values=values,
                metadata=_metadata(row),
            )


def _shared_filenames(session: Session, documents: Any) -> set[str]:
    """The file names that two or more of the documents share.

    Unit names follow ``reliability.unit_names`` (the file name, with the id when two
    documents of the export share it) from the shared names alone, not a map of every
    document, so that memory stays flat however many documents there are.
    """
    return set(
        session.scalars(
            select(Document.filename)
            .where(Document.id.in_(documents))
            .group_by(Document.filename)
            .having(func.count(Document.id) > 1)
        )
    )


def _unit(filename: str, document_id: int, shared: set[str]) -> str:
    return f"{filename} (#{document_id})" if filename in shared else filename


# --- one export, whatever its format ----------------------------------------------------------

FORMATS = (
    "csv",
    "xlsx",
    "json",
    "sav",
    "dta",
    "codebook-yaml",
    "codebook-json",
    "codebook-html",
    "qdpx",
    "qdc",
)
LAYOUTS = ("wide", "wide-coders", "long", "matrix-irr", "matrix-recal", "matrix-krippendorff")
# Formats written to a file path or a binary stream; the others are text.
BINARY_FORMATS = ("xlsx", "sav", "dta", "qdpx", "qdc")
SUFFIXES = {
    "csv": ".csv",
    "xlsx": ".xlsx",
    "json": ".json",
    "sav": ".sav",
    "dta": ".dta",
    "codebook-yaml": ".yaml",
    "codebook-json": ".json",
    "codebook-html": ".html",
    "qdpx": ".qdpx",
    "qdc": ".qdc",
}


def check_options(
    fmt: str, layout: str, *, variable: str | None, bom: bool, include_in_progress: bool
) -> None:
    """Raise ExportError when the options do not go together."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    if layout not in LAYOUTS:
        raise ExportError(f"unknown layout {layout!r} (layouts: {', '.join(LAYOUTS)})")
    if bom and fmt != "csv":
        raise ExportError("a byte-order mark is for CSV")
    if fmt.startswith("codebook-") or fmt in ("qdpx", "qdc"):
        return
    if layout.startswith("matrix-") and not variable:
        raise ExportError(f"the {layout} layout needs a variable")
    if variable and not layout.startswith("matrix-"):
        raise ExportError("a variable is for the matrix layouts")
    if include_in_progress and layout == "wide":
        raise ExportError(
            "final values come from submitted label sets; label sets in progress are for the "
            "coders' layouts"
        )


def export_table(
    session: Session,
    version: CodebookVersion,
    layout: str,
    *,
    variable: str | None = None,
    include_in_progress: bool = False,
    agreement_is_final: bool = False,
    numeric: bool = False,
    lang: str = "en",
) -> Any:
    """The table of a layout, its rows read from the database as they are written."""
    from .. import exports

    codebook = version.parsed()
    if layout == "wide":
        return exports.wide_table(
            codebook,
            final_sets(session, version, agreement_is_final=agreement_is_final),
            per_coder=False,
            numeric=numeric,
            lang=lang,
        )
    sets = coded_sets(session, version, include_in_progress=include_in_progress)
    if layout == "wide-coders":
        return exports.wide_table(codebook, sets, per_coder=True, numeric=numeric, lang=lang)
    if layout == "long":
        return exports.long_table(codebook, sets)
    return exports.matrix_table(codebook, sets, cast(str, variable), layout.split("-", 1)[1])


def write_export(
    session: Session,
    version: CodebookVersion,
    fmt: str,
    *,
    path: str | None = None,
    text_out: Any = None,
    layout: str = "wide",
    variable: str | None = None,
    include_in_progress: bool = False,
    agreement_is_final: bool = False,
    bom: bool = False,
    lang: str = "en",
    data_dir: str = "",
) -> int:
    """Write one export to ``path``, or a text format to the stream ``text_out``.

    Checks the options first (ExportError). Returns how many texts were cut to fit (Stata's
    string limit; 0 for every other format).
    """
    from .. import exports

    check_options(fmt, layout, variable=variable, bom=bom, include_in_progress=include_in_progress)
    if path is None and (fmt in BINARY_FORMATS or text_out is None):
        raise ExportError(f"the {fmt} format writes a file: give a path")
    if fmt in ("qdpx", "qdc"):
        from . import refi_qda

        with open(cast(str, path), "wb") as binary:
            if fmt == "qdpx":
                refi_qda.write_project(
                    session,
                    version,
                    binary,
                    submitted_only=not include_in_progress,
                    agreement_is_final=agreement_is_final,
                    lang=lang,
                    data_dir=data_dir,
                )
            else:
                refi_qda.write_codebook(version, binary, lang=lang)
        return 0
    if fmt.startswith("codebook-"):
        text = {
            "codebook-yaml": exports.codebook_yaml,
            "codebook-json": exports.codebook_json,
            "codebook-html": exports.codebook_html,
        }[fmt](version.parsed())
        _emit_text(path, text_out, lambda stream: stream.write(text))
        return 0
    table = export_table(
        session,
        version,
        layout,
        variable=variable,
        include_in_progress=include_in_progress,
        agreement_is_final=agreement_is_final,
        numeric=fmt in ("sav", "dta"),
        lang=lang,
    )
    if fmt == "csv":
        _emit_text(path, text_out, lambda stream: exports.write_csv(stream, table, bom=bom))
    elif fmt == "json":
        _emit_text(path, text_out, lambda stream: exports.write_json(stream, table))
    elif fmt == "xlsx":
        with open(cast(str, path), "wb") as binary:
            exports.write_xlsx(binary, table)
    elif fmt == "sav":
        exports.write_sav(cast(str, path), table)
    else:
        return exports.write_dta(cast(str, path), table)[1]
    return 0


def _emit_text(path: str | None, text_out: Any, emit: Any) -> None:
    if path is None:
        emit(text_out)
        return
    with open(path, "w", encoding="utf-8", newline="") as stream:
        emit(stream)
