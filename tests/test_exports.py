"""Export tables and formats, from plain inputs: names, codes, labels, CSV, JSON, files."""

from __future__ import annotations

import csv
import io
import json
import math
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from openpyxl import load_workbook

from annotator import exports
from annotator.codebook import Codebook, parse_codebook
from annotator.exports import CodedSet, ExportError, FinalSet, Quote, Table
from annotator.ratings import read_ratings

CODEBOOK = parse_codebook(
    """
id: study
title: {en: Study <of> "news", zh: 研究}
description: {en: Code each article., zh: 逐篇编码。}
variables:
  - id: topic
    label: {en: Topic, zh: 主题}
    description: {en: "What it is about & why", zh: 文章主题}
    type: single
    options:
      - {code: crime, label: {en: Crime, zh: 犯罪}, definition: {en: Offences, zh: 违法犯罪}}
      - {code: traffic, label: {en: Traffic, zh: 交通}}
  - id: tone
    label: {en: Tone, zh: 语气}
    type: ordinal
    options:
      - {code: negative, label: {en: Negative, zh: 负面}}
      - {code: neutral, label: {en: Neutral, zh: 中性}}
      - {code: positive, label: {en: Positive, zh: 正面}}
  - id: data
    label: {en: Data collected, zh: 收集的数据}
    type: multiple
    options:
      - {code: name, label: {en: Name, zh: 姓名}}
      - {code: phone, label: {en: Phone, zh: 电话}}
  - id: count
    label: {en: Count, zh: 数量}
    type: number
  - id: official
    label: {en: Official, zh: 官方}
    type: yesno
  - id: quote
    label: {en: Quote, zh: 引文}
    type: text
"""
)
WHEN = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)


def coded(
    unit: str, coder: str, values: dict[str, Any], evidence: tuple[Quote, ...] = ()
) -> CodedSet:
    return CodedSet(
        document_id=int(unit[1:]) if unit[1:].isdigit() else 99,
        unit=unit,
        coder=coder,
        status="submitted",
        values=values,
        evidence=evidence,
        metadata={"province": "广东", "year": 2019, "value": Decimal("12.50")},
        created_at=WHEN,
        updated_at=WHEN,
        submitted_at=WHEN,
    )


SETS = [
    coded(
        "d1",
        "alice",
        {
            "topic": "crime",
            "tone": "positive",
            "data": ["name", "phone"],
            "count": 3,
            "official": True,
            "quote": "公安局，“微信”",
        },
        (Quote("topic", 2, "犯罪嫌疑人"), Quote("topic", 3, "second, quote")),
    ),
    coded("d1", "bob", {"topic": "traffic", "tone": "neutral", "official": False}),
    coded("d2", "alice", {"data": ["phone"], "count": 2.5}),
]


def rows(table: Table) -> list[list[Any]]:
    return [list(row) for row in table.rows]


# --- names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "limit", "expected"),
    [
        (["topic", "data__name"], 64, {"topic": "topic", "data__name": "data__name"}),
        (["_x", "1st", "a-b c"], 32, {"_x": "v_x", "1st": "v1st", "a-b c": "a_b_c"}),
        (["to", "with", "BY"], 64, {"to": "to_", "with": "with_", "BY": "BY_"}),
        (["主题"], 32, {"主题": "v__"}),
        (["a" * 40], 32, {"a" * 40: "a" * 32}),
        (["a" * 70], 64, {"a" * 70: "a" * 64}),
    ],
)
def test_safe_names(names: list[str], limit: int, expected: dict[str, str]) -> None:
    assert exports.safe_names(names, limit) == expected


@pytest.mark.parametrize(
    ("names", "limit"),
    [
        (["a" * 33, "a" * 34], 32),
        (["Topic", "topic"], 64),  # SPSS ignores case
        (["a-b", "a_b"], 64),
    ],
)
def test_safe_names_refuse_collisions(names: list[str], limit: int) -> None:
    with pytest.raises(ExportError, match="would both be named"):
        exports.safe_names(names, limit)


# --- codes and labels ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "numeric", "text"),
    [
        ("topic", "crime", 1, "crime"),
        ("topic", "traffic", 2, "traffic"),
        ("topic", None, None, None),
        ("tone", "positive", 3, "positive"),
        ("official", True, 1, "yes"),
        ("official", False, 0, "no"),
        ("count", 2.5, 2.5, 2.5),
        ("count", 0, 0, 0),
    ],
)
def test_values(variable: str, value: Any, numeric: Any, text: Any) -> None:
    v = CODEBOOK.variable(variable)
    assert exports.numeric_value(v, value) == numeric
    assert exports.text_value(v, value) == text


def test_multiple_choice_as_text_joins_codes() -> None:
    assert exports.text_value(CODEBOOK.variable("data"), ["name", "phone"]) == "name|phone"
    assert exports.text_value(CODEBOOK.variable("data"), []) is None


@pytest.mark.parametrize(
    ("variable", "lang", "expected"),
    [
        ("topic", "en", {1: "Crime", 2: "Traffic"}),
        ("topic", "zh", {1: "犯罪", 2: "交通"}),
        ("tone", "en", {1: "Negative", 2: "Neutral", 3: "Positive"}),
        ("official", "en", {0: "no", 1: "yes"}),
        ("official", "zh", {0: "否", 1: "是"}),
        ("count", "en", {}),
    ],
)
def test_value_labels(variable: str, lang: str, expected: dict[int, str]) -> None:
    assert exports.value_labels(CODEBOOK.variable(variable), lang) == expected


# --- layouts -------------------------------------------------------------------------


def test_wide_columns_and_cells() -> None:
    table = exports.wide_table(CODEBOOK, SETS, per_coder=True)
    names = table.names
    assert names[:5] == ["document_id", "unit", "coder", "status", "submitted_at"]
    assert "doc_province" in names and "doc_year" in names
    assert names[-7:] == [
        "topic",
        "tone",
        "data__name",
        "data__phone",
        "count",
        "official",
        "quote",
    ]
    first, second, third = rows(table)
    assert first[-7:] == ["crime", "positive", 1, 1, 3, 1, "公安局，“微信”"]
    assert second[-7:] == ["traffic", "neutral", None, None, None, 0, None]
    assert third[-7:] == [None, None, 0, 1, 2.5, None, None]
    assert first[names.index("doc_province")] == "广东"


def test_wide_numeric_codes_options_in_codebook_order() -> None:
    table = exports.wide_table(CODEBOOK, SETS, per_coder=True, numeric=True, lang="zh")
    assert rows(table)[0][-7:-4] == [1, 3, 1]
    column = {c.name: c for c in table.columns}
    assert column["tone"].value_labels == {1: "负面", 2: "中性", 3: "正面"}
    assert column["data__phone"].label == "收集的数据: 电话"
    assert column["tone"].measure == "ordinal"


def test_wide_final_rows() -> None:
    finals = [FinalSet(1, "d1", {"topic": "crime"}, {"year": 2020})]
    table = exports.wide_table(CODEBOOK, finals, per_coder=False)
    assert table.names[:2] == ["document_id", "unit"]
    (row,) = rows(table)
    assert row[:2] == [1, "d1"]
    assert row[table.names.index("topic")] == "crime"


def test_long_rows_are_a_ratings_file() -> None:
    table = exports.long_table(CODEBOOK, SETS)
    out = io.StringIO()
    assert exports.write_csv(out, table) == 6 + 3 + 2
    text = out.getvalue()
    ratings = read_ratings(text, levels={v.id: v.level for v in CODEBOOK.variables})
    assert ratings["data"]["d1"]["alice"] == frozenset({"name", "phone"})
    assert ratings["tone"]["d1"] == {"alice": "positive", "bob": "neutral"}
    assert ratings["official"]["d1"] == {"alice": "yes", "bob": "no"}
    assert ratings["count"]["d2"]["alice"] == 2.5
    first = next(csv.DictReader(io.StringIO(text)))
    assert first["evidence"] == "犯罪嫌疑人\n\nsecond, quote"
    assert first["evidence_pages"] == "2;3"
    assert first["submitted_at"] == "2024-05-01T08:30:00+00:00"


def test_long_row_for_evidence_without_value() -> None:
    item = coded("d3", "carol", {}, (Quote("quote", 1, "只有引文"),))
    (row,) = rows(exports.long_table(CODEBOOK, [item]))
    assert row[3:7] == ["quote", None, "只有引文", "1"]


@pytest.mark.parametrize(
    ("layout", "header", "expected"),
    [
        ("irr", True, [["d1", 1, 2], ["d2", None, None]]),
        ("recal", False, [[1, 2]]),
        ("krippendorff", False, [[1], [2]]),
    ],
)
def test_matrices(layout: str, header: bool, expected: list[list[Any]]) -> None:
    table = exports.matrix_table(CODEBOOK, SETS, "topic", layout)
    assert table.header is header
    got = rows(table)
    if layout == "irr":
        assert table.names == ["unit", "alice", "bob"]
        assert got == expected[:1]  # d2 has no topic: left out
    else:
        assert got == expected


def test_krippendorff_matrix_has_nan_for_missing() -> None:
    table = exports.matrix_table(CODEBOOK, SETS, "official", "krippendorff")
    out = io.StringIO()
    exports.write_csv(out, table)
    assert out.getvalue() == "1\n0\n"
    table = exports.matrix_table(CODEBOOK, SETS, "data__phone", "krippendorff")
    got = rows(table)
    assert got[0] == [1, 1]
    assert [len(r) for r in got] == [2]
    table = exports.matrix_table(CODEBOOK, SETS, "tone", "krippendorff")
    out = io.StringIO()
    exports.write_csv(
        out, exports.matrix_table(CODEBOOK, SETS[:1] + SETS[2:], "count", "krippendorff")
    )
    assert out.getvalue() == "3,2.5\n"
    sets = [*SETS, coded("d2", "bob", {"count": 4})]
    out = io.StringIO()
    exports.write_csv(out, exports.matrix_table(CODEBOOK, sets, "count", "krippendorff"))
    assert out.getvalue() == "3,2.5\nnan,4\n"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("quote", "free text"),
        ("data", "multiple choice: name one option"),
        ("data__email", "multiple choice"),
        ("nothing", "no variable 'nothing'"),
        ("topic__crime", "no variable"),
    ],
)
def test_matrix_refuses(name: str, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        exports.matrix_table(CODEBOOK, SETS, name, "irr")


# --- writers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bom", "start"),
    [(False, "document_id,unit"), (True, "\ufeffdocument_id,unit")],
)
def test_csv_bom(bom: bool, start: str) -> None:
    out = io.StringIO()
    exports.write_csv(out, exports.wide_table(CODEBOOK, SETS, per_coder=True), bom=bom)
    assert out.getvalue().startswith(start)
    frame = pd.read_csv(io.StringIO(out.getvalue()), encoding_errors="strict")
    assert frame.columns[0].lstrip("\ufeff") == "document_id"
    assert frame["quote"][0] == "公安局，“微信”"


@pytest.mark.parametrize(
    ("cell", "text"),
    [(None, ""), (3, "3"), (3.0, "3"), (2.5, "2.5"), (math.nan, "nan"), ("a,b", '"a,b"')],
)
def test_csv_cells(cell: Any, text: str) -> None:
    out = io.StringIO()
    columns = [exports.Column("x"), exports.Column("y")]
    exports.write_csv(out, Table(columns, [[cell, 1]], header=False))
    assert out.getvalue() == text + ",1\n"


@pytest.mark.parametrize("lines", [False, True])
def test_json(lines: bool) -> None:
    out = io.StringIO()
    exports.write_json(out, exports.wide_table(CODEBOOK, SETS, per_coder=True), lines=lines)
    text = out.getvalue()
    items = [json.loads(line) for line in text.splitlines()] if lines else json.loads(text)
    assert len(items) == 3
    assert items[0]["quote"] == "公安局，“微信”" and items[0]["doc_value"] == 12.5
    assert "公安局" in text  # not escaped


def test_json_empty_table() -> None:
    out = io.StringIO()
    exports.write_json(out, Table([exports.Column("x")], []))
    assert json.loads(out.getvalue()) == []


def test_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "wide.xlsx"
    sets = [*SETS, coded("d9", "dan", {"quote": "bell\x07 here"})]
    with path.open("wb") as out:
        exports.write_xlsx(out, exports.wide_table(CODEBOOK, sets, per_coder=True))
    sheet = load_workbook(path, read_only=True)["data"]
    values = list(sheet.values)
    assert values[0][0] == "document_id"
    assert values[1][-1] == "公安局，“微信”"
    assert values[4][-1] == "bell here"


def test_sav_with_labels(tmp_path: Path) -> None:
    path = str(tmp_path / "wide.sav")
    table = exports.wide_table(CODEBOOK, SETS, per_coder=True, numeric=True, lang="zh")
    assert exports.write_sav(path, table) == 3
    frame, meta = pyreadstat.read_sav(path)
    assert frame["topic"].tolist()[:2] == [1, 2]
    assert frame["quote"][0] == "公安局，“微信”"
    assert meta.variable_value_labels["topic"] == {1: "犯罪", 2: "交通"}
    assert meta.variable_value_labels["data__name"] == {0: "否", 1: "是"}
    assert meta.column_names_to_labels["data__name"] == "收集的数据: 姓名 [data__name]"
    assert meta.variable_measure["tone"] == "ordinal"


def test_dta_with_labels_and_long_texts_cut(tmp_path: Path) -> None:
    path = str(tmp_path / "wide.dta")
    long_text = "字" * 1000  # 3,000 bytes
    sets = [*SETS, coded("d5", "eve", {"quote": long_text})]
    table = exports.wide_table(CODEBOOK, sets, per_coder=True, numeric=True)
    assert exports.write_dta(path, table) == (4, 1)
    frame, meta = pyreadstat.read_dta(path)
    assert frame["tone"].tolist()[:2] == [3, 2]
    assert meta.variable_value_labels["tone"] == {1: "Negative", 2: "Neutral", 3: "Positive"}
    assert frame["quote"][3].endswith("…") and len(frame["quote"][3].encode()) <= 2000
    assert frame["quote"][0] == "公安局，“微信”"


def test_stata_names_collide_clearly(tmp_path: Path) -> None:
    long_id = "a" * 40
    codebook = Codebook.from_dict(
        {
            "id": "c",
            "title": "t",
            "variables": [
                {"id": long_id + "x", "label": "x", "type": "number"},
                {"id": long_id + "y", "label": "y", "type": "number"},
            ],
        }
    )
    table = exports.wide_table(codebook, [], per_coder=False, numeric=True)
    with pytest.raises(ExportError, match="would both be named"):
        exports.write_dta(str(tmp_path / "x.dta"), table)
    exports.write_sav(str(tmp_path / "x.sav"), exports.wide_table(codebook, [], per_coder=False))


# --- the codebook --------------------------------------------------------------------


def test_codebook_yaml_and_json_read_back() -> None:
    assert parse_codebook(exports.codebook_yaml(CODEBOOK)) == CODEBOOK
    assert Codebook.from_dict(json.loads(exports.codebook_json(CODEBOOK))) == CODEBOOK
    assert "研究" in exports.codebook_yaml(CODEBOOK)


def test_codebook_html_escapes_and_shows_every_definition() -> None:
    page = exports.codebook_html(CODEBOOK)
    assert page.startswith("<!DOCTYPE html>")
    assert "Study &lt;of&gt; &quot;news&quot;" in page
    assert "What it is about &amp; why" in page
    for text in (
        "主题",
        "犯罪",
        "违法犯罪",
        "Offences",
        "type ordinal",
        "level masi",
        "收集的数据",
    ):
        assert text in page
    assert "<of>" not in page


# --- streaming -----------------------------------------------------------------------


def many(count: int) -> Iterator[CodedSet]:
    for i in range(count):
        yield coded(f"d{i}", "alice", {"topic": "crime", "count": i, "quote": "文本" * 10})


def test_rows_are_produced_lazily() -> None:
    table = exports.long_table(CODEBOOK, many(10**9))
    first = next(iter(table.rows))
    assert first[:4] == [0, "d0", "alice", "topic"]


@pytest.mark.parametrize("layout", ["long", "wide"])
def test_csv_memory_does_not_grow_with_rows(layout: str) -> None:
    def peak(count: int) -> int:
        sets = many(count)
        table = (
            exports.long_table(CODEBOOK, sets)
            if layout == "long"
            else exports.wide_table(CODEBOOK, sets, per_coder=True)
        )
        tracemalloc.start()
        exports.write_csv(_Discard(), table)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(500), peak(5_000)
    assert large < small * 1.5 + 50_000


class _Discard(io.StringIO):
    """A text stream that keeps nothing."""

    def write(self, text: str) -> int:
        return len(text)
