"""Reliability over a whole codebook, reported as a table, a CSV file and a methods paragraph.

``ReliabilityAnalysis`` pairs each variable with its level and value domain and runs the
engine (``annotator.reliability``) on every one; the command line and the PI's report
pages both go through here, so the figures and the wording are the same wherever they are
read. This module imports no Flask.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata

from .codebook import Codebook, Variable, VariableType
from .reliability import MINIMUMS, VariableReliability, reliability, variable_reliability
from .reliability import Ratings as UnitRatings

__all__ = [
    "CSV_COLUMNS",
    "REFERENCES",
    "ReliabilityAnalysis",
    "methods_paragraph",
    "result_rows",
    "text_table",
    "to_csv",
    "verdict",
]

CSV_COLUMNS = (
    "variable",
    "option",
    "level",
    "alpha",
    "ci95_low",
    "ci95_high",
    "q_below_0.667",
    "q_below_0.8",
    "n_units",
    "n_coders",
    "n_pairable",
    "percent_agreement",
    "fleiss_kappa",
    "gwet_ac1",
    "cohen_kappa",
    "undefined_reason",
)

REFERENCES = (
    "Cohen, J. (1960). A coefficient of agreement for nominal scales. Educational and "
    "Psychological Measurement, 20(1), 37–46.",
    "Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. "
    "Psychological Bulletin, 76(5), 378–382.",
    "Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the presence "
    "of high agreement. British Journal of Mathematical and Statistical Psychology, 61(1), "
    "29–48.",
    "Hayes, A. F., & Krippendorff, K. (2007). Answering the call for a standard reliability "
    "measure for coding data. Communication Methods and Measures, 1(1), 77–89.",
    "Krippendorff, K. (2004). Content analysis: An introduction to its methodology (2nd ed.). "
    "Sage.",
    "Passonneau, R. (2006). Measuring agreement on set-valued items (MASI) for semantic and "
    "pragmatic annotation. Proceedings of LREC 2006.",
)

_LEVEL_NAMES = {
    "nominal": "nominal",
    "ordinal": "ordinal (in the codebook's order of options)",
    "interval": "interval",
    "ratio": "ratio",
    "masi": "multiple choice, with the MASI distance between sets of codes (Passonneau, 2006)",
}


# variable -> unit -> coder -> value
Ratings = Mapping[str, UnitRatings]


@dataclass(frozen=True)
class _Plan:
    """One variable to analyse: its codebook entry, or its level and value domain."""

    name: str
    level: str
    domain: tuple[object, ...] | None = None
    variable: object = None  # a codebook Variable when there is one


@dataclass(frozen=True)
class ReliabilityAnalysis:
    """The variables to analyse, in order, and their ratings by unit and coder."""

    plans: tuple[_Plan, ...]
    ratings: Ratings
    skipped: tuple[str, ...] = field(default=())

    @classmethod
    def from_codebook(
        cls, codebook: Codebook, ratings: Ratings, *, strict: bool = False
    ) -> ReliabilityAnalysis:
        """Every coded (not free-text) variable of the codebook, in codebook order.

        With ``strict``, ratings of a variable the codebook does not have are an error (a file
        from another study); ratings of free-text variables are left out and named in
        ``skipped`` either way.
        """
        known = {variable.id: variable for variable in codebook.variables}
        unknown = [name for name in ratings if name not in known]
        if strict and unknown:
            raise ValueError(
                f"variable{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} not in the "
                f"codebook {codebook.id}"
            )
        if strict:
            problems = [
                problem
                for variable in codebook.variables
                for problem in _foreign_values(variable, ratings.get(variable.id, {}))
            ]
            if problems:
                raise ValueError("\n".join(problems))
        plans = tuple(
            _Plan(variable.id, variable.level, variable=variable)
            for variable in codebook.variables
            if variable.type is not VariableType.TEXT
        )
        skipped = tuple(
            variable.id
            for variable in codebook.variables
            if variable.type is VariableType.TEXT and variable.id in ratings
        )
        return cls(plans, ratings, skipped)

    @classmethod
    def from_levels(
        cls, ratings: Ratings, default_level: str, levels: Mapping[str, str] | None = None
    ) -> ReliabilityAnalysis:
        """The rated variables in the order given, each at its level or ``default_level``.

        Ordinal data without a codebook need an order: numbers are ordered by value; other
        codes cannot be, and raise ValueError naming the variable.
        """
        return cls(
            tuple(_Plan(name, (levels or {}).get(name, default_level)) for name in ratings),
            ratings,
        )

    @property
    def variables(self) -> list[str]:
        return [plan.name for plan in self.plans]

    def only(self, names: Iterable[str]) -> ReliabilityAnalysis:
        """The same analysis on these variables only, in the order of the analysis."""
        wanted = set(names)
        return ReliabilityAnalysis(
            tuple(plan for plan in self.plans if plan.name in wanted), self.ratings
        )

    def coverage(self) -> tuple[int, list[str]]:
        """The units coded by at least two coders on some variable, and the coders of those."""
        units: set[str] = set()
        coders: set[str] = set()
        for plan in self.plans:
            for unit, by_coder in self.ratings.get(plan.name, {}).items():
                present = [coder for coder, value in by_coder.items() if value is not None]
                if len(present) >= 2:
                    units.add(unit)
                    coders.update(present)
        return len(units), sorted(coders)

    def run(self, *, samples: int = 1000, seed: int | None = None) -> list[VariableReliability]:
        """Every variable's reliability. Each variable draws its bootstrap from ``seed`` on its
        own, so a variable's interval does not depend on which others are analysed.

        Raises ValueError naming the variable when a value is outside its domain.
        """
        results = []
        for plan in self.plans:
            by_unit = self.ratings.get(plan.name, {})
            try:
                if plan.variable is not None:
                    result = reliability(plan.variable, by_unit, samples=samples, seed=seed)  # type: ignore[arg-type]
                else:
                    domain = plan.domain
                    if plan.level == "ordinal" and domain is None:
                        domain = _numeric_order(by_unit)
                    result = variable_reliability(
                        plan.name, by_unit, plan.level, domain, samples=samples, seed=seed
                    )
            except ValueError as error:
                raise ValueError(f"{plan.name}: {error}") from None
            results.append(result)
        return results


def _foreign_values(variable: Variable, by_unit: UnitRatings) -> Iterator[str]:
    """A message for every value the variable cannot take, coded twice or not."""
    if variable.type.takes_options:
        allowed: set[object] = set(variable.codes)
        shown = f"options: {', '.join(variable.codes)}"
    elif variable.type is VariableType.YESNO:
        allowed, shown = {"yes", "no"}, "yes or no"
    else:
        return
    for unit, by_coder in by_unit.items():
        for coder, value in by_coder.items():
            codes = value if isinstance(value, frozenset) else {value}
            foreign = sorted(str(code) for code in codes if code not in allowed)
            if foreign:
                yield (
                    f"{variable.id}: unit {unit}, coder {coder}: {', '.join(map(repr, foreign))} "
                    f"is not a value of the variable ({shown})"
                )


def _numeric_order(by_unit: UnitRatings) -> tuple[object, ...]:
    values = {value for by_coder in by_unit.values() for value in by_coder.values()}
    try:
        return tuple(sorted(values, key=lambda value: float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            "ordinal codes other than numbers need the codebook's order of options"
        ) from None


def verdict(alpha: float | None) -> str:
    """Krippendorff's (2004, p. 241) reading of an alpha: rely on it, tentatively, or not."""
    if alpha is None:
        return "undefined"
    if alpha >= MINIMUMS[1]:
        return "reliable"
    if alpha >= MINIMUMS[0]:
        return "tentative"
    return "unreliable"


def _each(results: Sequence[VariableReliability]) -> Iterator[tuple[str, VariableReliability]]:
    """Every result with its variable name: the variables, each followed by its options."""
    for result in results:
        yield result.variable, result
        for option in result.options:
            yield result.variable, option


def _option(variable: str, result: VariableReliability) -> str:
    return result.variable.removeprefix(f"{variable}=") if result.variable != variable else ""


def _cohen(result: VariableReliability) -> str:
    return "; ".join(
        f"{pair}={_number(kappa) or 'undefined'}"
        for pair, kappa in sorted(result.cohen_kappa.items())
    )


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def result_rows(results: Sequence[VariableReliability]) -> list[dict[str, object]]:
    """One row per variable and, for multiple choice, one per option; keys are CSV_COLUMNS.

    Numbers are kept as numbers (None where undefined or not applicable); Cohen's kappa is
    one text cell, "A|B=0.700; A|C=0.640".
    """
    rows: list[dict[str, object]] = []
    for variable, result in _each(results):
        q = result.q_below or {}
        rows.append(
            {
                "variable": variable,
                "option": _option(variable, result),
                "level": result.level,
                "alpha": result.alpha,
                "ci95_low": result.ci95[0] if result.ci95 else None,
                "ci95_high": result.ci95[1] if result.ci95 else None,
                "q_below_0.667": q.get(MINIMUMS[0]),
                "q_below_0.8": q.get(MINIMUMS[1]),
                "n_units": result.n_units,
                "n_coders": result.n_coders,
                "n_pairable": result.n_pairable,
                "percent_agreement": result.percent_agreement,
                "fleiss_kappa": result.fleiss_kappa,
                "gwet_ac1": result.gwet_ac1,
                "cohen_kappa": _cohen(result),
                "undefined_reason": result.undefined_reason,
            }
        )
    return rows


def to_csv(results: Sequence[VariableReliability]) -> str:
    """The rows as CSV text: full precision, an empty cell for undefined or not applicable."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in result_rows(results):
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return out.getvalue()


_TABLE_COLUMNS = (
    ("variable", "variable"),
    ("level", "level"),
    ("alpha", "alpha"),
    ("95% CI", "ci95"),
    ("q<.667", "q_below_0.667"),
    ("q<.8", "q_below_0.8"),
    ("units", "n_units"),
    ("coders", "n_coders"),
    ("pairable", "n_pairable"),
    ("agree", "percent_agreement"),
    ("fleiss", "fleiss_kappa"),
    ("ac1", "gwet_ac1"),
    ("undefined", "undefined_reason"),
)


def text_table(results: Sequence[VariableReliability]) -> str:
    """A fixed-width table for a terminal; options are indented under their variable."""
    lines = [[title for title, _ in _TABLE_COLUMNS]]
    for row in result_rows(results):
        cells = []
        for _, key in _TABLE_COLUMNS:
            if key == "variable":
                cells.append(f"  ={row['option']}" if row["option"] else str(row["variable"]))
            elif key == "ci95":
                low, high = row["ci95_low"], row["ci95_high"]
                cells.append(
                    f"[{low:.3f}, {high:.3f}]"
                    if isinstance(low, float) and isinstance(high, float)
                    else "—"
                )
            elif key in ("level", "undefined_reason"):
                cells.append(str(row[key] or ""))
            elif isinstance(row[key], float):
                cells.append(f"{row[key]:.3f}")
            elif row[key] is None:
                cells.append("—")
            else:
                cells.append(str(row[key]))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(_TABLE_COLUMNS))]
    numeric = {i for i, (_, key) in enumerate(_TABLE_COLUMNS) if key not in _TEXT_KEYS}
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ).rstrip()
        for line in lines
    )


_TEXT_KEYS = frozenset({"variable", "level", "undefined_reason"})


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def _package_version() -> str:
    try:
        return metadata.version("krippendorff")
    except metadata.PackageNotFoundError:  # pragma: no cover - it is a dependency
        return "unknown"


def methods_paragraph(
    results: Sequence[VariableReliability],
    *,
    n_units: int,
    coders: Sequence[str],
    samples: int,
    seed: int | None,
    unit_name: str = "documents",
) -> str:
    """A paragraph for the methods section of a paper: what was computed, on what, and how.

    ``n_units`` counts the units coded by at least two coders, ``coders`` names everyone
    whose values entered; ``samples`` is the number of bootstrap samples (0: none).
    """
    if not results:
        return "No variable was analysed."
    sentences = [
        f"Inter-coder reliability was assessed on "
        f"{_count(n_units, unit_name.removesuffix('s'), unit_name)} "
        f"coded independently by {_count(len(coders), 'coder')}"
        + (f" ({', '.join(coders)})" if coders and len(coders) <= 8 else "")
        + "."
    ]
    by_level: dict[str, int] = {}
    for result in results:
        by_level[result.level] = by_level.get(result.level, 0) + 1
    levels = ", ".join(
        f"{n} {_LEVEL_NAMES[level]}"
        for level, n in sorted(by_level.items(), key=lambda item: list(_LEVEL_NAMES).index(item[0]))
    )
    sentences.append(
        f"For each of {_count(len(results), 'variable')}, Krippendorff's alpha (Krippendorff, "
        f"2004) was computed at the variable's level of measurement ({levels}) with the "
        f"krippendorff Python package, version {_package_version()}; units coded by fewer "
        "than two coders were left out."
    )
    if "masi" in by_level:
        sentences.append(
            "For multiple-choice variables, a binary (chosen or not) alpha was also computed "
            "for each option."
        )
    if samples > 0:
        sentences.append(
            f"95 % confidence intervals and the probabilities q that alpha falls below "
            f"{MINIMUMS[0]:.3f} and {MINIMUMS[1]:.3f} were estimated from "
            f"{_count(samples, 'bootstrap sample')} of the pairable values (Hayes & "
            f"Krippendorff, 2007" + (f"; random seed {seed}" if seed is not None else "") + ")."
        )
    sentences.append(
        "Percent agreement, Cohen's (1960) kappa for each pair of coders, Fleiss' (1971) "
        "kappa where every unit had the same number of coders, and Gwet's (2008) AC1 for "
        "nominal and ordinal variables are reported alongside."
    )
    defined = [result for result in results if result.alpha is not None]
    if defined:
        low = min(defined, key=lambda result: result.alpha or 0.0)
        high = max(defined, key=lambda result: result.alpha or 0.0)
        reliable = sum(verdict(result.alpha) == "reliable" for result in defined)
        tentative = sum(verdict(result.alpha) == "tentative" for result in defined)
        sentences.append(
            (
                f"Alpha was {low.alpha:.3f} ({low.variable})."
                if low is high
                else f"Alpha ranged from {low.alpha:.3f} ({low.variable}) to "
                f"{high.alpha:.3f} ({high.variable})."
            )
            + f" {reliable} of {len(results)} variables reached {MINIMUMS[1]:.3f} and "
            f"{tentative} more reached {MINIMUMS[0]:.3f}."
        )
    undefined = [result.variable for result in results if result.alpha is None]
    if undefined:
        sentences.append(
            f"Alpha was undefined for {', '.join(undefined)} "
            f"({'; '.join(sorted({r.undefined_reason or '' for r in results if r.alpha is None}))})."
        )
    return " ".join(sentences)
