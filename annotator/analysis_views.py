"""The analysis page: a first look at the coded data, for the PI.

Frequencies of a variable, or its cross-tabulation with another variable or a document
metadata field, on the final values or on one coder's values, with the metadata filters of
the reliability dashboard; each table as CSV. A GET page: its choices are in the query
string, so a view can be bookmarked and its CSV has the same choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import Form, SelectField
from wtforms.validators import Optional

from .auth import admin_required
from .codebook import Codebook as CodebookDefinition
from .codebook import VariableType
from .coding import codebook_lang
from .extensions import db
from .forms import choices, choose_version
from .models import CodebookVersion
from .reliability_views import METADATA_LABELS
from .services import reliability as reliability_service
from .services import tabulate as tabulate_service
from .tabulate import Crosstab, Frequencies, Scale, crosstab, frequencies

bp = Blueprint("analysis", __name__, url_prefix="/analysis")

FIELD_PREFIX = "field:"
CHART_WIDTH = 640
CHART_LABEL_WIDTH = 240
CHART_ROW = 22


class AnalysisForm(Form):
    """What to tabulate, and on which documents; read from the query string."""

    version = SelectField(_l("Codebook version"), coerce=int, validators=[Optional()])
    source = SelectField(_l("Values"), validators=[Optional()])
    variable = SelectField(_l("Variable"), validators=[Optional()])
    by = SelectField(_l("By"), validators=[Optional()])
    province = SelectField(METADATA_LABELS["province"], validators=[Optional()])
    city = SelectField(METADATA_LABELS["city"], validators=[Optional()])
    level = SelectField(METADATA_LABELS["level"], validators=[Optional()])
    year = SelectField(METADATA_LABELS["year"], validators=[Optional()])
    kind = SelectField(METADATA_LABELS["kind"], validators=[Optional()])
    language = SelectField(METADATA_LABELS["language"], validators=[Optional()])


@dataclass(frozen=True)
class Bar:
    """One bar of the frequency chart."""

    label: str
    count: int
    y: int
    width: float


@dataclass(frozen=True)
class Table:
    """What the page shows: the choices made and the table they give."""

    form: AnalysisForm
    version: CodebookVersion | None
    codebook: CodebookDefinition | None
    n_documents: int
    frequencies: Frequencies | None
    crosstab: Crosstab | None
    title: str
    by_title: str


def _tabulable(codebook: CodebookDefinition) -> list[Any]:
    return [v for v in codebook.variables if v.type is not VariableType.TEXT]


def _table() -> Table:
    """Read the choices of the request and compute the table; bad choices fall back."""
    form = AnalysisForm(request.args)
    versions = reliability_service.analysed_versions(db.session)
    version = choose_version(form.version, versions)
    present = reliability_service.metadata_values(db.session)
    for name in reliability_service.METADATA_FIELDS:
        getattr(form, name).choices = choices([("", _("any")), *((v, v) for v in present[name])])
    if version is None:
        form.source.choices, form.variable.choices, form.by.choices = [], [], []
        return Table(form, None, None, 0, None, None, "", "")
    lang = codebook_lang()
    codebook = version.parsed()
    variables = _tabulable(codebook)
    coders = reliability_service.coders_of(db.session, version)
    form.source.choices = choices(
        [(tabulate_service.FINAL, _("final values")), *((name, name) for name in coders)]
    )
    if form.source.data not in {tabulate_service.FINAL, *coders}:
        form.source.data = tabulate_service.FINAL
    form.variable.choices = choices((v.id, v.label.get(lang)) for v in variables)
    by_variable = {v.id: v for v in variables}
    if form.variable.data not in by_variable:
        form.variable.data = variables[0].id if variables else None
    form.by.choices = choices(
        [
            ("", _("nothing (frequencies)")),
            *((v.id, v.label.get(lang)) for v in variables if v.id != form.variable.data),
            *(
                (f"{FIELD_PREFIX}{name}", str(METADATA_LABELS[name]))
                for name in reliability_service.METADATA_FIELDS
            ),
        ]
    )
    valid_by = {choice.value for choice in form.by.choices}
    if form.by.data not in valid_by:
        form.by.data = ""
    metadata = tuple(
        (name, getattr(form, name).data)
        for name in reliability_service.METADATA_FIELDS
        if getattr(form, name).data in present[name]
    )
    rows = tabulate_service.document_values(
        db.session,
        version,
        form.source.data or tabulate_service.FINAL,
        reliability_service.RatingFilter(metadata=metadata),
        agreement_is_final=current_app.config.get("AGREEMENT_IS_FINAL", False),
    )
    variable = by_variable.get(form.variable.data or "")
    if variable is None:
        return Table(form, version, codebook, len(rows), None, None, "", "")
    values = {document.id: found.get(variable.id) for document, found in rows}
    scale = Scale.of_variable(variable, lang)
    title = variable.label.get(lang)
    by = form.by.data or ""
    if not by:
        return Table(
            form,
            version,
            codebook,
            len(rows),
            frequencies(variable.id, values, scale),
            None,
            title,
            "",
        )
    if by.startswith(FIELD_PREFIX):
        name = by.removeprefix(FIELD_PREFIX)
        other = {document.id: getattr(document, name) for document, _found in rows}
        other_scale, by_title = Scale.of_field(), str(METADATA_LABELS[name])
    else:
        other_variable = by_variable[by]
        other = {document.id: found.get(by) for document, found in rows}
        other_scale, by_title = (
            Scale.of_variable(other_variable, lang),
            other_variable.label.get(lang),
        )
    return Table(
        form,
        version,
        codebook,
        len(rows),
        None,
        crosstab(values, scale, other, other_scale),
        title,
        by_title,
    )


def bars(table: Frequencies) -> tuple[list[Bar], int]:
    """Lay out the frequency chart: one bar per category; returns the bars and the height."""
    top = max((c.count for c in table.categories), default=0) or 1
    span = CHART_WIDTH - CHART_LABEL_WIDTH - 60
    laid = [
        Bar(c.label, c.count, i * CHART_ROW, round(c.count / top * span, 1))
        for i, c in enumerate(table.categories)
    ]
    return laid, len(laid) * CHART_ROW + 4


def heat(count: int, total: int) -> int:
    """A shade from 0 (none) to 5 (the whole row) for a cross-table cell."""
    if not total or not count:
        return 0
    return min(5, 1 + int(count / total * 5))


@bp.get("/")
@admin_required
def index() -> Any:
    """The analysis page."""
    table = _table()
    chart = bars(table.frequencies) if table.frequencies is not None else None
    return render_template(
        "analysis/index.html",
        table=table,
        chart=chart,
        chart_width=CHART_WIDTH,
        chart_label_width=CHART_LABEL_WIDTH,
        heat=heat,
        metadata_fields=reliability_service.METADATA_FIELDS,
    )


@bp.get("/table.csv")
@admin_required
def table_csv() -> Any:
    """The page's table as CSV, UTF-8 with a BOM for spreadsheets."""
    table = _table()
    if table.frequencies is not None:
        text = table.frequencies.to_csv()
    elif table.crosstab is not None:
        text = table.crosstab.to_csv(table.title, table.by_title)
    else:
        abort(404)
    name = f"{table.form.variable.data}{'-by-' + table.form.by.data.replace(':', '-') if table.form.by.data else ''}.csv"
    return Response(
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
