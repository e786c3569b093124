"""Reliability over a codebook, and its table, CSV and methods paragraph."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from annotator.codebook import load_codebook
from annotator.reliability import variable_reliability
from annotator.reliability_report import (
    CSV_COLUMNS,
    ReliabilityAnalysis,
    methods_paragraph,
    result_rows,
    text_table,
    to_csv,
    verdict,
)

from .conftest import STUDY_CODEBOOK

AGREE = {"d1": {"A": "x", "B": "x"}, "d2": {"A": "y", "B": "y"}, "d3": {"A": "x", "B": "y"}}
SETS = {
    "d1": {"A": frozenset({"a"}), "B": frozenset({"a", "b"})},
    "d2": {"A": frozenset({"b"}), "B": frozenset({"b"})},
    "d3": {"A": frozenset({"a"}), "B": frozenset({"a"}), "C": frozenset({"a"})},
}
FLAT = {"d1": {"A": "x", "B": "x"}}


@pytest.mark.parametrize(
    ("alpha", "expected"),
    [
        (None, "undefined"),
        (1.0, "reliable"),
        (0.8, "reliable"),
        (0.7999, "tentative"),
        (0.667, "tentative"),
        (0.6669, "unreliable"),
        (-0.3, "unreliable"),
    ],
)
def test_verdict(alpha: float | None, expected: str) -> None:
    assert verdict(alpha) == expected


def results() -> list[Any]:
    return [
        variable_reliability("kind", AGREE, "nominal", samples=200, seed=1),
        variable_reliability("data", SETS, "masi", ["a", "b"], samples=200, seed=1),
        variable_reliability("flat", FLAT, "nominal", samples=200, seed=1),
    ]


def test_rows_list_each_option_under_its_variable() -> None:
    rows = result_rows(results())
    assert [(row["variable"], row["option"]) for row in rows] == [
        ("kind", ""),
        ("data", ""),
        ("data", "a"),
        ("data", "b"),
        ("flat", ""),
    ]
    assert all(tuple(row) == CSV_COLUMNS for row in rows)
    kind, flat = rows[0], rows[-1]
    assert kind["alpha"] == results()[0].alpha
    assert kind["cohen_kappa"] == "A|B=0.400"  # p_o = 2/3, p_e = 4/9
    assert (flat["alpha"], flat["ci95_low"], flat["undefined_reason"]) == (
        None,
        None,
        "no variation",
    )


def test_csv_keeps_full_precision_and_leaves_undefined_cells_empty() -> None:
    text = to_csv(results())
    assert text.startswith(",".join(CSV_COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert float(rows[0]["alpha"]) == results()[0].alpha
    assert rows[-1]["alpha"] == "" and rows[-1]["q_below_0.8"] == ""
    assert rows[-1]["undefined_reason"] == "no variation"


def test_text_table() -> None:
    lines = text_table(results()).splitlines()
    assert lines[0].split() == [
        "variable",
        "level",
        "alpha",
        "95%",
        "CI",
        "q<.667",
        "q<.8",
        "units",
        "coders",
        "pairable",
        "agree",
        "fleiss",
        "ac1",
        "undefined",
    ]
    assert lines[1].split()[:3] == ["kind", "nominal", f"{results()[0].alpha:.3f}"]
    assert lines[3].startswith("  =a ")
    assert lines[5].split()[:3] == ["flat", "nominal", "—"]
    assert lines[5].endswith("no variation")


@pytest.mark.parametrize(
    ("kwargs", "present", "absent"),
    [
        (
            {"n_units": 3, "coders": ["A", "B", "C"], "samples": 1000, "seed": 7},
            [
                "assessed on 3 documents coded independently by 3 coders (A, B, C).",
                "For each of 3 variables",
                "2 nominal, 1 multiple choice, with the MASI distance",
                "a binary (chosen or not) alpha was also computed for each option",
                "1,000 bootstrap samples",
                "random seed 7",
                "Alpha was undefined for flat (no variation).",
            ],
            [],
        ),
        (
            {"n_units": 1, "coders": ["A", "B"], "samples": 0, "seed": None},
            ["assessed on 1 document coded independently by 2 coders (A, B)."],
            ["bootstrap", "seed"],
        ),
        (
            {
                "n_units": 40,
                "coders": [f"c{i}" for i in range(9)],
                "samples": 500,
                "seed": None,
                "unit_name": "articles",
            },
            ["assessed on 40 articles coded independently by 9 coders.", "500 bootstrap"],
            ["random seed", "(c0"],
        ),
    ],
)
def test_methods_paragraph(kwargs: dict[str, Any], present: list[str], absent: list[str]) -> None:
    paragraph = methods_paragraph(results(), **kwargs)
    for text in present:
        assert text in paragraph
    for text in absent:
        assert text not in paragraph


def test_methods_paragraph_states_the_range_and_the_verdicts() -> None:
    high = variable_reliability(
        "high", {f"u{i}": {"A": i % 2, "B": i % 2} for i in range(8)}, "nominal"
    )
    low = variable_reliability("low", AGREE, "nominal")
    paragraph = methods_paragraph([high, low], n_units=8, coders=["A", "B"], samples=0, seed=None)
    assert f"Alpha ranged from {low.alpha:.3f} (low) to 1.000 (high)." in paragraph
    assert "1 of 2 variables reached 0.800 and 0 more reached 0.667." in paragraph
    assert methods_paragraph([], n_units=0, coders=[], samples=0, seed=None) == (
        "No variable was analysed."
    )


# --- the analysis ---------------------------------------------------------------------------


def test_from_levels_keeps_the_file_order_and_orders_numbers() -> None:
    ratings = {
        "b": {"u1": {"A": "10", "B": "9"}, "u2": {"A": "2", "B": "2"}, "u3": {"A": "9", "B": "9"}},
        "a": AGREE,
    }
    analysis = ReliabilityAnalysis.from_levels(ratings, "nominal", {"b": "ordinal"})
    assert analysis.variables == ["b", "a"]
    b, a = analysis.run(samples=0)
    # Numeric order (2 < 9 < 10), not text order ("10" < "2" < "9"): the one disagreement
    # is between neighbours, so ordinal alpha is above the nominal one.
    nominal = variable_reliability("b", ratings["b"], "nominal", samples=0)
    assert b.level == "ordinal" and b.alpha is not None and nominal.alpha is not None
    assert b.alpha > nominal.alpha
    assert a.level == "nominal"
    with pytest.raises(ValueError, match=r"^a: ordinal codes other than numbers"):
        ReliabilityAnalysis.from_levels(ratings, "ordinal").run(samples=0)


def test_only_and_coverage() -> None:
    analysis = ReliabilityAnalysis.from_levels({"kind": AGREE, "flat": FLAT, "data": SETS}, "masi")
    assert analysis.coverage() == (3, ["A", "B", "C"])
    only = analysis.only(["flat", "kind"])
    assert only.variables == ["kind", "flat"]
    assert only.coverage() == (3, ["A", "B"])
    # A unit with one coder on each of two variables is not pairable.
    split = {"v": {"u": {"A": "x"}}, "w": {"u": {"B": "x"}}}
    assert ReliabilityAnalysis.from_levels(split, "nominal").coverage() == (0, [])


def test_from_codebook_takes_levels_and_order_and_skips_free_text() -> None:
    codebook = load_codebook(STUDY_CODEBOOK)
    text = next(v for v in codebook.variables if v.type.value == "text")
    analysis = ReliabilityAnalysis.from_codebook(codebook, {text.id: {"u": {"A": "quote"}}})
    assert text.id not in analysis.variables
    assert analysis.skipped == (text.id,)
    assert analysis.variables == [v.id for v in codebook.variables if v.type.value != "text"]
    results = analysis.run(samples=0)
    assert {r.undefined_reason for r in results} == {"no coder has coded this variable"}
    assert [r.level for r in results] == [
        v.level for v in codebook.variables if v.type.value != "text"
    ]


@pytest.mark.parametrize(
    ("variable_type", "value", "message"),
    [
        ("ordinal", "nope", "'nope' is not a value of the variable (options: "),
        ("multiple", frozenset({"nope", "also"}), "'also', 'nope' is not a value"),
        ("yesno", "true", "'true' is not a value of the variable (yes or no)"),
    ],
)
def test_strict_refuses_values_outside_the_codebook(
    variable_type: str, value: object, message: str
) -> None:
    codebook = load_codebook(STUDY_CODEBOOK)
    variable = next(v for v in codebook.variables if v.type.value == variable_type)
    ratings = {variable.id: {"d9": {"coder": value}}}
    with pytest.raises(ValueError, match=f"^{variable.id}: unit d9, coder coder: ") as raised:
        ReliabilityAnalysis.from_codebook(codebook, ratings, strict=True)
    assert message in str(raised.value)
    with pytest.raises(ValueError, match="variable colour not in the codebook"):
        ReliabilityAnalysis.from_codebook(codebook, {"colour": {}}, strict=True)
