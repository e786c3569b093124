"""Metadata CSV: known columns typed, extra columns kept, every problem named with its line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from annotator.metadata import MetadataError, parse_metadata_csv

HEADER = (
    "filename,province,city,level,year,value,vendor,kind,source_url,language,procurement_method\n"
)


@pytest.mark.parametrize(
    ("row", "fields", "extra"),
    [
        (
            "a.pdf,福建,福州,provincial,2018,1250000.00,腾讯云,tender,https://example.org/a,zh,public tender",
            {
                "province": "福建",
                "city": "福州",
                "level": "provincial",
                "year": 2018,
                "value": Decimal("1250000.00"),
                "vendor": "腾讯云",
                "kind": "tender",
                "source_url": "https://example.org/a",
                "language": "zh",
            },
            {"procurement_method": "public tender"},
        ),
        ("b.pdf,,,,,,,,,,", {}, {}),
        (
            'c.pdf,上海,,,2019,"1,200,000",,,,,',
            {"province": "上海", "year": 2019, "value": Decimal("1200000")},
            {},
        ),
        ("d.pdf,,,,,¥3000,,,,,", {"value": Decimal("3000")}, {}),
    ],
)
def test_rows(row: str, fields: dict, extra: dict) -> None:
    result = parse_metadata_csv(HEADER + row + "\n")
    (only,) = result.values()
    assert only.fields == fields
    assert only.extra == extra


def test_byte_order_mark_and_aliases() -> None:
    result = parse_metadata_csv("\ufeffFile,Province,Source URL\nx.html,Gansu,https://e.org\n")
    assert result["x.html"].fields == {"province": "Gansu", "source_url": "https://e.org"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("name,province\nx.pdf,a\n", "metadata.csv:1: no 'filename' column"),
        (HEADER + "a.pdf,,,,20x8,,,,,,\n", "metadata.csv:2: year '20x8' is not a year"),
        (HEADER + "a.pdf,,,,,-5,,,,,\n", "metadata.csv:2: value '-5' is not a non-negative amount"),
        (HEADER + "a.pdf,,,\n", "metadata.csv:2: 4 cells, the header has 11"),
        (HEADER + "a.pdf,,,,,,,,,,\na.pdf,,,,,,,,,,\n", "metadata.csv:3: 'a.pdf' is listed twice"),
        (HEADER + ",x,,,,,,,,,\n", "metadata.csv:2: empty file name"),
    ],
)
def test_problems(text: str, message: str) -> None:
    with pytest.raises(MetadataError) as error:
        parse_metadata_csv(text)
    assert message in str(error.value)


def test_every_problem_is_listed() -> None:
    with pytest.raises(MetadataError) as error:
        parse_metadata_csv(HEADER + "a.pdf,,,,x,,,,,,\nb.pdf,,,,,y,,,,,\n")
    assert len(error.value.problems) == 2
