"""The PI's reliability pages: the dashboard, the disagreements, the report and the planner.

Every page is a GET with its filters in the query string, so that a filtered view can be
bookmarked and the report downloaded with the same filters. Only the PI sees them: they show
every coder's values side by side, which coders must not see of each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    FloatField,
    Form,
    IntegerField,
    SelectField,
)
from wtforms.validators import NumberRange, Optional

from . import reliability as engine
from . import reliability_report, sample_size
from .auth import admin_required
from .codebook import Codebook as CodebookDefinition
from .codebook import Variable
from .coding import codebook_lang
from .extensions import db
from .forms import CheckboxesField, choices, choose_version
from .models import Codebook, CodebookVersion
from .reliability import MINIMUMS, VariableReliability
from .services import reliability as service
from .services.codebooks import all_codebooks

bp = Blueprint("reliability", __name__, url_prefix="/reliability")

MAX_SAMPLES = 20_000
METADATA_LABELS = {
    "province": _l("Province"),
    "city": _l("City"),
    "level": _l("Administrative level"),
    "year": _l("Year"),
    "kind": _l("Kind of document"),
    "language": _l("Language"),
}
# The engine's reasons for an undefined coefficient, as the pages say them.
UNDEFINED_REASONS = {
    engine.NO_CODER: _l("no coder has coded this variable"),
    engine.SINGLE_CODER: _l("a single coder"),
    engine.NO_PAIRABLE_UNIT: _l("no document coded by two coders"),
    engine.NO_VARIATION: _l("no variation: every coder gave the same value throughout"),
}


class FilterForm(Form):
    """Which label sets the reliability pages analyse; read from the query string."""

    version = SelectField(_l("Codebook version"), coerce=int, validators=[Optional()])
    coder = CheckboxesField(_l("Coders"), validators=[Optional()])
    province = SelectField(METADATA_LABELS["province"], validators=[Optional()])
    city = SelectField(METADATA_LABELS["city"], validators=[Optional()])
    level = SelectField(METADATA_LABELS["level"], validators=[Optional()])
    year = SelectField(METADATA_LABELS["year"], validators=[Optional()])
    kind = SelectField(METADATA_LABELS["kind"], validators=[Optional()])
    language = SelectField(METADATA_LABELS["language"], validators=[Optional()])
    submitted_from = DateField(_l("Submitted from"), validators=[Optional()])
    submitted_to = DateField(_l("Submitted until"), validators=[Optional()])
    in_progress = BooleanField(_l("Include label sets in progress"))
    samples = IntegerField(
        _l("Bootstrap samples"),
        default=service.DEFAULT_SAMPLES,
        validators=[Optional(), NumberRange(min=0, max=MAX_SAMPLES)],
    )
    seed = IntegerField(
        _l("Random seed"),
        default=service.DEFAULT_SEED,
        validators=[Optional(), NumberRange(min=0, max=2**32 - 1)],
    )


class PlannerForm(Form):
    """The sample-size planner's inputs; read from the query string."""

    alpha_min = FloatField(
        _l("Smallest acceptable alpha"), default=sample_size.PLANNER_DEFAULTS["alpha_min"]
    )
    significance = FloatField(
        _l("Significance level"), default=sample_size.PLANNER_DEFAULTS["significance"]
    )
    smallest_share = FloatField(_l("Share of the rarest value"), validators=[Optional()])
    variable = SelectField(_l("Plan for the variable"), validators=[Optional()])
    codebook = SelectField(_l("Codebook"), validators=[Optional()])


@dataclass(frozen=True)
class Selection:
    """The filter form, the version it picked and the filter it describes."""

    form: FilterForm
    version: CodebookVersion | None
    rating_filter: service.RatingFilter
    samples: int
    seed: int

    def args(self, **more: Any) -> dict[str, Any]:
        """The query string of this selection, for links to the other pages."""
        args: dict[str, Any] = {
            key: values for key, values in request.args.lists() if key != "variable"
        }
        if self.version is not None:
            args["version"] = self.version.id
        return {**args, **more}


def select_filters() -> Selection:
    """Read the filters of the request; unknown or invalid values fall back to the defaults."""
    form = FilterForm(request.args)
    versions = service.analysed_versions(db.session)
    version = choose_version(form.version, versions)
    form.coder.choices = choices(
        (name, name) for name in (service.coders_of(db.session, version) if version else [])
    )
    present = service.metadata_values(db.session)
    for name in service.METADATA_FIELDS:
        getattr(form, name).choices = choices([("", _("any")), *((v, v) for v in present[name])])
    form.validate()
    metadata = tuple(
        (name, getattr(form, name).data)
        for name in service.METADATA_FIELDS
        if getattr(form, name).data and not getattr(form, name).errors
    )
    rating_filter = service.RatingFilter(
        coders=tuple(form.coder.data or ()) if not form.coder.errors else (),
        metadata=metadata,
        submitted_from=None if form.submitted_from.errors else form.submitted_from.data,
        submitted_to=None if form.submitted_to.errors else form.submitted_to.data,
        include_in_progress=bool(form.in_progress.data),
    )
    samples = form.samples.data
    if samples is None or form.samples.errors:
        samples = service.DEFAULT_SAMPLES
    # Always a seed, shown on the page: the same filters give the same intervals everywhere.
    seed = form.seed.data
    if seed is None or form.seed.errors:
        seed = service.DEFAULT_SEED
        form.seed.data = seed
    return Selection(form, version, rating_filter, samples, seed)


# --- the chart --------------------------------------------------------------------------------

CHART_WIDTH = 800
CHART_LABEL_WIDTH = 270
CHART_RIGHT = 20
CHART_ROW = 24
CHART_TOP = 34
CHART_BOTTOM = 30


@dataclass(frozen=True)
class ChartRow:
    """One line of the alpha chart: a variable or an option, with its x positions."""

    label: str
    is_option: bool
    y: float
    verdict: str
    alpha: float | None
    ci95: tuple[float, float] | None
    x_alpha: float | None
    x_low: float | None
    x_high: float | None
    description: str


@dataclass(frozen=True)
class Chart:
    """What the template draws: the rows, the axis and the reference lines."""

    width: int
    height: int
    plot_left: int
    plot_right: int
    rows: list[ChartRow]
    ticks: list[tuple[float, float]]  # (value, x)
    minimums: list[tuple[float, float]]  # (value, x)


def _label(codebook: CodebookDefinition, result: VariableReliability, lang: str) -> str:
    """A variable's label, or an option's label for a result named "variable=code"."""
    name, _, code = result.variable.partition("=")
    try:
        variable: Variable = codebook.variable(name)
    except KeyError:
        return result.variable
    if not code:
        return variable.label.get(lang)
    option = variable.option(code)
    return option.label.get(lang) if option is not None else code


def _describe(label: str, result: VariableReliability) -> str:
    """A row's text alternative: the label with alpha and its interval, or why it is undefined."""
    if result.alpha is None:
        reason = UNDEFINED_REASONS.get(result.undefined_reason or "", result.undefined_reason)
        return _("%(label)s: alpha undefined (%(reason)s)", label=label, reason=reason)
    if result.ci95 is None:
        return _("%(label)s: alpha %(alpha).3f", label=label, alpha=result.alpha)
    return _(
        "%(label)s: alpha %(alpha).3f, 95%% interval %(low).3f to %(high).3f",
        label=label,
        alpha=result.alpha,
        low=result.ci95[0],
        high=result.ci95[1],
    )


def chart(codebook: CodebookDefinition, results: list[VariableReliability], lang: str) -> Chart:
    """Lay out alpha and its interval per variable and option, with 0.667 and 0.8 marked.

    The axis runs from 0, or from the lowest alpha or interval end below it (alpha can be
    negative), rounded down to a tenth, to 1.
    """
    lows = [0.0]
    for result in results:
        for each in (result, *result.options):
            if each.alpha is not None:
                lows.append(each.alpha)
            if each.ci95 is not None:
                lows.append(each.ci95[0])
    low = max(-1.0, min(lows))
    start = math.floor(low * 10) / 10 if low < 0 else 0.0
    left, right = CHART_LABEL_WIDTH, CHART_WIDTH - CHART_RIGHT

    def x(value: float) -> float:
        value = min(1.0, max(start, value))
        return round(left + (value - start) / (1.0 - start) * (right - left), 1)

    rows: list[ChartRow] = []
    for result in results:
        for each in (result, *result.options):
            label = _label(codebook, each, lang)
            y = CHART_TOP + len(rows) * CHART_ROW + CHART_ROW / 2
            rows.append(
                ChartRow(
                    label=label,
                    is_option=each is not result,
                    y=y,
                    verdict=reliability_report.verdict(each.alpha),
                    alpha=each.alpha,
                    ci95=each.ci95,
                    x_alpha=None if each.alpha is None else x(each.alpha),
                    x_low=None if each.ci95 is None else x(each.ci95[0]),
                    x_high=None if each.ci95 is None else x(each.ci95[1]),
                    description=_describe(label, each),
                )
            )
    steps = round((1.0 - start) * 10)
    step = 1 if steps <= 10 else 2
    ticks = [(round(start + i / 10, 1), x(start + i / 10)) for i in range(0, steps + 1, step)]
    if ticks[-1][0] != 1.0:
        ticks.append((1.0, x(1.0)))
    return Chart(
        width=CHART_WIDTH,
        height=CHART_TOP + len(rows) * CHART_ROW + CHART_BOTTOM,
        plot_left=left,
        plot_right=right,
        rows=rows,
        ticks=ticks,
        minimums=[(minimum, x(minimum)) for minimum in MINIMUMS],
    )


# --- the planner ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The planner's form and, when its inputs are valid, how many documents to code twice."""

    form: PlannerForm
    codebook: Codebook | None
    n_options: int
    option_variable: str | None
    assumed_share: bool
    required: int | None
    error: str | None
    counts: service.SampleCounts | None


def plan(codebook: Codebook | None = None, *, choose_codebook: bool = False) -> Plan:
    """Read the planner's inputs from the query string and work out the sample size.

    The share of the rarest value defaults to 1 / the number of values of the variable
    planned for, as if every value were equally common. That variable is the PI's choice,
    by default the codebook's first categorical variable (its newest version): codebooks
    put the study's main variables first, while the one with the most options is often a
    place or a year, whose rarest value would ask for an impractical sample.
    """
    form = PlannerForm(request.args, prefix="plan-")
    codebooks = all_codebooks(db.session)
    form.codebook.choices = choices((c.slug, c.title) for c in codebooks)
    if choose_codebook:
        codebook = next((c for c in codebooks if c.slug == form.codebook.data), None) or (
            codebooks[0] if codebooks else None
        )
    if codebook is not None:
        form.codebook.data = codebook.slug
    n_options, option_variable = 2, None
    counted = (
        service.categorical_option_counts(codebook.latest.parsed())
        if codebook is not None and codebook.latest is not None
        else []
    )
    lang = codebook_lang()
    form.variable.choices = choices(
        (variable.id, f"{variable.label.get(lang)} ({count})") for variable, count in counted
    )
    chosen = next((item for item in counted if item[0].id == form.variable.data), None)
    if chosen is None and counted:
        chosen = counted[0]
    if chosen is not None:
        form.variable.data = chosen[0].id
        n_options, option_variable = chosen[1], chosen[0].label.get(lang)
    assumed = form.smallest_share.data is None
    required, error = None, None
    form.validate()
    if form.alpha_min.errors or form.significance.errors or form.smallest_share.errors:
        error = _("Enter numbers, such as 0.8 and 0.05.")
    else:
        share = form.smallest_share.data
        try:
            if share is None:
                share = sample_size.smallest_share_for(n_options)
            required = sample_size.required_units(
                form.alpha_min.data or 0.0, form.significance.data or 0.0, share
            )
        except ValueError as problem:
            error = str(problem)
    counts = service.sample_counts(db.session, codebook) if codebook is not None else None
    return Plan(form, codebook, n_options, option_variable, assumed, required, error, counts)


@bp.app_context_processor
def planner_context() -> dict[str, Any]:
    """The planner, for the assignments page to show beside the reliability-sample field."""
    return {"reliability_planner": lambda: plan(choose_codebook=True)}


# --- pages ------------------------------------------------------------------------------------


def _undefined_reason(result: VariableReliability) -> str:
    reason = result.undefined_reason or ""
    return str(UNDEFINED_REASONS.get(reason, reason))


def _page_context(selection: Selection) -> dict[str, Any]:
    """What the dashboard and the report share: the analysis, its chart and the labels."""
    lang = codebook_lang()
    context: dict[str, Any] = {
        "selection": selection,
        "form": selection.form,
        "version": selection.version,
        "lang": lang,
        "metadata_fields": service.METADATA_FIELDS,
        "undefined_reason": _undefined_reason,
        "verdict": reliability_report.verdict,
        "minimums": MINIMUMS,
        "analysis": None,
        "chart": None,
    }
    if selection.version is None:
        return context
    analysis = service.analyse(
        db.session,
        selection.version,
        selection.rating_filter,
        samples=selection.samples,
        seed=selection.seed,
    )
    context["analysis"] = analysis
    context["chart"] = chart(analysis.codebook, analysis.results, lang)
    context["label_of"] = lambda result: _label(analysis.codebook, result, lang)
    context["pairs"] = {(p.first, p.second): p for p in analysis.pairs}
    context["pair_coders"] = sorted({c for p in analysis.pairs for c in (p.first, p.second)})
    return context


@bp.get("/")
@admin_required
def dashboard() -> Any:
    """Alpha and the other coefficients per variable, filtered, with the chart and the planner."""
    selection = select_filters()
    context = _page_context(selection)
    codebook = selection.version.codebook if selection.version is not None else None
    if codebook is None:
        codebooks = all_codebooks(db.session)
        codebook = codebooks[0] if codebooks else None
    context["plan"] = plan(codebook)
    return render_template("reliability/dashboard.html", **context)


@bp.get("/disagreements")
@admin_required
def disagreements() -> Any:
    """For one variable, the documents where coders differ, with their values and quotes."""
    selection = select_filters()
    lang = codebook_lang()
    version = selection.version
    variables = service.coded_variables(version.parsed()) if version is not None else []
    wanted = request.args.get("variable") or (variables[0].id if variables else None)
    variable = next((v for v in variables if v.id == wanted), None)
    if wanted is not None and variable is None:
        abort(404)
    rows = (
        service.disagreements(db.session, version, variable.id, selection.rating_filter)
        if version is not None and variable is not None
        else []
    )
    return render_template(
        "reliability/disagreements.html",
        selection=selection,
        form=selection.form,
        version=version,
        variables=variables,
        variable=variable,
        rows=rows,
        lang=lang,
        metadata_fields=service.METADATA_FIELDS,
    )


@bp.get("/report.html")
@admin_required
def report_html() -> Any:
    """A printable report: the methods paragraph, the chart and the table, without navigation."""
    selection = select_filters()
    context = _page_context(selection)
    analysis = context["analysis"]
    methods = None
    if analysis is not None:
        methods = reliability_report.methods_paragraph(
            analysis.results,
            n_units=analysis.n_units,
            coders=analysis.coders,
            samples=analysis.samples,
            seed=analysis.seed,
        )
    return render_template(
        "reliability/report.html",
        methods=methods,
        references=reliability_report.REFERENCES,
        generated=datetime.now(UTC),
        filter_summary=_filter_summary(selection),
        **context,
    )


@bp.get("/report.csv")
@admin_required
def report_csv() -> Any:
    """The table as CSV: one row per variable and option, UTF-8 with a BOM for spreadsheets."""
    selection = select_filters()
    if selection.version is None:
        abort(404)
    results = service.results_for(
        db.session,
        selection.version,
        selection.rating_filter,
        samples=selection.samples,
        seed=selection.seed,
    )
    version = selection.version
    name = f"reliability-{version.codebook.slug}-v{version.number}.csv"
    return Response(
        "\ufeff" + reliability_report.to_csv(results),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _filter_summary(selection: Selection) -> list[str]:
    """The filters in words, for the report: what was left out of the analysis."""
    rating_filter, form = selection.rating_filter, selection.form
    lines = []
    if rating_filter.coders:
        lines.append(_("Coders: %(names)s", names=", ".join(rating_filter.coders)))
    for name, value in rating_filter.metadata:
        lines.append(f"{METADATA_LABELS[name]}: {value}")
    if rating_filter.submitted_from or rating_filter.submitted_to:
        lines.append(
            _(
                "Submitted from %(start)s until %(end)s",
                start=form.submitted_from.raw_data[0] if rating_filter.submitted_from else "…",
                end=form.submitted_to.raw_data[0] if rating_filter.submitted_to else "…",
            )
        )
    if rating_filter.include_in_progress:
        lines.append(_("Label sets in progress included"))
    return lines
