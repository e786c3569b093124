"""Reading ratings in long format (unit, coder, variable, value) for a reliability analysis."""

from __future__ import annotations

import pytest

from annotator.ratings import RatingsError, read_ratings

HEADER = "unit,coder,variable,value\n"


@pytest.mark.parametrize(
    ("text", "levels", "default", "expected"),
    [
        (
            HEADER + "d1,A,kind,tender\nd1,B,kind,award\n",
            {},
            "nominal",
            {"kind": {"d1": {"A": "tender", "B": "award"}}},
        ),
        # Columns in any order, extra columns ignored, a byte order mark and blank lines too.
        (
            "\ufeffvalue,Variable,note,coder,unit\ntender,kind,x,A,d1\n\n",
            {},
            "nominal",
            {"kind": {"d1": {"A": "tender"}}},
        ),
        # An empty value is missing: left out.
        (HEADER + "d1,A,kind,\nd1,B,kind,award\n", {}, "nominal", {"kind": {"d1": {"B": "award"}}}),
        (
            HEADER + "d1,A,year,2019\nd1,B,year, 2020.5 \n",
            {"year": "interval"},
            "nominal",
            {"year": {"d1": {"A": 2019.0, "B": 2020.5}}},
        ),
        (
            HEADER + "d1,A,data,real_name|phone\nd1,B,data, phone | real_name \n",
            {},
            "masi",
            {
                "data": {
                    "d1": {
                        "A": frozenset({"real_name", "phone"}),
                        "B": frozenset({"phone", "real_name"}),
                    }
                }
            },
        ),
        (HEADER + "d1,A,data,|\n", {}, "masi", {}),  # no codes at all: missing
        # The same value twice is not a conflict.
        (
            HEADER + "d1,A,kind,tender\nd1,A,kind,tender\n",
            {},
            "nominal",
            {"kind": {"d1": {"A": "tender"}}},
        ),
        (
            'unit,coder,variable,value\nd1,A,city,"杭州市, 浙江"\n',
            {},
            "nominal",
            {"city": {"d1": {"A": "杭州市, 浙江"}}},
        ),
    ],
)
def test_read_ratings(text: str, levels: dict[str, str], default: str, expected: object) -> None:
    assert read_ratings(text, levels=levels, default_level=default) == expected


@pytest.mark.parametrize(
    ("text", "levels", "default", "messages"),
    [
        ("", {}, "nominal", ["line 1: the file is empty"]),
        ("unit,coder,value\n", {}, "nominal", ["line 1: missing column variable"]),
        ("id,rater\n", {}, "nominal", ["line 1: missing columns unit, coder, variable, value"]),
        (HEADER + "d1,A,kind\n", {}, "nominal", ["line 2: 3 fields, the header has 4"]),
        (
            HEADER + ",A,kind,x\nd2,,,y\n",
            {},
            "nominal",
            ["line 2: empty unit", "line 3: empty coder, variable"],
        ),
        (
            HEADER + "d1,A,year,soon\nd2,A,year,inf\n",
            {"year": "ratio"},
            "nominal",
            [
                "line 2: 'soon' is not a number (year is ratio)",
                "line 3: 'inf' is not a finite number",
            ],
        ),
        (
            HEADER + "d1,A,kind,tender\nd1,A,kind,award\n",
            {},
            "nominal",
            ["line 3: coder A already gave kind of unit d1 another value"],
        ),
        (HEADER, {"kind": "cardinal"}, "nominal", ["variable kind: unknown level 'cardinal'"]),
        (HEADER, {}, "cardinal", ["unknown level 'cardinal'"]),
    ],
)
def test_bad_ratings_name_the_line(
    text: str, levels: dict[str, str], default: str, messages: list[str]
) -> None:
    with pytest.raises(RatingsError) as raised:
        read_ratings(text, levels=levels, default_level=default)
    assert len(raised.value.problems) == len(messages)
    for problem, expected in zip(raised.value.problems, messages, strict=True):
        assert problem.startswith(expected), problem
