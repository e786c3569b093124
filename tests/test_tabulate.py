"""Frequencies and cross-tabulations of coded values."""

from __future__ import annotations

import csv
import io

import pytest

from annotator.codebook import load_codebook
from annotator.tabulate import MISSING, Scale, crosstab, frequencies

from .conftest import STUDY_CODEBOOK

CODEBOOK = load_codebook(STUDY_CODEBOOK)


def scale(variable_id: str, lang: str = "en") -> Scale:
    return Scale.of_variable(CODEBOOK.variable(variable_id), lang)


def counts(result: object) -> list[tuple[object, int]]:
    return [(c.key, c.count) for c in result.categories]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("variable", "values", "expected", "missing"),
    [
        (
            "document_kind",
            {1: "tender", 2: "award", 3: "tender", 4: None},
            [("tender", 2), ("award", 1), ("contract", 0), ("media_report", 0), ("other", 0)],
            1,
        ),
        (
            # Multiple choice: each chosen option counts, once per document.
            "service_type",
            {1: ["emergency_alarm", "other"], 2: ["emergency_alarm"], 3: [], 4: None},
            None,
            2,
        ),
        ("vendor_is_tencent", {1: True, 2: False, 3: True}, [(True, 2), (False, 1)], 0),
        # Few distinct numbers are counted in numeric order.
        ("year", {1: 2019, 2: 2017, 3: 2019}, [(2017, 1), (2019, 2)], 0),
    ],
)
def test_frequencies(variable, values, expected, missing):
    result = frequencies(variable, values, scale(variable))
    assert result.n_documents == len(values)
    assert result.n_missing == missing
    if expected is not None:
        assert counts(result) == expected
    else:
        found = dict(counts(result))
        assert found["emergency_alarm"] == 2 and found["other"] == 1
        assert sum(found.values()) == 3 and result.multiple
        # Shares are of the documents with a value, so they may add up to more than 1.
        share = {c.key: c.share for c in result.categories}
        assert share["emergency_alarm"] == 1.0 and share["other"] == 0.5


def test_frequencies_of_numbers_summarise():
    values = {i: float(i) for i in range(30)} | {99: None}
    result = frequencies("service_count", values, scale("service_count"))
    assert result.categories == ()  # 30 distinct values: summarised, not counted
    assert result.summary is not None
    assert result.summary["n"] == 30 and result.summary["mean"] == 14.5
    assert (result.summary["min"], result.summary["median"], result.summary["max"]) == (
        0.0,
        14.5,
        29.0,
    )
    assert frequencies("year", {1: None}, scale("year")).summary is None


def test_labels_follow_the_language_and_values_outside_the_codebook_stay_visible():
    result = frequencies(
        "document_kind", {1: "tender", 2: "retired_code"}, scale("document_kind", "zh")
    )
    labels = {c.key: c.label for c in result.categories}
    assert labels["tender"] == CODEBOOK.variable("document_kind").option("tender").label.get("zh")
    assert labels["retired_code"] == "retired_code"  # shown, never dropped
    assert (
        frequencies("vendor_is_tencent", {1: True}, scale("vendor_is_tencent", "zh"))
        .categories[0]
        .label
        == "是"
    )


def test_frequencies_csv():
    text = frequencies("document_kind", {1: "tender", 2: None}, scale("document_kind")).to_csv()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["value", "label", "count", "share"]
    assert rows[1][0] == "tender" and rows[1][2:] == ["1", "1.0000"]
    assert rows[-1] == ["", MISSING, "1", ""]


def test_crosstab_by_a_metadata_field():
    depth = {1: "operational", 2: "symbolic", 3: "operational", 4: None, 5: "deep_data"}
    province = {1: "Fujian", 2: "Fujian", 3: "Gansu", 4: "Gansu"}
    table = crosstab(depth, scale("integration_depth"), province, Scale.of_field())
    assert [c.key for c in table.rows] == list(CODEBOOK.variable("integration_depth").codes)
    assert [c.key for c in table.columns] == ["Fujian", "Gansu"]
    by = {
        (r.key, c.key): table.counts[i][j]
        for i, r in enumerate(table.rows)
        for j, c in enumerate(table.columns)
    }
    assert by[("operational", "Fujian")] == 1 and by[("operational", "Gansu")] == 1
    assert by[("symbolic", "Fujian")] == 1
    # Document 4 has no depth and document 5 no province: neither counts.
    assert table.n_documents == 3 and sum(table.row_totals) == 3
    assert table.column_totals == (2, 1)


def test_crosstab_with_multiple_choice_counts_each_option():
    services = {1: ["emergency_alarm", "other"], 2: ["other"]}
    kinds = {1: "tender", 2: "tender"}
    table = crosstab(services, scale("service_type"), kinds, scale("document_kind"))
    at = {r.key: i for i, r in enumerate(table.rows)}
    tender = [c.key for c in table.columns].index("tender")
    assert table.counts[at["other"]][tender] == 2
    assert table.counts[at["emergency_alarm"]][tender] == 1
    assert table.n_documents == 2 and sum(table.row_totals) == 3


def test_crosstab_csv_and_empty_table():
    table = crosstab({1: "tender"}, scale("document_kind"), {1: 2019}, scale("year"))
    rows = list(csv.reader(io.StringIO(table.to_csv("kind", "year"))))
    assert rows[0] == ["kind \\ year", "2019", "total"]
    assert rows[1] == [
        CODEBOOK.variable("document_kind").option("tender").label.get("en"),
        "1",
        "1",
    ]
    assert rows[-1] == ["total", "1", "1"]
    empty = crosstab({}, scale("document_kind"), {}, Scale.of_field())
    assert empty.n_documents == 0 and empty.column_totals == ()
