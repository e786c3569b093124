"""Ratings in long format, the input of a reliability analysis from outside the database.

A CSV file with the columns ``unit,coder,variable,value`` (a header row, in any order, extra
columns ignored): one row per value a coder gave a variable for a unit. An empty value is
missing; a multiple-choice value lists its codes separated by ``|``. Every problem is
reported with its line, and nothing is returned while there is one.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

REQUIRED_COLUMNS = ("unit", "coder", "variable", "value")
LEVELS = ("nominal", "ordinal", "interval", "ratio", "masi")
SEPARATOR = "|"

Value = str | float | frozenset[str]
# variable -> unit -> coder -> value (missing values are left out)
Ratings = dict[str, dict[str, dict[str, Value]]]


class RatingsError(ValueError):
    """The file cannot be read as ratings; ``problems`` holds one message per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class _Reader:
    levels: Mapping[str, str]
    default_level: str
    ratings: Ratings = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def value(self, line: int, variable: str, text: str) -> Value | None:
        level = self.levels.get(variable, self.default_level)
        text = text.strip()
        if not text:
            return None
        if level == "masi":
            codes = frozenset(code.strip() for code in text.split(SEPARATOR) if code.strip())
            return codes or None
        if level in ("interval", "ratio"):
            try:
                number = float(text)
            except ValueError:
                self.problems.append(
                    f"line {line}: {text!r} is not a number ({variable} is {level})"
                )
                return None
            if not math.isfinite(number):
                self.problems.append(f"line {line}: {text!r} is not a finite number")
                return None
            return number
        return text


def read_ratings(
    text: str, *, levels: Mapping[str, str] | None = None, default_level: str = "nominal"
) -> Ratings:
    """Parse long-format CSV text into ratings by variable, unit and coder.

    ``levels`` gives a variable's level (one of LEVELS); others get ``default_level``. A
    coder who rates the same unit and variable twice is a problem, unless both values are
    the same.
    """
    if default_level not in LEVELS:
        raise RatingsError([f"unknown level {default_level!r} (levels: {', '.join(LEVELS)})"])
    reader = _Reader(dict(levels or {}), default_level)
    for variable, level in reader.levels.items():
        if level not in LEVELS:
            reader.problems.append(f"variable {variable}: unknown level {level!r}")
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = next(rows, None)
    if header is None:
        raise RatingsError(["line 1: the file is empty (expected unit,coder,variable,value)"])
    columns = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise RatingsError(
            [f"line 1: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"]
        )
    at = {name: columns.index(name) for name in REQUIRED_COLUMNS}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(columns):
            reader.problems.append(f"line {line}: {len(row)} fields, the header has {len(columns)}")
            continue
        unit, coder, variable = (row[at[name]].strip() for name in ("unit", "coder", "variable"))
        empty = [
            name
            for name, cell in (("unit", unit), ("coder", coder), ("variable", variable))
            if not cell
        ]
        if empty:
            reader.problems.append(f"line {line}: empty {', '.join(empty)}")
            continue
        value = reader.value(line, variable, row[at["value"]])
        if value is None:
            continue
        by_coder = reader.ratings.setdefault(variable, {}).setdefault(unit, {})
        if coder in by_coder and by_coder[coder] != value:
            reader.problems.append(
                f"line {line}: coder {coder} already gave {variable} of unit {unit} another value"
            )
            continue
        by_coder[coder] = value
    if reader.problems:
        raise RatingsError(reader.problems)
    return reader.ratings
