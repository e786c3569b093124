"""A codebook version's coding as REFI-QDA files: a ``.qdpx`` project and a ``.qdc`` codebook.

The project holds the documents coded under the version (their plain text, and for PDFs
the stored original), the codebook as codes, the coders as users, and every evidence quote
of the label sets included (submitted ones by default) as a coded passage.
``annotator.refi_qda`` writes the files; this module reads the database. It imports no
Flask.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import refi_qda
from ..extraction import DocumentFormat
from ..models import CodebookVersion, Document, LabelSet, LabelStatus, Page, User
from . import Session
from .documents import stored_path


class RefiQdaError(ValueError):
    """The data cannot be exported as it is (an evidence quote no longer matches its text)."""


def build_project(
    session: Session,
    version: CodebookVersion,
    *,
    submitted_only: bool = True,
    lang: str = "en",
    data_dir: str | os.PathLike[str],
) -> refi_qda.Project:
    """The REFI-QDA project of a codebook version, read from the database.

    Documents with at least one included label set, in file-name order; coders in user-name
    order. Each quote is checked against the exported text: a quote that does not match
    raises RefiQdaError rather than mark the wrong words.
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
    documents = session.scalars(
        select(Document)
        .where(Document.id.in_(list(by_document)))
        .options(selectinload(Document.pages))
        .order_by(Document.filename, Document.id)
    ).all()
    coders: dict[int, User] = {s.coder_id: s.coder for s in label_sets}

    sources: list[refi_qda.Source] = []
    segments: list[refi_qda.Segment] = []
    for document in documents:
        source = _source(document, data_dir)
        sources.append(source)
        pages: dict[int, Page] = {page.number: page for page in document.pages}
        for label_set in by_document[document.id]:
            values = label_set.values()
            user = refi_qda.user_guid(label_set.coder.username)
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
    return refi_qda.Project(
        name=f"{codebook.title.get(lang)} (version {version.number})",
        codes=refi_qda.code_tree(codebook, lang),
        users=users,
        sources=tuple(sources),
        segments=tuple(segments),
        description=codebook.description.get(lang) if codebook.description else None,
        created=version.created_at,
        modified=modified,
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
    lang: str = "en",
    data_dir: str,
) -> None:
    """Write a codebook version's coding as a ``.qdpx`` to a binary file object."""
    project = build_project(
        session, version, submitted_only=submitted_only, lang=lang, data_dir=data_dir
    )
    refi_qda.write_qdpx(project, out)


def write_codebook(version: CodebookVersion, out: BinaryIO, *, lang: str = "en") -> None:
    """Write a codebook version as a REFI-QDA ``.qdc`` to a binary file object."""
    out.write(refi_qda.codebook_xml(refi_qda.code_tree(version.parsed(), lang)))
