"""Downloads of the coded data and the codebook, for the PI: every export of `annotator export`.

A GET form; the download is a GET with the same choices in the query string, so a link to
an export can be kept. The file is written to a temporary file (the exports read the
database in batches) and sent from there.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from flask import Blueprint, current_app, render_template, request, send_file
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, Form, SelectField
from wtforms.validators import Optional

from .auth import admin_required
from .exports import ExportError
from .extensions import db
from .forms import choices, choose_version
from .models import CodebookVersion
from .services import exports as export_service
from .services import reliability as reliability_service
from .services.refi_qda import RefiQdaError

bp = Blueprint("exports", __name__, url_prefix="/exports")

FORMAT_LABELS = {
    "csv": _l("CSV"),
    "xlsx": _l("Excel (XLSX)"),
    "json": _l("JSON"),
    "sav": _l("SPSS (.sav), with variable and value labels"),
    "dta": _l("Stata (.dta), with variable and value labels"),
    "codebook-yaml": _l("The codebook as YAML"),
    "codebook-json": _l("The codebook as JSON"),
    "codebook-html": _l("The codebook as a readable HTML page"),
    "qdpx": _l("REFI-QDA project (.qdpx) for ATLAS.ti, MAXQDA, NVivo, QualCoder"),
    "qdc": _l("REFI-QDA codebook (.qdc)"),
}
LAYOUT_LABELS = {
    "wide": _l("Final values: a row per document"),
    "wide-coders": _l("A row per document and coder"),
    "long": _l("Long: a row per document, coder and variable, with evidence"),
    "matrix-irr": _l("Reliability matrix for R's irr (units × coders)"),
    "matrix-recal": _l("Reliability matrix for ReCal (units × coders, no header)"),
    "matrix-krippendorff": _l("Reliability matrix for the krippendorff package (coders × units)"),
}
MIMETYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
    "codebook-yaml": "application/yaml",
    "codebook-json": "application/json",
    "codebook-html": "text/html",
    "qdpx": "application/zip",
    "qdc": "application/xml",
}


class ExportForm(Form):
    """What to export; read from the query string."""

    version = SelectField(_l("Codebook version"), coerce=int, validators=[Optional()])
    format = SelectField(_l("Format"), choices=choices(FORMAT_LABELS.items()), default="csv")
    layout = SelectField(_l("Layout"), choices=choices(LAYOUT_LABELS.items()), default="wide")
    variable = SelectField(_l("Variable (reliability matrices)"), validators=[Optional()])
    lang = SelectField(
        _l("Language of labels"), choices=choices([("en", "English"), ("zh", "中文")])
    )
    bom = BooleanField(_l("CSV for Excel (with a byte-order mark)"))
    in_progress = BooleanField(_l("Include label sets in progress (coders' layouts)"))


def _form() -> tuple[ExportForm, CodebookVersion | None]:
    form = ExportForm(request.args)
    versions = reliability_service.analysed_versions(db.session)
    version = choose_version(form.version, versions)
    columns = []
    if version is not None:
        for variable in version.parsed().variables:
            if variable.type.value == "multiple":
                columns += [
                    (f"{variable.id}__{code}", f"{variable.id} = {code}") for code in variable.codes
                ]
            elif variable.type.value != "text":
                columns.append((variable.id, variable.id))
    form.variable.choices = choices([("", "—"), *columns])
    return form, version


@bp.get("/")
@admin_required
def index() -> Any:
    """The export choices."""
    form, version = _form()
    return render_template("exports/index.html", form=form, version=version)


@bp.get("/download")
@admin_required
def download() -> Any:
    """Write the export chosen in the query string and send it as an attachment."""
    form, version = _form()
    form.validate()
    if version is None:
        return render_template("exports/index.html", form=form, version=None), 404
    fmt = form.format.data or "csv"
    layout = form.layout.data or "wide"
    handle, path = tempfile.mkstemp(suffix=export_service.SUFFIXES.get(fmt, ""))
    os.close(handle)
    try:
        export_service.write_export(
            db.session,
            version,
            fmt,
            path=path,
            layout=layout,
            variable=form.variable.data or None,
            include_in_progress=bool(form.in_progress.data),
            agreement_is_final=current_app.config["AGREEMENT_IS_FINAL"],
            bom=bool(form.bom.data),
            lang=form.lang.data or "en",
            data_dir=current_app.config["DATA_DIR"],
        )
    except (ExportError, RefiQdaError, ValueError) as error:
        os.unlink(path)
        return render_template(
            "exports/index.html", form=form, version=version, error=str(error)
        ), 422
    codebook = version.codebook.slug
    what = fmt if fmt.startswith("codebook") or fmt in ("qdpx", "qdc") else layout
    name = f"{codebook}-v{version.number}-{what}{export_service.SUFFIXES[fmt]}"
    response = send_file(path, mimetype=MIMETYPES[fmt], as_attachment=True, download_name=name)
    response.call_on_close(lambda: os.unlink(path))
    return response
