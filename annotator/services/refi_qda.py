"""A codebook version's coding as REFI-QDA files: a ``.qdpx`` project and a ``.qdc`` codebook.

The project holds the documents coded under the version (their plain text, and for PDFs
the stored original), the codebook as codes, the coders as users, every evidence quote
of the label sets included (submitted ones by default) as a coded passage, and every option
a coder chose without a quote as a coding of the whole document. Each document is a case:
its metadata (``exports.METADATA_FIELDS`` and the import CSV's extra columns) and its final
values (``services.adjudication.final_values``) are the case's variable values and codes.
``annotator.refi_qda`` writes the files; this module reads the database. It imports no
Flask.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from operator import attrgetter
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import refi_qda
from ..codebook import Codebook, VariableType
from ..exports import METADATA_FIELDS
from ..extraction import DocumentFormat
from ..models import CodebookVersion, Document, LabelSet, LabelStatus, Page, User
from . import Session
from .adjudication import final_values
from .documents import stored_path

# The case variable kind of a final value, by codebook variable type; variables with
# options are case codes instead.
_FINAL_KINDS: dict[VariableType, refi_qda.VariableKind] = {
    VariableType.NUMBER: "Float",
    VariableType.YESNO: "Boolean",
    VariableType.TEXT: "Text",
}


class RefiQdaError(ValueError):
    """The data cannot be exported as it is (an evidence quote no longer matches its text)."""


def build_project(
    session: Session,
    version: CodebookVersion,
    *,
    submitted_only: bool = True,
    agreement_is_final: bool = False,
    lang: str = "en",
    data_dir: str | os.PathLike[str],
) -> refi_qda.Project:
    """The REFI-QDA project of a codebook version, read from the database.

    Documents with at least one included label set or a final value, in file-name order;
    coders in user-name order. Each quote is checked against the exported text: a quote
    that does not match raises RefiQdaError rather than mark the wrong words. Final values
    are ``final_values(..., agreement_is_final=...)``, as in the wide layout.
    """
    codebook = version.parsed()
    where = [LabelSet.codebook_version_id == version.id]
    if submitted_only:
        where.append(LabelSet.status == LabelStatus.SUBMITTED)
    label_sets = session.scalars(
        select(LabelSet)
        .where(*where)
        .options(
            selectinload(LabelSet.labels),
            selectinload(LabelSet.evidence),
            selectinload(LabelSet.coder),
        )
        .order_by(LabelSet.id)
    ).all()
    by_document: dict[int, list[LabelSet]] = defaultdict(list)
    for label_set in label_sets:
        by_document[label_set.document_id].append(label_set)
    finals = final_values(session, version, agreement_is_final=agreement_is_final)
    documents = session.scalars(
        select(Document)
        .where(Document.id.in_(sorted(set(by_document) | set(finals))))
        .options(selectinload(Document.pages))
        .order_by(Document.filename, Document.id)
    ).all()
    coders: dict[int, User] = {s.coder_id: s.coder for s in label_sets}

    sources: list[refi_qda.Source] = []
    segments: list[refi_qda.Segment] = []
    source_codings: list[refi_qda.SourceCoding] = []
    for document in documents:
        source = _source(document, data_dir)
        sources.append(source)
        pages: dict[int, Page] = {page.number: page for page in document.pages}
        for label_set in by_document[document.id]:
            values = label_set.values()
            user = refi_qda.user_guid(label_set.coder.username)
            quoted = {evidence.variable for evidence in label_set.evidence}
            for variable in codebook.variables:
                if variable.id in quoted:
                    continue
                for code in refi_qda.option_codes(codebook.id, variable, values.get(variable.id)):
                    source_codings.append(
                        refi_qda.SourceCoding(source.guid, code, user, label_set.updated_at)
                    )
            for evidence in label_set.evidence:
                page = pages.get(evidence.page)
                if page is None:
                    raise RefiQdaError(
                        f"evidence {evidence.id}: {document.filename} has no page {evidence.page}"
                    )
                start, end = refi_qda.document_span(page.char_start, evidence.start, evidence.end)
                if source.text[start:end] != evidence.quote:
                    raise RefiQdaError(
                        f"evidence {evidence.id}: the quote is not at {evidence.start}..{evidence.end}"
                        f" of page {evidence.page} of {document.filename}"
                    )
                variable = codebook.variable(evidence.variable)
                for code in refi_qda.codes_for_value(
                    codebook.id, variable, values.get(evidence.variable)
                ):
                    segments.append(
                        refi_qda.Segment(
                            source_guid=source.guid,
                            start=start,
                            end=end,
                            code_guid=code,
                            user_guid=user,
                            created=evidence.created_at,
                        )
                    )
    users = tuple(
        refi_qda.User(guid=refi_qda.user_guid(user.username), name=user.name, id=user.username)
        for user in sorted(coders.values(), key=lambda user: user.username)
    )
    modified = max((s.updated_at for s in label_sets), default=None)
    metadata = _metadata_variables(documents)
    finals_variables = _final_variables(codebook, lang, taken={v.name for v, _ in metadata})
    cases = tuple(
        _case(document, source, codebook, metadata, finals.get(document.id, {}))
        for document, source in zip(documents, sources, strict=True)
    )
    return refi_qda.Project(
        name=f"{codebook.title.get(lang)} (version {version.number})",
        codes=refi_qda.code_tree(codebook, lang),
        users=users,
        sources=tuple(sources),
        segments=tuple(segments),
        source_codings=tuple(source_codings),
        variables=tuple(v for v, _ in metadata) + finals_variables,
        cases=cases,
        description=codebook.description.get(lang) if codebook.description else None,
        created=version.created_at,
        modified=modified,
    )


# A metadata field: its case variable, and how to read its value (None: empty) from a document.
_Metadata = tuple[refi_qda.CaseVariable, Callable[[Document], object]]


def _kind(python_type: type) -> refi_qda.VariableKind:
    """The case variable kind of a model column's Python type."""
    if issubclass(python_type, bool):
        return "Boolean"
    if issubclass(python_type, int):
        return "Integer"
    if issubclass(python_type, float | Decimal):
        return "Float"
    if issubclass(python_type, datetime):
        return "DateTime"
    if issubclass(python_type, date):
        return "Date"
    return "Text"


def _metadata_variables(documents: Sequence[Document]) -> list[_Metadata]:
    """A case variable per metadata field, then per extra CSV column the documents have.

    Named ``doc_<field>`` as in the wide layout, apart from the codebook variables' names; typed as the model's column (``year`` Integer, ``value`` Float).
    """
    found: list[_Metadata] = []
    for field in METADATA_FIELDS:
        column = Document.__table__.c[field]
        variable = refi_qda.CaseVariable(
            guid=refi_qda.metadata_guid(field),
            name=f"doc_{field}",
            kind=_kind(column.type.python_type),
            description=f"Document metadata: {field}",
        )
        found.append((variable, attrgetter(field)))
    taken = {variable.name for variable, _ in found}
    extras = sorted({key for document in documents for key in (document.extra or {})})
    for key in extras:
        name = f"doc_{key}" if f"doc_{key}" not in taken else f"doc_extra_{key}"
        variable = refi_qda.CaseVariable(
            guid=refi_qda.guid("metadata", "extra", key),
            name=name,
            description=f"Document metadata (extra column of the import CSV): {key}",
        )
        taken.add(name)
        found.append((variable, partial(_extra, key=key)))
    return found


def _extra(document: Document, *, key: str) -> str | None:
    """An extra column of the import CSV, as text (None: empty)."""
    value = (document.extra or {}).get(key)
    return None if value is None or value == "" else str(value)


def _final_variables(
    codebook: Codebook, lang: str, *, taken: Iterable[str]
) -> tuple[refi_qda.CaseVariable, ...]:
    """A case variable per codebook variable without options, for its final values.

    Named by the variable id, as the wide layout's columns (with ``final_`` before an id
    that a metadata variable has taken).
    """
    names = set(taken)
    variables = []
    for variable in codebook.variables:
        kind = _FINAL_KINDS.get(variable.type)
        if kind is None:
            continue
        name = variable.id if variable.id not in names else f"final_{variable.id}"
        names.add(name)
        variables.append(
            refi_qda.CaseVariable(
                guid=refi_qda.final_variable_guid(codebook.id, variable.id),
                name=name,
                kind=kind,
                description=f"Final value: {variable.label.get(lang)} ({variable.id})",
            )
        )
    return tuple(variables)


def _case(
    document: Document,
    source: refi_qda.Source,
    codebook: Codebook,
    metadata: Sequence[_Metadata],
    finals: dict[str, Any],
) -> refi_qda.Case:
    """A document as a case: its source, metadata, final options and other final values.

    A final value the codebook refuses (stored before a check, say) is left out rather
    than written as something it is not.
    """
    values: list[tuple[str, object]] = [
        (case_variable.guid, read(document)) for case_variable, read in metadata
    ]
    codes: list[str] = []
    for variable in codebook.variables:
        value = finals.get(variable.id)
        if value is None or variable.check_value(value) is not None:
            continue
        value = variable.normalize_value(value)
        if variable.type in _FINAL_KINDS:
            values.append((refi_qda.final_variable_guid(codebook.id, variable.id), value))
        else:
            codes.extend(refi_qda.option_codes(codebook.id, variable, value))
    return refi_qda.Case(
        guid=refi_qda.case_guid(document.sha256),
        name=source.name,
        source_guids=(source.guid,),
        code_guids=tuple(codes),
        values=tuple(values),
    )


def _source(document: Document, data_dir: str | os.PathLike[str]) -> refi_qda.Source:
    """A document as a source: its plain text, and the stored PDF when there is one.

    A PDF whose stored file is missing is exported as its text alone.
    """
    text = refi_qda.plain_text([page.text for page in document.pages])
    original = None
    if document.format is DocumentFormat.PDF:
        path = stored_path(data_dir, document.sha256)
        original = path if path.is_file() else None
    return refi_qda.Source(
        guid=refi_qda.source_guid(document.sha256),
        name=document.filename,
        text=text,
        original=original,
        extension="pdf" if original is not None else "txt",
        created=document.imported_at,
    )


def write_project(
    session: Session,
    version: CodebookVersion,
    out: BinaryIO,
    *,
    submitted_only: bool = True,
    agreement_is_final: bool = False,
    lang: str = "en",
    data_dir: str,
) -> None:
    """Write a codebook version's coding as a ``.qdpx`` to a binary file object."""
    project = build_project(
        session,
        version,
        submitted_only=submitted_only,
        agreement_is_final=agreement_is_final,
        lang=lang,
        data_dir=data_dir,
    )
    refi_qda.write_qdpx(project, out)


def write_codebook(version: CodebookVersion, out: BinaryIO, *, lang: str = "en") -> None:
    """Write a codebook version as a REFI-QDA ``.qdc`` to a binary file object."""
    out.write(refi_qda.codebook_xml(refi_qda.code_tree(version.parsed(), lang)))
