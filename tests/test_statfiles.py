"""SPSS and Stata files written a row at a time, read back with pyreadstat and pandas."""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator import exports, statfiles
from annotator.exports import Column, ExportError, Table
from annotator.statfiles import DataColumn, StatFileError

SAV = (statfiles.write_sav, pyreadstat.read_sav)
DTA = (statfiles.write_dta, pyreadstat.read_dta)

COLUMNS = [
    DataColumn("id", "document id", numeric=True, measure="nominal"),
    DataColumn("city", "城市 [city]"),
    DataColumn(
        "kind",
        "文件类型 [kind]",
        numeric=True,
        value_labels={1: "招标", 2: "中标"},
        measure="nominal",
    ),
    DataColumn("tone", "Tone", numeric=True, value_labels={1: "low", 2: "high"}, measure="ordinal"),
    DataColumn("count", "Count", numeric=True, measure="scale"),
    DataColumn("empty_text", "never filled"),
    DataColumn("empty_number", "never filled", numeric=True, measure="scale"),
]
ROWS = [
    [1, "福州市，鼓楼区", 1, 2, 3, None, None],
    [2, "", 2, None, 2.5, "", None],
    [3, None, None, 1, -1e300, None, None],
    [4, "plain", 1, 1, Decimal("12.50"), None, float("nan")],
]
EXPECTED = {
    "id": [1.0, 2.0, 3.0, 4.0],
    "city": ["福州市，鼓楼区", "", "", "plain"],
    "kind": [1.0, 2.0, None, 1.0],
    "tone": [2.0, None, 1.0, 1.0],
    "count": [3.0, 2.5, -1e300, 12.5],
    "empty_text": ["", "", "", ""],
    "empty_number": [None, None, None, None],
}


def cells(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column's cells, missing numbers as None."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in frame[name]]


@pytest.mark.parametrize(("write", "read"), [SAV, DTA], ids=["sav", "dta"])
def test_values_and_labels_read_back(
    tmp_path: Path, write: Callable[..., Any], read: Callable[..., Any]
) -> None:
    path = str(tmp_path / "data")
    write(path, COLUMNS, ROWS)
    frame, meta = read(path)
    assert list(frame.columns) == [c.name for c in COLUMNS]
    for name, expected in EXPECTED.items():
        assert cells(frame, name) == expected, name
    assert meta.column_names_to_labels == {c.name: c.label for c in COLUMNS}
    assert meta.variable_value_labels == {
        "kind": {1: "招标", 2: "中标"},
        "tone": {1: "low", 2: "high"},
    }
    assert meta.number_rows == 4


def test_spss_measures_and_encoding(tmp_path: Path) -> None:
    path = str(tmp_path / "data.sav")
    statfiles.write_sav(path, COLUMNS, ROWS)
    meta = pyreadstat.read_sav(path, metadataonly=True)[1]
    assert meta.variable_measure == {
        "id": "nominal",
        "city": "unknown",
        "kind": "nominal",
        "tone": "ordinal",
        "count": "scale",
        "empty_text": "unknown",
        "empty_number": "scale",
    }
    assert meta.file_encoding == "UTF-8"
    assert meta.variable_alignment["city"] == "left"
    assert meta.variable_alignment["count"] == "right"


def test_stata_file_reads_in_pandas(tmp_path: Path) -> None:
    # pandas has a reader of its own for Stata files: a second opinion on the format.
    path = tmp_path / "data.dta"
    statfiles.write_dta(str(path), COLUMNS, ROWS, label_names={"kind": "kind_labels"})
    assert path.read_bytes().startswith(b"<stata_dta><header><release>118</release>")
    with pd.io.stata.StataReader(path) as reader:
        frame = reader.read(convert_categoricals=False)
        labels = reader.value_labels()
        variable_labels = reader.variable_labels()
    for name, expected in EXPECTED.items():
        assert cells(frame, name) == expected, name
    assert labels == {"kind_labels": {1: "招标", 2: "中标"}, "tone": {1: "low", 2: "high"}}
    assert variable_labels["city"] == "城市 [city]"


@pytest.mark.parametrize(("write", "read"), [SAV, DTA], ids=["sav", "dta"])
def test_empty_table(tmp_path: Path, write: Callable[..., Any], read: Callable[..., Any]) -> None:
    path = str(tmp_path / "empty")
    result = write(path, COLUMNS, [])
    assert result in (0, (0, 0))
    frame, meta = read(path)
    assert len(frame) == 0
    assert list(frame.columns) == [c.name for c in COLUMNS]
    assert meta.variable_value_labels["kind"] == {1: "招标", 2: "中标"}


# Texts around the limits of each format: SPSS's 255-byte segments ("very long strings")
# and 32,767-byte maximum, Stata's 2,045-byte maximum.
TEXTS = [
    "a" * 255,
    "b" * 256,
    "字" * 85,  # 255 bytes
    "字" * 86,  # 258 bytes
    "c" * 252 * 3 + "d",
    "é" * 1000,
    "x" * 2045,
    "文" * 681 + "ab",  # 2,045 bytes
]


@pytest.mark.parametrize("text", TEXTS, ids=lambda t: f"{len(t.encode())}B")
def test_long_texts_spss(tmp_path: Path, text: str) -> None:
    path = str(tmp_path / "long.sav")
    columns = [DataColumn("before", numeric=True), DataColumn("text"), DataColumn("after")]
    rows = [[1, text, "end"], [None, "short", ""], [3, text[::-1], "尾"]]
    assert statfiles.write_sav(path, columns, rows) == 3
    frame, meta = pyreadstat.read_sav(path)
    assert list(frame.columns) == ["before", "text", "after"]
    assert frame["text"].tolist() == [text, "short", text[::-1]]
    assert frame["after"].tolist() == ["end", "", "尾"]
    assert cells(frame, "before") == [1.0, None, 3.0]
    assert meta.variable_storage_width["text"] == len(text.encode())


def test_spss_cuts_texts_longer_than_it_holds(tmp_path: Path) -> None:
    path = str(tmp_path / "huge.sav")
    huge = "字" * 11_000  # 33,000 bytes
    statfiles.write_sav(path, [DataColumn("text")], [[huge]])
    value = pyreadstat.read_sav(path)[0]["text"][0]
    assert value.endswith("…") and huge.startswith(value[:-1])
    assert len(value.encode()) <= statfiles.SPSS_STRING_BYTES


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("x" * 2045, False),
        ("文" * 681 + "ab", False),
        ("x" * 2046, True),
        ("字" * 1000, True),
        ("字" * 20_000, True),
    ],
    ids=lambda v: f"{len(v.encode())}B" if isinstance(v, str) else str(v),
)
def test_long_texts_stata(tmp_path: Path, text: str, cut: bool) -> None:
    path = str(tmp_path / "long.dta")
    columns = [DataColumn("text"), DataColumn("n", numeric=True)]
    assert statfiles.write_dta(path, columns, [[text, 1], ["", 2]]) == (2, int(cut))
    value = pyreadstat.read_dta(path)[0]["text"][0]
    if cut:
        assert value.endswith("…") and text.startswith(value[:-1])
        assert len(value.encode()) <= statfiles.STATA_STRING_CUT
    else:
        assert value == text


NUMBERS = [0.0, -0.0, 1.0, -99.0, -100.0, 151.0, 152.0, 0.5, -2.25, 1e300, -1e300, 5e-324, 2**53]


@pytest.mark.parametrize(("write", "read"), [SAV, DTA], ids=["sav", "dta"])
def test_numbers_are_exact_doubles(
    tmp_path: Path, write: Callable[..., Any], read: Callable[..., Any]
) -> None:
    # -99..151 go in SPSS's compression codes, the rest as raw doubles: both read back exact.
    path = str(tmp_path / "numbers")
    rows = [[number, True, None] for number in NUMBERS]
    write(path, [DataColumn(n, numeric=True) for n in ("x", "flag", "gap")], rows)
    frame = read(path)[0]
    assert frame["x"].tolist() == NUMBERS
    assert frame["flag"].tolist() == [1.0] * len(NUMBERS)
    assert frame["gap"].isna().all()


def test_spss_keeps_the_largest_doubles(tmp_path: Path) -> None:
    # Not quite the largest: SPSS reserves -DBL_MAX (system-missing), DBL_MAX (HIGHEST) and
    # the double above -DBL_MAX (LOWEST), and readers take them as missing.
    path = str(tmp_path / "big.sav")
    values = [1.7e308, -1.7e308, math.inf, -math.inf]
    statfiles.write_sav(path, [DataColumn("x", numeric=True)], [[v] for v in values])
    assert pyreadstat.read_sav(path)[0]["x"].tolist() == values


@pytest.mark.parametrize("number", [1e308, math.inf, -math.inf])
def test_stata_refuses_numbers_beyond_its_range(tmp_path: Path, number: float) -> None:
    with pytest.raises(StatFileError, match="largest number"):
        statfiles.write_dta(str(tmp_path / "x.dta"), [DataColumn("x", numeric=True)], [[number]])


def test_many_columns_with_the_same_first_letters(tmp_path: Path) -> None:
    # SPSS's variable records hold 8-byte names; the long names come from their own record.
    path = str(tmp_path / "wide.sav")
    names = [f"service_type__option_{i}" for i in range(40)] + ["SERVICE_", "service"]
    columns = [DataColumn(name, numeric=i % 2 == 0) for i, name in enumerate(names)]
    statfiles.write_sav(path, columns, [[i if i % 2 == 0 else str(i) for i in range(42)]])
    frame = pyreadstat.read_sav(path)[0]
    assert list(frame.columns) == names
    assert frame.iloc[0].tolist() == [float(i) if i % 2 == 0 else str(i) for i in range(42)]


def test_labels_are_cut_at_a_character(tmp_path: Path) -> None:
    label = "标签" * 200  # 1,200 bytes
    column = DataColumn("x", label, numeric=True, value_labels={1: "值" * 100})
    statfiles.write_sav(str(tmp_path / "x.sav"), [column], [[1]])
    statfiles.write_dta(str(tmp_path / "x.dta"), [column], [[1]])
    sav = pyreadstat.read_sav(str(tmp_path / "x.sav"))[1]
    assert sav.column_labels == ["标签" * 42 + "标"]  # 255 bytes
    assert sav.variable_value_labels["x"] == {1: "值" * 40}  # 120 bytes
    dta = pyreadstat.read_dta(str(tmp_path / "x.dta"))[1]
    assert dta.column_labels == ["标签" * 53]  # 318 bytes: one more character would be 321
    assert dta.variable_value_labels["x"] == {1: "值" * 100}


def test_stata_reserved_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StatFileError, match="reserved"):
        statfiles.write_dta(str(tmp_path / "x.dta"), [DataColumn("in", numeric=True)], [])


# Random tables: numbers in and out of the compression codes, texts across the 8-byte
# blocks and 255-byte segments. Texts lose trailing spaces in SPSS (it pads with spaces)
# and end at a NUL in Stata, so neither is generated.
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=400
).map(lambda text: text.rstrip(" "))
NUMBER = st.none() | st.integers(-200, 300).map(float) | st.floats(-1e300, 1e300)
TABLES = st.lists(st.booleans(), min_size=1, max_size=6).flatmap(
    lambda numeric: st.tuples(
        st.just(numeric),
        st.lists(st.tuples(*(NUMBER if n else TEXT for n in numeric)).map(list), max_size=12),
    )
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=TABLES)
def test_random_tables_read_back(tmp_path: Path, table: tuple[list[bool], list[list[Any]]]) -> None:
    numeric, rows = table
    columns = [DataColumn(f"c{i}", numeric=n) for i, n in enumerate(numeric)]
    for write, read in (SAV, DTA):
        path = str(tmp_path / "random")
        write(path, columns, rows)
        frame = read(path)[0]
        assert len(frame) == len(rows)
        for i, column in enumerate(columns):
            expected = [row[i] for row in rows]
            assert cells(frame, column.name) == expected, (read.__name__, column.name)


# --- through exports: names, labels, the same files as pyreadstat's writer ---------------


def keyword_table() -> Table:
    columns = [
        Column("with", "a keyword", numeric=True, measure="nominal", value_labels={0: "no"}),
        Column("主题", "Chinese name"),
        Column("a" * 40, numeric=True, measure="scale"),
    ]
    return Table(columns, iter([[1, "是", 2.5], [None, None, None]]))


# Stata names lose a character to the label set's number ("…0" must fit 32 characters).
@pytest.mark.parametrize(("fmt", "name"), [("sav", "a" * 40), ("dta", "a" * 31)])
def test_export_names(tmp_path: Path, fmt: str, name: str) -> None:
    path = str(tmp_path / f"x.{fmt}")
    if fmt == "sav":
        assert exports.write_sav(path, keyword_table()) == 2
        frame, meta = pyreadstat.read_sav(path)
    else:
        assert exports.write_dta(path, keyword_table()) == (2, 0)
        frame, meta = pyreadstat.read_dta(path)
    assert list(frame.columns) == ["with_", "v__", name]
    assert cells(frame, "with_") == [1.0, None]
    assert frame["v__"].tolist() == ["是", ""]
    assert meta.column_names_to_labels["with_"] == "a keyword [with]"
    assert meta.column_names_to_labels["v__"] == "Chinese name [主题]"
    assert meta.variable_value_labels == {"with_": {0: "no"}}


def test_export_errors_are_export_errors(tmp_path: Path) -> None:
    table = Table([Column("x", numeric=True)], [[1e308]])
    with pytest.raises(ExportError, match="largest number"):
        exports.write_dta(str(tmp_path / "x.dta"), table)


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_same_as_pyreadstat_writer(tmp_path: Path, fmt: str) -> None:
    # Exports were written by pyreadstat (ReadStat) before: ours read back the same,
    # values, labels, formats, measures and all.
    frame = pd.DataFrame(
        {
            name: pd.Series(values, dtype=object if name in ("city", "empty_text") else "float64")
            for name, values in EXPECTED.items()
        }
    )
    labels = {c.name: c.label for c in COLUMNS}
    value_labels = {c.name: dict(c.value_labels) for c in COLUMNS if c.value_labels}
    ours, theirs = str(tmp_path / f"ours.{fmt}"), str(tmp_path / f"theirs.{fmt}")
    if fmt == "sav":
        statfiles.write_sav(ours, COLUMNS, ROWS)
        measures = {c.name: c.measure for c in COLUMNS if c.measure}
        pyreadstat.write_sav(
            frame,
            theirs,
            column_labels=labels,
            variable_value_labels=value_labels,
            variable_measure=measures,
        )
        read = pyreadstat.read_sav
    else:
        # pyreadstat names the label sets after their column and its number among them.
        statfiles.write_dta(ours, COLUMNS, ROWS, label_names={"kind": "kind0", "tone": "tone1"})
        pyreadstat.write_dta(
            frame, theirs, version=15, column_labels=labels, variable_value_labels=value_labels
        )
        read = pyreadstat.read_dta
    (a, meta_a), (b, meta_b) = read(ours), read(theirs)
    pd.testing.assert_frame_equal(a, b)
    for key in (
        "column_names",
        "column_labels",
        "variable_value_labels",
        "variable_to_label",
        "original_variable_types",
        "readstat_variable_types",
        "variable_measure",
        "variable_display_width",
        "variable_alignment",
        "number_rows",
    ):
        assert getattr(meta_a, key) == getattr(meta_b, key), key


# --- memory --------------------------------------------------------------------------


def many(count: int) -> Iterator[list[Any]]:
    for i in range(count):
        yield [i, f"文本 {i}" * 3, i % 3 + 1, None, i / 7, "", None]


@pytest.mark.parametrize("write", [statfiles.write_sav, statfiles.write_dta], ids=["sav", "dta"])
def test_memory_does_not_grow_with_rows(tmp_path: Path, write: Callable[..., Any]) -> None:
    def peak(count: int) -> int:
        tracemalloc.start()
        write(str(tmp_path / "x"), COLUMNS, many(count))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(3_000), peak(30_000)
    assert large < small * 1.5 + 50_000
