"""The analysis page: a first look at the coded data, for the PI.

Frequencies of a variable, or its cross-tabulation with another variable or a document
metadata field, on the final values or on one coder's values, with the filters of the
reliability dashboard, read by its own ``select_filters`` so that the pages cannot drift
apart; each table as CSV. A GET page: its choices are in the query string, so a view can
be bookmarked and its CSV has the same choices and filters.
"""

from __future__ import annotations

import math
import unicodedata
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
from .forms import choices
from .models import CodebookVersion
from .reliability_views import METADATA_LABELS, FilterForm, Selection, select_filters
from .services import reliability as reliability_service
from .services import tabulate as tabulate_service
from .tabulate import Crosstab, Frequencies, Scale, crosstab, frequencies

bp = Blueprint("analysis", __name__, url_prefix="/analysis")

FIELD_PREFIX = "field:"
CHART_WIDTH = 640
CHART_LABEL_WIDTH = 240
CHART_ROW = 22


class TabulationForm(Form):
    """What to tabulate; read from the query string beside the dashboard's filters."""

    source = SelectField(_l("Values"), validators=[Optional()])
    variable = SelectField(_l("Variable"), validators=[Optional()])
    by = SelectField(_l("By"), validators=[Optional()])


@dataclass(frozen=True)
class Bar:
    """One bar of the frequency chart."""

    label: str  # as drawn (fitted)
    count: int
    y: int
    width: float
    full_label: str = ""


@dataclass(frozen=True)
class Table:
    """What the page shows: the filters, the choices made and the table they give."""

    selection: Selection
    form: TabulationForm
    codebook: CodebookDefinition | None
    n_documents: int
    frequencies: Frequencies | None
    crosstab: Crosstab | None
    title: str
    by_title: str

    @property
    def version(self) -> CodebookVersion | None:
        """The codebook version tabulated (None: nothing coded yet)."""
        return self.selection.version

    @property
    def filters(self) -> FilterForm:
        """The dashboard's filter form (version, coders, metadata, dates, in progress)."""
        return self.selection.form

    def args(self) -> dict[str, Any]:
        """The query string of this table (filters and choices), for its CSV."""
        args: dict[str, Any] = {key: values for key, values in request.args.lists()}
        if self.version is not None:
            args["version"] = self.version.id
        for name in ("source", "variable", "by"):
            args[name] = getattr(self.form, name).data or ""
        return args


def _tabulable(codebook: CodebookDefinition) -> list[Any]:
    return [v for v in codebook.variables if v.type is not VariableType.TEXT]


def _table() -> Table:
    """Read the choices and filters of the request and compute the table.

    Bad choices fall back to the defaults. The coders filter keeps, for the final values,
    the documents coded by at least one of the coders ticked; one coder's values are that
    coder's, so there the choice of values is the coder filter and the ticks do not apply.
    Label sets in progress count only for one coder's values (see ``services.tabulate``).
    """
    selection = select_filters()
    form = TabulationForm(request.args)
    version = selection.version
    if version is None:
        form.source.choices, form.variable.choices, form.by.choices = [], [], []
        return Table(selection, form, None, 0, None, None, "", "")
    lang = codebook_lang()
    codebook = version.parsed()
    variables = _tabulable(codebook)
    coders = [choice.value for choice in selection.form.coder.choices]
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
    rows = tabulate_service.document_values(
        db.session,
        version,
        form.source.data or tabulate_service.FINAL,
        selection.rating_filter,
        agreement_is_final=current_app.config.get("AGREEMENT_IS_FINAL", False),
    )
    variable = by_variable.get(form.variable.data or "")
    if variable is None:
        return Table(selection, form, codebook, len(rows), None, None, "", "")
    values = {document.id: found.get(variable.id) for document, found in rows}
    scale = Scale.of_variable(variable, lang)
    title = variable.label.get(lang)
    by = form.by.data or ""
    if not by:
        counted = frequencies(variable.id, values, scale)
        return Table(selection, form, codebook, len(rows), counted, None, title, "")
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
    table = crosstab(values, scale, other, other_scale)
    return Table(selection, form, codebook, len(rows), None, table, title, by_title)


# --- the charts -------------------------------------------------------------------------------


def text_width(text: str, size: float = 12) -> float:
    """Roughly how wide ``text`` is drawn at a font size, in pixels.

    Chinese, Japanese and Korean characters take a whole em; others about 0.6 em. Enough to
    truncate labels so that they do not run into the bars (SVG text does not wrap).
    """
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in text)
    return (wide + 0.6 * (len(text) - wide)) * size


def fit(text: str, width: float, size: float = 12) -> str:
    """``text``, cut with an ellipsis where needed to fit ``width`` pixels."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def bars(table: Frequencies) -> tuple[list[Bar], int]:
    """Lay out the frequency chart: one bar per category; returns the bars and the height."""
    top = max((c.count for c in table.categories), default=0) or 1
    span = CHART_WIDTH - CHART_LABEL_WIDTH - 60
    laid = [
        Bar(
            fit(c.label, CHART_LABEL_WIDTH - 12),
            c.count,
            i * CHART_ROW,
            round(c.count / top * span, 1),
            c.label,
        )
        for i, c in enumerate(table.categories)
    ]
    return laid, len(laid) * CHART_ROW + 4


# Categorical colours (Tableau 10): distinct for most readers, including most with a colour
# vision deficiency; beyond ten values they repeat, and the titles and table tell them apart.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
STACK_WIDTH = 720
STACK_LABEL_WIDTH = 200
STACK_RIGHT = 64  # room for "n = 1234"
STACK_ROW = 28
STACK_BAR = 20
STACK_LEGEND_ROW = 20
STACK_LEGEND_COLUMNS = 2


def _luminance(colour: str) -> float:
    """The relative luminance of a #rrggbb colour (WCAG 2)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def ink_on(colour: str) -> str:
    """White or near-black, whichever contrasts more with a background colour."""
    luminance = _luminance(colour)
    return "#ffffff" if (1.05 / (luminance + 0.05)) > ((luminance + 0.05) / 0.0625) else "#111827"


@dataclass(frozen=True)
class Segment:
    """One part of a stacked bar: the documents of a bar with one value of the variable."""

    label: str
    count: int
    share: float
    x: float
    width: float
    colour: str
    ink: str
    text: str  # the share shown inside the segment, or "" when it does not fit
    title: str


@dataclass(frozen=True)
class StackedBar:
    """One bar: a value of the "by" side, split by the values of the variable."""

    label: str  # as drawn (fitted)
    full_label: str
    total: int
    y: float
    segments: tuple[Segment, ...]
    title: str


@dataclass(frozen=True)
class LegendItem:
    """A value of the variable and its colour in the chart."""

    label: str  # as drawn (fitted)
    full_label: str
    colour: str
    x: float
    y: float


@dataclass(frozen=True)
class StackedChart:
    """What the template draws for a cross-table."""

    width: int
    height: int
    plot_left: int
    plot_width: int
    bars: tuple[StackedBar, ...]
    legend: tuple[LegendItem, ...]
    legend_top: float


def stacked_bars(table: Crosstab) -> StackedChart:
    """Lay out a cross-table as 100 % stacked horizontal bars, with a legend below.

    One bar per column of the table (the "by" variable or field, as in "depth by province":
    a bar per province) split by the rows (the variable's values, in codebook order), each
    part its share of the column. Percentages are taken within the categories of the "by"
    side, as the usual reading of a cross-table asks, and as the table's shading shows.
    """
    span = STACK_WIDTH - STACK_LABEL_WIDTH - STACK_RIGHT
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(table.rows))]
    laid = []
    for j, column in enumerate(table.columns):
        total = table.column_totals[j]
        y = 4 + j * STACK_ROW
        x = float(STACK_LABEL_WIDTH)
        segments = []
        for i, row in enumerate(table.rows):
            count = table.counts[i][j]
            if not count:
                continue
            share = count / total
            width = round(share * span, 1)
            percent = f"{share * 100:.0f} %"
            segments.append(
                Segment(
                    label=row.label,
                    count=count,
                    share=share,
                    x=round(x, 1),
                    width=width,
                    colour=colours[i],
                    ink=ink_on(colours[i]),
                    text=percent if text_width(percent, 11) + 6 <= width else "",
                    title=_(
                        "%(bar)s, %(value)s: %(count)d of %(total)d (%(share).1f %%)",
                        bar=column.label,
                        value=row.label,
                        count=count,
                        total=total,
                        share=share * 100,
                    ),
                )
            )
            x += share * span
        laid.append(
            StackedBar(
                label=fit(column.label, STACK_LABEL_WIDTH - 12),
                full_label=column.label,
                total=total,
                y=y,
                segments=tuple(segments),
                title=_("%(bar)s: n = %(total)d", bar=column.label, total=total),
            )
        )
    legend_top = 4 + len(laid) * STACK_ROW + 12
    column_width = STACK_WIDTH / STACK_LEGEND_COLUMNS
    legend = tuple(
        LegendItem(
            label=fit(row.label, column_width - 28),
            full_label=row.label,
            colour=colours[i],
            x=(i % STACK_LEGEND_COLUMNS) * column_width,
            y=legend_top + (i // STACK_LEGEND_COLUMNS) * STACK_LEGEND_ROW,
        )
        for i, row in enumerate(table.rows)
    )
    legend_rows = math.ceil(len(legend) / STACK_LEGEND_COLUMNS)
    return StackedChart(
        width=STACK_WIDTH,
        height=int(legend_top + legend_rows * STACK_LEGEND_ROW + 4),
        plot_left=STACK_LABEL_WIDTH,
        plot_width=span,
        bars=tuple(laid),
        legend=legend,
        legend_top=legend_top,
    )


def heat(count: int, total: int) -> int:
    """A shade from 0 (none) to 5 (the whole column) for a cross-table cell."""
    if not total or not count:
        return 0
    return min(5, 1 + int(count / total * 5))


# --- pages ------------------------------------------------------------------------------------


@bp.get("/")
@admin_required
def index() -> Any:
    """The analysis page."""
    table = _table()
    chart = bars(table.frequencies) if table.frequencies is not None else None
    stacked = stacked_bars(table.crosstab) if table.crosstab is not None else None
    return render_template(
        "analysis/index.html",
        table=table,
        chart=chart,
        stacked=stacked,
        chart_width=CHART_WIDTH,
        chart_label_width=CHART_LABEL_WIDTH,
        heat=heat,
        metadata_fields=reliability_service.METADATA_FIELDS,
    )


@bp.get("/table.csv")
@admin_required
def table_csv() -> Any:
    """The page's table as CSV, UTF-8 with a BOM for spreadsheets, with the page's filters."""
    table = _table()
    if table.frequencies is not None:
        text = table.frequencies.to_csv()
    elif table.crosstab is not None:
        text = table.crosstab.to_csv(table.title, table.by_title)
    else:
        abort(404)
    by = table.form.by.data
    name = f"{table.form.variable.data}{'-by-' + by.replace(':', '-') if by else ''}.csv"
    return Response(
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
