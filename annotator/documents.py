"""Documents: the PI's list and upload, each document's text and coding, the stored file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, render_template, send_file
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import func, select
from werkzeug.utils import secure_filename

from .auth import admin_required
from .extensions import db
from .extraction import DocumentFormat, RefusedFile
from .forms import DocumentUploadForm
from .metadata import MetadataError, parse_metadata_csv
from .models import Assignment, Document, LabelSet
from .sanitize import stored_document_html
from .services import adjudication as adjudication_service
from .services.documents import ImportReport, import_file, stored_path, unmatched_metadata

bp = Blueprint("documents", __name__, url_prefix="/documents")

# Served files never render as a page of this site: PDFs are shown by the viewer, and
# everything else downloads. The sandbox blocks script even if a browser sniffs HTML.
FILE_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "X-Content-Type-Options": "nosniff",
}


def get_document(document_id: int) -> Document:
    """A document the current user may read: the PI any, a coder only an assigned one.

    An adjudicator may also read a document they may adjudicate (never one they code), to
    see it beside the coders' values; anyone else gets 404, as for a document that is not.
    """
    document = db.session.get(Document, document_id)
    if document is None:
        abort(404)
    if current_user.role.can_see_all_labels():
        return document
    assigned = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.document_id == document_id, Assignment.coder_id == current_user.id)
    )
    if not assigned and not adjudication_service.may_read(db.session, current_user, document):
        abort(404)
    return document


def document_html(document: Document) -> Markup | None:
    """The sanitised rendering of an HTML or Markdown document, or None when there is none.

    None for PDF and plain text, and when the stored original is missing or cannot be
    decoded: the page then shows the extracted text alone, flagged, rather than failing.
    """
    if document.format not in (DocumentFormat.HTML, DocumentFormat.MARKDOWN):
        return None
    path = stored_path(current_app.config["DATA_DIR"], document.sha256)
    # Checked on every page, not only on a cache miss, so that a missing file shows the
    # same page whether or not this process rendered the document before.
    if not path.is_file():
        current_app.logger.warning("document %s: stored file %s is missing", document.id, path)
        return None
    try:
        rendered = stored_document_html(path, document.sha256, document.format)
    except (OSError, RefusedFile) as error:
        current_app.logger.warning("document %s cannot be rendered: %s", document.id, error)
        return None
    # Safe to mark as HTML: annotator.sanitize keeps only allow-listed tags and attributes
    # (no script, style, event handler or loading attribute; links only to http, https and
    # mailto), and escapes all text. This is the one place the rendering becomes Markup.
    return Markup(rendered)


@bp.get("/")
@admin_required
def index() -> Any:
    """Every document with its metadata and how far its coding is."""
    documents = db.session.scalars(select(Document).order_by(Document.id)).all()
    coded = dict(
        db.session.execute(
            select(LabelSet.document_id, func.count()).group_by(LabelSet.document_id)
        ).all()
    )
    assigned = dict(
        db.session.execute(
            select(Assignment.document_id, func.count()).group_by(Assignment.document_id)
        ).all()
    )
    return render_template(
        "documents/index.html", documents=documents, coded=coded, assigned=assigned
    )


@bp.route("/upload", methods=["GET", "POST"])
@admin_required
def upload() -> Any:
    """Upload document files (and a metadata CSV); each is imported or refused with a reason."""
    form = DocumentUploadForm()
    report: ImportReport | None = None
    if form.validate_on_submit():
        metadata = {}
        if form.metadata.data and form.metadata.data.filename:
            try:
                metadata = parse_metadata_csv(
                    form.metadata.data.read().decode("utf-8", "replace"),
                    secure_filename(form.metadata.data.filename) or "metadata.csv",
                )
            except MetadataError as error:
                flash(
                    _(
                        "The metadata CSV was not used: %(problems)s",
                        problems="; ".join(error.problems),
                    ),
                    "error",
                )
                return render_template("documents/upload.html", form=form, report=None), 422
        report = ImportReport()
        with tempfile.TemporaryDirectory() as scratch:
            for storage in form.files.data:
                name = Path(storage.filename or "upload").name
                # Keep the original suffix (content decides the format, the suffix says
                # what the uploader meant); the name itself never reaches the file system.
                # The suffix is taken from the name as given: secure_filename drops Chinese
                # characters, which turned "公告.pdf" into "pdf", with no suffix at all.
                suffix = Path(name).suffix.lower()
                if not (suffix[1:].isascii() and suffix[1:].isalnum()):
                    suffix = ""
                temporary = Path(scratch) / ("upload" + suffix)
                storage.save(temporary)
                report.outcomes.append(
                    import_file(
                        db.session,
                        temporary,
                        data_dir=current_app.config["DATA_DIR"],
                        max_bytes=current_app.config["MAX_DOCUMENT_BYTES"],
                        metadata=metadata.get(name),
                        imported_by=current_user,
                        display_name=name,
                    )
                )
                temporary.unlink(missing_ok=True)
        # A row whose file name matches no upload is likely a typo (or a file of another
        # batch): said beside the report, as `annotator import` warns of it.
        unmatched = unmatched_metadata(metadata, [Path(o.path) for o in report.outcomes])
        status = 200 if not report.refused else 422
        return render_template(
            "documents/upload.html", form=form, report=report, unmatched=unmatched
        ), status
    status = 422 if form.is_submitted() else 200  # submitted without a file
    return render_template("documents/upload.html", form=form, report=report), status


@bp.get("/<int:document_id>")
@admin_required
def show(document_id: int) -> Any:
    """The document's text and every coder's label set (the PI's view)."""
    document = get_document(document_id)
    label_sets = db.session.scalars(
        select(LabelSet).where(LabelSet.document_id == document.id).order_by(LabelSet.coder_id)
    ).all()
    assignments = db.session.scalars(
        select(Assignment).where(Assignment.document_id == document.id).order_by(Assignment.id)
    ).all()
    return render_template(
        "documents/show.html",
        document=document,
        document_html=document_html(document),
        label_sets=label_sets,
        assignments=assignments,
    )


@bp.get("/<int:document_id>/file")
@login_required
def file(document_id: int) -> Any:
    """The stored original file, to the PI, a coder assigned the document, or an adjudicator."""
    document = get_document(document_id)
    path = stored_path(current_app.config["DATA_DIR"], document.sha256)
    if not path.is_file():
        abort(410, _("the stored file is missing from the data directory"))
    is_pdf = document.format.value == "pdf"
    # The name as imported (Werkzeug quotes it, and encodes a Chinese name as filename*):
    # secure_filename dropped Chinese characters and made "公告.pdf" a download named "pdf".
    name = "".join(char for char in document.filename if char.isprintable())
    response = send_file(
        path,
        mimetype="application/pdf" if is_pdf else "application/octet-stream",
        as_attachment=not is_pdf,
        download_name=name or f"document-{document.id}",
        max_age=0,
    )
    response.headers.update(FILE_HEADERS)
    return response
