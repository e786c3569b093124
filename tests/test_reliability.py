"""Tests for the reliability statistics: published examples, hand-worked cases and properties."""

from __future__ import annotations

import dataclasses
import json
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator import reliability as reliability_module
from annotator.codebook import LocalizedText, Option, Variable, VariableType
from annotator.reliability import (
    NO_CODER,
    NO_PAIRABLE_UNIT,
    NO_VARIATION,
    SINGLE_CODER,
    alpha_from_matrix,
    masi_distance,
    reliability,
    variable_reliability,
)

_ = None  # a missing value, to keep the tables below readable


def ratings_from_rows(rows):
    """Turn coder rows (coders × units, None for missing) into {unit: {coder: value}}."""
    return {
        unit: {f"coder{coder}": row[unit] for coder, row in enumerate(rows)}
        for unit in range(len(rows[0]))
    }


# Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), section C: 4 coders,
# 12 units, values 1-5, with missing data.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]
# Krippendorff (2011), section A: binary data, two coders, ten units.
KRIPPENDORFF_2011_BINARY = [
    [0, 1, 0, 0, 0, 0, 0, 0, 1, 0],
    [1, 1, 1, 0, 0, 1, 0, 0, 0, 0],
]
# Wikipedia, "Krippendorff's alpha", computational example: 3 coders, 15 units.
WIKIPEDIA_ALPHA = [
    [_, _, _, _, _, 3, 4, 1, 2, 1, 1, 3, 3, _, 3],
    [1, _, 2, 1, 3, 3, 4, 3, _, _, _, _, _, _, _],
    [_, _, 2, 1, 3, 4, 4, _, 2, 1, 1, 3, 3, _, 4],
]


# Hayes & Krippendorff (2007), "Answering the call for a standard reliability measure for coding
# data", Communication Methods and Measures 1(1): 77-89, Table 1: five observers (obs1 ... obs5)
# judge the tone of 40 newspaper articles towards a challenger, 0 (sure loser) to 3 (likely
# winner), with missing judgments. One row per article, as transcribed in the R package
# jucor/krippendorff, data-raw/hayes2007table1.csv.
HAYES_KRIPPENDORFF_2007_ARTICLES = [
    (1, 1, 2, _, 2),
    (1, 1, 0, 1, _),
    (2, 3, 3, 3, _),
    (_, 0, 0, _, 0),
    (0, 0, 0, _, 0),
    (0, 0, 0, _, 0),
    (1, 0, 2, _, 1),
    (1, _, 2, 0, _),
    (2, 2, 2, _, 2),
    (2, 1, 1, 1, _),
    (_, 1, 0, 0, _),
    (0, 0, 0, 0, _),
    (1, 2, 2, 2, _),
    (3, 3, 2, 2, 3),
    (1, 1, 1, _, 1),
    (1, 1, 1, _, 1),
    (2, 1, 2, _, 2),
    (1, 2, 3, 3, _),
    (1, 1, 0, 1, _),
    (0, 0, 0, _, 0),
    (0, 0, 1, 1, _),
    (0, 0, _, 0, 0),
    (2, 3, 3, 3, _),
    (0, 0, 0, 0, _),
    (1, 2, _, 2, 2),
    (0, 1, 1, 1, _),
    (0, 0, 0, 1, 0),
    (1, 2, 1, 2, _),
    (1, 1, 2, 2, _),
    (1, 1, 2, _, 2),
    (1, 1, 0, _, 0),
    (2, 1, 2, 1, _),
    (2, 2, _, 2, 2),
    (3, 2, 2, 2, _),
    (2, 2, 2, _, 2),
    (2, 2, 3, _, 2),
    (2, 2, 2, _, 2),
    (2, 2, _, 1, 2),
    (2, 2, 2, 2, _),
    (1, 1, 1, _, 1),
]
HAYES_KRIPPENDORFF_2007 = [
    list(observer) for observer in zip(*HAYES_KRIPPENDORFF_2007_ARTICLES, strict=True)
]


@pytest.mark.parametrize(
    ("rows", "level", "domain", "expected"),
    [
        # Krippendorff (2011), section C.
        (KRIPPENDORFF_2011, "nominal", None, 0.743),
        # Krippendorff (2011), section C.
        (KRIPPENDORFF_2011, "ordinal", [1, 2, 3, 4, 5], 0.815),
        # Krippendorff (2011), section C.
        (KRIPPENDORFF_2011, "interval", None, 0.849),
        # Krippendorff (2011), section C.
        (KRIPPENDORFF_2011, "ratio", None, 0.797),
        # Krippendorff (2011), section A: alpha = 0.095.
        (KRIPPENDORFF_2011_BINARY, "nominal", None, 0.095),
        # Wikipedia, "Krippendorff's alpha": nominal 0.691.
        (WIKIPEDIA_ALPHA, "nominal", None, 0.691),
        # Wikipedia, "Krippendorff's alpha": interval 0.811.
        (WIKIPEDIA_ALPHA, "interval", None, 0.811),
    ],
)
def test_alpha_published_examples(rows, level, domain, expected):
    result = variable_reliability("v", ratings_from_rows(rows), level, domain, samples=0)
    assert result.alpha == pytest.approx(expected, abs=5e-4)
    assert result.undefined_reason is None


def test_ordinal_alpha_uses_the_codebook_order_not_the_alphabet():
    # Krippendorff (2011), section C, with the values 1-5 renamed to words whose alphabetical
    # order differs from the codebook order: alpha must still be 0.815.
    words = ["very low", "low", "mid", "high", "very high"]
    rows = [[None if v is None else words[v - 1] for v in row] for row in KRIPPENDORFF_2011]
    result = variable_reliability("v", ratings_from_rows(rows), "ordinal", words, samples=0)
    assert result.alpha == pytest.approx(0.815, abs=5e-4)


def test_hayes_krippendorff_2007_alpha():
    # Hayes & Krippendorff (2007), KALPHA output for Table 1 at the ordinal level: alpha = .7598
    # (the figure "reported as 0.7598" in raoulbia/nltk-krippendorff-validation, README), from
    # 40 articles and 5 observers.
    ratings = ratings_from_rows(HAYES_KRIPPENDORFF_2007)
    result = variable_reliability("tone", ratings, "ordinal", [0, 1, 2, 3], samples=0)
    assert result.alpha == pytest.approx(0.7598, abs=5e-5)
    assert (result.n_units, result.n_coders) == (40, 5)


def test_hayes_krippendorff_2007_bootstrap_draws_the_published_number_of_pairs(monkeypatch):
    # Hayes & Krippendorff (2007) describe KALPHA's bootstrap for Table 1 as "taking a random
    # sample of 239 pairs of judgments from the available pairs, weighted by how many observers
    # judged a given unit" (quoted in K. Gwet, "Standard Error of Krippendorff's Alpha
    # Coefficient", Inter-Rater Reliability Blog, 22 August 2015). Each resample here must draw
    # the same number of pairs, 239. The bootstrap is random, so the interval itself is only checked for
    # containing the published alpha, not against the interval printed in the paper.
    drawn = []
    bootstrap = reliability_module._bootstrap

    def recording_bootstrap(o, distance, expected_disagreement, n_pairs, samples, rng):
        drawn.append(n_pairs)
        return bootstrap(o, distance, expected_disagreement, n_pairs, samples, rng)

    monkeypatch.setattr(reliability_module, "_bootstrap", recording_bootstrap)
    ratings = ratings_from_rows(HAYES_KRIPPENDORFF_2007)
    result = variable_reliability("tone", ratings, "ordinal", [0, 1, 2, 3], samples=10_000, seed=7)
    assert drawn == [239]
    assert result.ci95 is not None
    low, high = result.ci95
    assert low < 0.7598 < high


def test_counts_for_krippendorff_2011():
    # Krippendorff (2011), section C: 11 pairable units (unit 12 has a single value), n = 40.
    result = variable_reliability("v", ratings_from_rows(KRIPPENDORFF_2011), "nominal", samples=0)
    assert (result.n_units, result.n_coders, result.n_pairable) == (11, 4, 40)


def two_coder_table(table):
    """Build two coders' ratings from a 2 × 2 table [[yes/yes, yes/no], [no/yes, no/no]]."""
    pairs = (
        [("yes", "yes")] * table[0][0]
        + [("yes", "no")] * table[0][1]
        + [("no", "yes")] * table[1][0]
        + [("no", "no")] * table[1][1]
    )
    return {unit: {"A": a, "B": b} for unit, (a, b) in enumerate(pairs)}


@pytest.mark.parametrize(
    ("table", "agreement", "kappa"),
    [
        # Wikipedia, "Cohen's kappa", simple example: 50 grant proposals, p_o = 0.7, kappa = 0.4.
        ([[20, 5], [10, 15]], 0.7, 0.4),
        # Wikipedia, "Cohen's kappa", same percentages example: kappa = 0.1304.
        ([[45, 15], [25, 15]], 0.6, 0.1304),
        # Wikipedia, "Cohen's kappa", same percentages example: kappa = 0.2593.
        ([[25, 35], [5, 35]], 0.6, 0.2593),
    ],
)
def test_cohen_kappa(table, agreement, kappa):
    result = variable_reliability("v", two_coder_table(table), "nominal", samples=0)
    assert result.percent_agreement == pytest.approx(agreement)
    assert result.cohen_kappa == {"A|B": pytest.approx(kappa, abs=5e-5)}


# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories; each row
# counts the raters per category. kappa = 0.210. This is an illustration of the method, not the
# data of Fleiss (1971), which are tested below.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example():
    ratings = {}
    for unit, row in enumerate(FLEISS_WIKIPEDIA):
        values = [category for category, count in enumerate(row, 1) for _ in range(count)]
        ratings[unit] = {f"rater{rater}": value for rater, value in enumerate(values)}
    result = variable_reliability("v", ratings, "nominal", [1, 2, 3, 4, 5], samples=0)
    assert result.fleiss_kappa == pytest.approx(0.210, abs=5e-4)


# Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological Bulletin
# 76: 378-382, Table 1: 30 patients, each diagnosed by 6 psychiatrists as 1 depression,
# 2 personality disorder, 3 schizophrenia, 4 neurosis or 5 other. Fleiss gives, per patient, how
# many psychiatrists chose each diagnosis; the rows below spread those counts over six rater
# columns, as the R package irr's data set "diagnoses" does (copied into statsmodels,
# statsmodels/stats/tests/test_inter_rater.py; category totals 26, 26, 30, 55, 43).
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4],
    [2, 2, 2, 5, 5, 5],
    [2, 3, 3, 3, 3, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3],
    [3, 3, 3, 3, 5, 5],
    [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4],
    [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4],
    [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3],
    [1, 4, 4, 4, 4, 4],
    [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5],
    [1, 1, 1, 1, 1, 2],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 4, 4, 4, 4, 4],
    [2, 2, 4, 5, 5, 5],
    [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4],
    [1, 1, 1, 1, 5, 5],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3],
    [5, 5, 5, 5, 5, 5],
]


def test_fleiss_kappa_fleiss_1971():
    # Fleiss (1971), Table 1 data: irr::kappam.fleiss(diagnoses) prints 0.4302445 (recorded
    # in statsmodels' test_inter_rater.py, test_fleiss_kappa_irr).
    ratings = ratings_from_units(FLEISS_1971)
    result = variable_reliability("diagnosis", ratings, "nominal", [1, 2, 3, 4, 5], samples=0)
    assert result.fleiss_kappa == pytest.approx(0.4302445, abs=5e-8)


# Gwet, Handbook of Inter-Rater Reliability, 4th ed. (2014), p. 120: 4 raters classify 12 subjects
# into categories 1-5, with missing ratings (data set "cac.raw4raters" of Gwet's R package
# irrCAC; the same values as Krippendorff (2011), section C, with the single rating of subject 12
# given by rater 3). One row per rater.
GWET_RAW_4_RATERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, _],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]
# Gwet (2014), 4th ed. (a larger version of the table is on p. 125): 5 observers score 15 units
# on the scale 0-3 (irrCAC data set "cac.raw5obser"). One row per observer.
GWET_RAW_5_OBSERVERS = [
    [1, 1, 2, _, 0, 0, 1, 1, 2, 2, _, 0, 1, 3, 1],
    [1, 1, 3, 0, 0, 0, 0, _, 2, 1, 1, 0, 2, 3, 1],
    [2, 0, 3, 0, 0, 0, 2, 2, 2, 1, 0, 0, 2, 2, 1],
    [_, 1, 3, _, _, _, _, 0, _, 1, 0, 0, 2, 2, _],
    [2, _, _, 0, 0, 0, 1, _, 2, _, _, _, _, 3, 1],
]


def ratings_from_table(table, categories):
    """Build two coders' ratings from a contingency table (rows: coder A, columns: coder B)."""
    ratings = {}
    for row, a in zip(table, categories, strict=True):
        for count, b in zip(row, categories, strict=True):
            for _ in range(count):
                ratings[len(ratings)] = {"A": a, "B": b}
    return ratings


# Gwet (2014), 4th ed.: 100 pregnant women classified by two abstractors as ectopic, abnormal
# intrauterine or normal intrauterine pregnancy (irrCAC data set "cont3x3abstractors").
ABSTRACTORS = [[13, 0, 0], [0, 20, 7], [0, 4, 56]]
PREGNANCY_TYPES = ["Ectopic", "AIU", "NIU"]


@pytest.mark.parametrize(
    ("ratings", "domain", "expected", "tolerance"),
    [
        # Gwet's irrCAC, vignette "irrCAC-benchmarking" (vignettes/3.benchmarking.html):
        # gwet.ac1.raw(cac.raw4raters) prints ac1.coeff.val 0.77544.
        (ratings_from_rows(GWET_RAW_4_RATERS), [1, 2, 3, 4, 5], 0.77544, 5e-6),
        # irrCAC for Python (afergadis/irrCAC), test/unit/irrCAC/raw/test_gwet.py,
        # test_gwet_raw5observers: AC1 = 0.497 for cac.raw5obser.
        (ratings_from_rows(GWET_RAW_5_OBSERVERS), [0, 1, 2, 3], 0.497, 5e-4),
        # irrCAC for Python, test/unit/irrCAC/table/test_gwet.py, test_gwet_cont3x3abstractors:
        # AC1 = 0.849 for cont3x3abstractors.
        (ratings_from_table(ABSTRACTORS, PREGNANCY_TYPES), PREGNANCY_TYPES, 0.849, 5e-4),
    ],
    ids=["cac.raw4raters", "cac.raw5obser", "cont3x3abstractors"],
)
def test_gwet_ac1_published_examples(ratings, domain, expected, tolerance):
    result = variable_reliability("v", ratings, "nominal", domain, samples=0)
    assert result.gwet_ac1 == pytest.approx(expected, abs=tolerance)


def test_cohen_kappa_gwet_abstractors():
    # irrCAC for Python, test/unit/irrCAC/table/test_cohen.py, test_cohen_cont3x3abstractors:
    # Cohen's kappa = 0.796 for Gwet's (2014) cont3x3abstractors table.
    ratings = ratings_from_table(ABSTRACTORS, PREGNANCY_TYPES)
    result = variable_reliability("v", ratings, "nominal", PREGNANCY_TYPES, samples=0)
    assert result.cohen_kappa == {"A|B": pytest.approx(0.796, abs=5e-4)}


@pytest.mark.parametrize(
    ("rows", "fleiss", "ac1"),
    [
        # Hand-worked from Krippendorff (2011), section A: Scott's pi (Fleiss' kappa for two
        # coders) = (0.6 - 0.58) / 0.42 = 0.0476; AC1: pi_1 = 6/20, p_e = 2 × 0.3 × 0.7 = 0.42,
        # AC1 = (0.6 - 0.42) / 0.58 = 0.3103.
        (KRIPPENDORFF_2011_BINARY, 0.0476, 0.3103),
        # Hand-worked: unequal numbers of coders per unit, so Fleiss' kappa is undefined.
        # Units (0,0), (0,1,0), (0,1,1): p_a = (1 + 1/3 + 1/3) / 3 = 5/9,
        # pi = ((1 + 2/3 + 1/3) / 3, ...) = (2/3, 1/3), p_e = 2 × 2/9 = 4/9, AC1 = (1/9) / (5/9) = 0.2.
        ([[0, 0, 0], [0, 1, 1], [_, 0, 1]], None, 0.2),
    ],
)
def test_fleiss_and_gwet(rows, fleiss, ac1):
    result = variable_reliability("v", ratings_from_rows(rows), "nominal", [0, 1], samples=0)
    if fleiss is None:
        assert result.fleiss_kappa is None
    else:
        assert result.fleiss_kappa == pytest.approx(fleiss, abs=5e-5)
    assert result.gwet_ac1 == pytest.approx(ac1, abs=5e-5)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # Passonneau (2006): identical sets, M = 1, Jaccard = 1.
        ({"x"}, {"x"}, 0.0),
        # Passonneau (2006): subset, M = 2/3, Jaccard = 1/2.
        ({"x"}, {"x", "y"}, 1 - 1 / 2 * 2 / 3),
        # Passonneau (2006): overlap, M = 1/3, Jaccard = 1/3.
        ({"x", "y"}, {"y", "z"}, 1 - 1 / 3 * 1 / 3),
        # Passonneau (2006): disjoint, M = 0.
        ({"x"}, {"y"}, 1.0),
        # Two coders who both chose no option agree.
        (set(), set(), 0.0),
    ],
)
def test_masi_distance(a, b, expected):
    assert masi_distance(a, b) == pytest.approx(expected)
    assert masi_distance(b, a) == pytest.approx(expected)


def test_masi_alpha_by_hand():
    # Hand-worked from the coincidence-matrix definition: units ({x},{x}), ({x},{x,y}), ({y},{y}).
    # Values {x}: 3, {x,y}: 1, {y}: 2, n = 6. o({x},{x,y}) = 1, so D_o = 2 × 1 × 2/3 / 6 = 2/9.
    # D_e = 2 × (3 × 1 × 2/3 + 3 × 2 × 1 + 1 × 2 × 2/3) / (6 × 5) = 28/45.
    # alpha = 1 - (2/9) / (28/45) = 9/14.
    ratings = {
        1: {"A": ["x"], "B": ["x"]},
        2: {"A": ["x"], "B": ["x", "y"]},
        3: {"A": ["y"], "B": ["y"]},
    }
    result = variable_reliability("topics", ratings, "masi", ["x", "y"], samples=0)
    assert result.alpha == pytest.approx(9 / 14)
    assert [option.variable for option in result.options] == ["topics=x", "topics=y"]
    # Option x present/absent: (1,1), (1,1), (0,0), perfect agreement with variation.
    assert result.options[0].alpha == pytest.approx(1.0)
    # Option y: (0,0), (0,1), (1,1); binary alpha = 1 - 5 × 1 / (3 × 3) = 4/9 (n = 6).
    assert result.options[1].alpha == pytest.approx(1 - 5 * 1 / 9)


@pytest.mark.parametrize(
    ("ratings", "reason"),
    [
        ({}, NO_CODER),
        ({1: {"A": None}}, NO_CODER),
        ({1: {"A": "x"}, 2: {"A": "y"}}, SINGLE_CODER),
        ({1: {"A": "x"}, 2: {"B": "y"}}, NO_PAIRABLE_UNIT),
        ({1: {"A": "x", "B": "x"}, 2: {"A": "x", "B": "x", "C": "x"}}, NO_VARIATION),
    ],
)
@pytest.mark.parametrize("level", ["nominal", "masi"])
def test_undefined_cases_have_a_reason(ratings, reason, level):
    if level == "masi":
        ratings = {
            unit: {coder: None if value is None else [value] for coder, value in by.items()}
            for unit, by in ratings.items()
        }
    result = variable_reliability("v", ratings, level, ["x", "y"], samples=100, seed=1)
    assert result.undefined_reason == reason
    assert result.alpha is None
    assert result.ci95 is None
    assert result.q_below is None


def test_no_variation_still_reports_agreement():
    ratings = {1: {"A": "x", "B": "x"}, 2: {"A": "x", "B": "x"}}
    result = variable_reliability("v", ratings, "nominal", samples=10)
    assert result.percent_agreement == 1.0
    assert result.cohen_kappa == {"A|B": None}
    assert result.fleiss_kappa is None


@pytest.mark.parametrize(
    ("level", "domain", "value", "message"),
    [
        ("nonsense", None, "b", "unknown level"),
        ("ordinal", None, "b", "ordered value domain"),
        ("nominal", ["a"], "b", "not in the value domain"),
        ("masi", ["a"], ["b"], "not in the value domain"),
        ("nominal", None, ["b"], "expected a single code"),
        ("interval", None, "b", "expected a number"),
        ("ratio", None, float("nan"), "expected a number"),
    ],
)
def test_bad_input_raises(level, domain, value, message):
    with pytest.raises(ValueError, match=message):
        variable_reliability("v", {1: {"A": value, "B": value}}, level, domain)


# The keys of a result in the documented JSON output, in order (issue 4's shape).
JSON_KEYS = [
    "variable",
    "level",
    "alpha",
    "ci95",
    "q_below",
    "n_units",
    "n_coders",
    "n_pairable",
    "percent_agreement",
    "fleiss_kappa",
    "gwet_ac1",
    "cohen_kappa",
    "undefined_reason",
    "options",
]


def test_json_shape():
    result = variable_reliability(
        "v", ratings_from_rows(KRIPPENDORFF_2011), "nominal", samples=200, seed=3
    ).to_json()
    assert list(result) == JSON_KEYS
    assert set(result["q_below"]) == {"0.667", "0.8"}
    assert json.loads(json.dumps(result)) == result
    assert set(result["cohen_kappa"]) == {
        f"coder{a}|coder{b}" for a in range(4) for b in range(a + 1, 4)
    }


def test_reliability_from_a_codebook_variable():
    # The codebook's option order, not the alphabet, is the ordinal scale: Krippendorff (2011),
    # section C, alpha_ordinal = 0.815.
    codes = ["none", "low", "mid", "high", "top"]
    variable = Variable(
        id="salience",
        label=LocalizedText("Salience"),
        description=None,
        type=VariableType.ORDINAL,
        options=tuple(Option(code, LocalizedText(code)) for code in codes),
    )
    rows = [[None if v is None else codes[v - 1] for v in row] for row in KRIPPENDORFF_2011]
    result = reliability(variable, ratings_from_rows(rows), samples=0)
    assert result.level == "ordinal"
    assert result.alpha == pytest.approx(0.815, abs=5e-4)


# Properties -----------------------------------------------------------------------------------

VALUES = [1, 2, 3]
LEVELS = [("nominal", None), ("ordinal", VALUES), ("interval", None), ("ratio", None)]

coder_rows = st.integers(min_value=2, max_value=4).flatmap(
    lambda coders: st.lists(
        st.lists(st.sampled_from([None, *VALUES]), min_size=coders, max_size=coders),
        min_size=1,
        max_size=12,
    )
)


def ratings_from_units(units):
    return {f"u{u}": {f"c{c}": value for c, value in enumerate(row)} for u, row in enumerate(units)}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(VALUES), min_size=2, max_size=10), st.sampled_from(LEVELS))
def test_perfect_agreement_gives_one(truth, level_domain):
    level, domain = level_domain
    ratings = {u: {"A": value, "B": value, "C": value} for u, value in enumerate(truth)}
    result = variable_reliability("v", ratings, level, domain, samples=50, seed=0)
    if len(set(truth)) > 1:
        assert result.alpha == pytest.approx(1.0)
        assert result.ci95 == (pytest.approx(1.0), pytest.approx(1.0))
    else:
        assert result.undefined_reason == NO_VARIATION
    assert result.percent_agreement == 1.0


@settings(max_examples=50, deadline=None)
@given(coder_rows, st.sampled_from(LEVELS), st.randoms(use_true_random=False))
def test_order_of_units_and_coders_changes_nothing(units, level_domain, shuffler):
    level, domain = level_domain
    ratings = ratings_from_units(units)
    shuffled_units = list(ratings.items())
    shuffler.shuffle(shuffled_units)
    shuffled = {}
    for unit, by_coder in shuffled_units:
        coders = list(by_coder.items())
        shuffler.shuffle(coders)
        shuffled[unit] = dict(coders)
    expected = variable_reliability("v", ratings, level, domain, samples=20, seed=5)
    actual = variable_reliability("v", shuffled, level, domain, samples=20, seed=5)
    assert actual == expected


@settings(max_examples=50, deadline=None)
@given(coder_rows, st.sampled_from(LEVELS), st.randoms(use_true_random=False))
def test_relabelling_coders_keeps_alpha(units, level_domain, shuffler):
    level, domain = level_domain
    ratings = ratings_from_units(units)
    labels = [f"c{c}" for c in range(len(units[0]))]
    renamed = dict(zip(labels, shuffler.sample(labels, len(labels)), strict=True))
    relabelled = {
        unit: {renamed[coder]: value for coder, value in by.items()} for unit, by in ratings.items()
    }
    expected = variable_reliability("v", ratings, level, domain, samples=0)
    actual = variable_reliability("v", relabelled, level, domain, samples=0)
    for name in ("alpha", "percent_agreement", "fleiss_kappa", "gwet_ac1"):
        assert getattr(actual, name) == pytest.approx(getattr(expected, name))
    assert actual.undefined_reason == expected.undefined_reason


@settings(max_examples=50, deadline=None)
@given(coder_rows, st.sampled_from(LEVELS), st.sampled_from(VALUES))
def test_a_unit_coded_once_changes_nothing(units, level_domain, value):
    level, domain = level_domain
    ratings = ratings_from_units(units)
    expected = variable_reliability("v", ratings, level, domain, samples=20, seed=2)
    ratings["lonely"] = {"c0": value, "c1": None}
    actual = variable_reliability("v", ratings, level, domain, samples=20, seed=2)
    if expected.n_units == 0:
        # Without pairable units only the diagnosis may change ("no coder" → "a single coder").
        actual = dataclasses.replace(actual, undefined_reason=expected.undefined_reason)
    # Every coefficient of pairable values is unchanged. Gwet's AC1 is the one exception, by
    # its definition: its category shares count every unit with a value (Gwet's handbook and
    # irrCAC; see test_gwet_ac1_counts_units_coded_once and the cac.raw4raters example).
    assert without_ac1(actual) == without_ac1(expected)


def without_ac1(result):
    return dataclasses.replace(
        result, gwet_ac1=None, options=tuple(without_ac1(option) for option in result.options)
    )


def test_gwet_ac1_counts_units_coded_once():
    # Hand-worked from Gwet (2008), eq. 14-15, with π_k over every rated unit. Units (x, y)
    # and (x, x): p_a = (0 + 1) / 2 = 0.5, π = (0.75, 0.25), p_e = 2 × 0.75 × 0.25 = 0.375,
    # AC1 = 0.125 / 0.625 = 0.2. A third unit coded y once: π = (0.5, 0.5), p_e = 0.5, AC1 = 0.
    # Alpha, which only pairs values, is the same both times.
    ratings = {"u1": {"A": "x", "B": "y"}, "u2": {"A": "x", "B": "x"}}
    before = variable_reliability("v", ratings, "nominal", samples=0)
    after = variable_reliability("v", {**ratings, "u3": {"A": "y"}}, "nominal", samples=0)
    assert before.gwet_ac1 == pytest.approx(0.2)
    assert after.gwet_ac1 == pytest.approx(0.0)
    assert after.alpha == before.alpha
    # A value met only in a unit coded once is a further category (no domain given): π =
    # (0.5, 1/6, 1/3) over three categories, p_e = (0.25 + 5/36 + 2/9) / 2 = 11/36,
    # AC1 = (0.5 - 11/36) / (25/36) = 0.28.
    third = variable_reliability("v", {**ratings, "u3": {"A": "z"}}, "nominal", samples=0)
    assert third.gwet_ac1 == pytest.approx(0.28)
    with pytest.raises(ValueError, match="value 'z' is not in the value domain"):
        variable_reliability("v", {**ratings, "u3": {"A": "z"}}, "nominal", ["x", "y"], samples=0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from(VALUES), min_size=2, max_size=2), min_size=1, max_size=12))
def test_masi_on_single_codes_equals_nominal_alpha(units):
    ratings = ratings_from_units(units)
    as_sets = {u: {c: [v] for c, v in by.items()} for u, by in ratings.items()}
    nominal = variable_reliability("v", ratings, "nominal", samples=0)
    masi = variable_reliability("v", as_sets, "masi", VALUES, samples=0)
    assert masi.undefined_reason == nominal.undefined_reason
    if nominal.alpha is not None:
        assert masi.alpha == pytest.approx(nominal.alpha)


def noisy_ratings(seed, units=200, coders=3, accuracy=0.85):
    generator = random.Random(seed)
    ratings = {}
    for unit in range(units):
        truth = generator.choice(VALUES)
        ratings[unit] = {
            f"c{c}": truth if generator.random() < accuracy else generator.choice(VALUES)
            for c in range(coders)
        }
    return ratings


def test_bootstrap_is_reproducible_for_a_seed():
    ratings = noisy_ratings(1)
    first = variable_reliability("v", ratings, "nominal", samples=500, seed=42)
    second = variable_reliability("v", ratings, "nominal", samples=500, seed=42)
    other = variable_reliability("v", ratings, "nominal", samples=500, seed=43)
    assert first == second
    assert first.ci95 != other.ci95


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("level", "domain"), LEVELS)
def test_interval_contains_alpha_for_reasonable_data(seed, level, domain):
    result = variable_reliability("v", noisy_ratings(seed), level, domain, samples=1000, seed=seed)
    assert result.ci95 is not None and result.q_below is not None
    low, high = result.ci95
    assert low < result.alpha < high
    assert result.q_below[0.8] >= 0 and result.q_below[0.667] <= result.q_below[0.8] <= 1


def test_interval_bootstrap_with_many_distinct_values():
    # Measurements with hundreds of distinct differences take the pair-drawing branch of the
    # bootstrap rather than the multinomial over distinct differences.
    generator = random.Random(7)
    ratings = {}
    for unit in range(300):
        truth = generator.uniform(0, 100)
        ratings[unit] = {f"c{c}": truth + generator.gauss(0, 10) for c in range(3)}
    first = variable_reliability("v", ratings, "interval", samples=300, seed=1)
    second = variable_reliability("v", ratings, "interval", samples=300, seed=1)
    assert first == second
    assert first.ci95 is not None and first.alpha is not None
    assert first.ci95[0] < first.alpha < first.ci95[1]


@pytest.mark.parametrize("level", ["interval", "ratio"])
def test_coincidence_alpha_matches_the_package(monkeypatch, level):
    # The fallback for many distinct values must give the package's alpha.
    generator = random.Random(3)
    ratings = {
        unit: {f"c{c}": generator.choice([None, generator.uniform(1, 50)]) for c in range(3)}
        for unit in range(40)
    }
    expected = variable_reliability("v", ratings, level, samples=0).alpha
    monkeypatch.setattr("annotator.reliability._PACKAGE_CELLS", 0)
    assert variable_reliability("v", ratings, level, samples=0).alpha == pytest.approx(expected)


code_sets = st.lists(st.sampled_from("xyz"), max_size=3, unique=True)
set_rows = st.lists(
    st.lists(st.one_of(st.none(), code_sets), min_size=3, max_size=3), min_size=1, max_size=10
)


@settings(max_examples=50, deadline=None)
@given(set_rows, st.randoms(use_true_random=False))
def test_masi_order_of_units_and_coders_changes_nothing(units, shuffler):
    ratings = ratings_from_units(units)
    shuffled_units = list(ratings.items())
    shuffler.shuffle(shuffled_units)
    shuffled = {unit: dict(reversed(list(by.items()))) for unit, by in shuffled_units}
    expected = variable_reliability("v", ratings, "masi", list("xyz"), samples=20, seed=4)
    actual = variable_reliability("v", shuffled, "masi", list("xyz"), samples=20, seed=4)
    assert actual == expected
    assert len(actual.options) == 3


@settings(max_examples=30, deadline=None)
@given(st.lists(code_sets, min_size=2, max_size=8))
def test_masi_perfect_agreement_gives_one(truth):
    ratings = {u: {"A": chosen, "B": list(reversed(chosen))} for u, chosen in enumerate(truth)}
    result = variable_reliability("v", ratings, "masi", list("xyz"), samples=20, seed=0)
    if len({frozenset(chosen) for chosen in truth}) > 1:
        assert result.alpha == pytest.approx(1.0)
    else:
        assert result.undefined_reason == NO_VARIATION
    assert result.percent_agreement == 1.0


# alpha_from_matrix: the array entry point ---------------------------------------------------


def as_array(rows):
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


@pytest.mark.parametrize(
    ("level", "domain", "expected"),
    [
        # Krippendorff (2011), section C, at the four levels.
        ("nominal", None, 0.743),
        ("ordinal", None, 0.815),
        ("ordinal", [1, 2, 3, 4, 5], 0.815),
        ("interval", None, 0.849),
        ("ratio", None, 0.797),
    ],
)
def test_alpha_from_matrix_published(level, domain, expected):
    assert alpha_from_matrix(as_array(KRIPPENDORFF_2011), level, domain) == pytest.approx(
        expected, abs=5e-4
    )


@pytest.mark.parametrize(
    "scale",
    [
        1.0,  # a few whole numbers: the comparison path
        0.5,  # fractions: the general path
        100.0,  # whole numbers over a wide range: the general path
    ],
)
def test_alpha_from_matrix_takes_every_path_to_the_same_alpha(scale):
    data = as_array(KRIPPENDORFF_2011) * scale
    ratings = ratings_from_rows([[None if np.isnan(v) else v for v in row] for row in data])
    for level in ("nominal", "interval", "ratio"):
        expected = variable_reliability("v", ratings, level, samples=0).alpha
        assert alpha_from_matrix(data, level) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("data", "level", "domain", "error"),
    [
        ([1.0, 2.0], "nominal", None, "expected a coders × units array, got 1 dimension"),
        ([[1.0, 2.0], [1.0, 2.0]], "masi", None, "takes nominal, ordinal, interval or ratio"),
        ([[1.0, 2.0], [1.0, 7.0]], "ordinal", [1, 2, 3], "value 7.0 is not in the value domain"),
        ([[1.0, np.inf], [1.0, 2.0]], "nominal", None, "expected finite numbers or nan"),
    ],
)
def test_alpha_from_matrix_refuses(data, level, domain, error):
    with pytest.raises(ValueError, match=re.escape(error)):
        alpha_from_matrix(data, level, domain)


@pytest.mark.parametrize(
    "data",
    [
        [[np.nan, np.nan], [np.nan, np.nan]],  # nothing coded
        [[1.0, np.nan], [np.nan, 2.0]],  # never two values on a unit
        [[1.0, 2.0], [1.0, 2.0]][:1],  # a single coder
        [[3.0, 3.0], [3.0, 3.0]],  # no variation
    ],
)
def test_alpha_from_matrix_undefined_is_none(data):
    assert alpha_from_matrix(data) is None


@settings(max_examples=60, deadline=None)
@given(coder_rows, st.sampled_from(LEVELS))
def test_alpha_from_matrix_equals_the_engine(units, level_domain):
    level, domain = level_domain
    ratings = ratings_from_units(units)
    rows = [[row[i] for row in units] for i in range(len(units[0]))]
    expected = variable_reliability("v", ratings, level, domain, samples=0).alpha
    actual = alpha_from_matrix(as_array(rows), level, domain)
    if expected is None:
        assert actual is None
    else:
        assert actual == pytest.approx(expected, abs=1e-9)
