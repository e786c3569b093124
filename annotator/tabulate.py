"""A first look at coded data: frequencies of a variable and cross-tabulations of two.

Works on plain data: ``values`` maps each document to its value of a variable (None or
absent for missing). Categories come in the codebook's order of options; multiple-choice
variables count each chosen option, so their counts add up to more than the documents.
Numbers are summarised and, when they take few distinct values, also counted. This module
imports no Flask.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .codebook import Variable, VariableType

__all__ = [
    "Crosstab",
    "Frequencies",
    "crosstab",
    "frequencies",
]

MISSING = "(missing)"
# Numbers with at most this many distinct values are also counted value by value.
MAX_COUNTED_NUMBERS = 20


@dataclass(frozen=True)
class Category:
    """One row of a frequency table: a value, how it reads, and how often it occurs."""

    key: object
    label: str
    count: int
    share: float | None  # of the documents with a value


@dataclass(frozen=True)
class Frequencies:
    """The distribution of one variable over the documents."""

    variable: str
    n_documents: int
    n_missing: int
    categories: tuple[Category, ...]
    multiple: bool  # counts are of chosen options; they add up to more than the documents
    summary: dict[str, float] | None  # numbers: n, mean, sd, min, median, max

    def to_csv(self) -> str:
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["value", "label", "count", "share"])
        for category in self.categories:
            share = "" if category.share is None else f"{category.share:.4f}"
            writer.writerow([category.key, category.label, category.count, share])
        writer.writerow(["", MISSING, self.n_missing, ""])
        return out.getvalue()


@dataclass(frozen=True)
class Crosstab:
    """Counts of documents by the values of two variables (rows × columns), with totals."""

    rows: tuple[Category, ...]
    columns: tuple[Category, ...]
    counts: tuple[tuple[int, ...], ...]
    n_documents: int  # documents with a value on both

    @property
    def row_totals(self) -> tuple[int, ...]:
        return tuple(sum(row) for row in self.counts)

    @property
    def column_totals(self) -> tuple[int, ...]:
        return tuple(sum(column) for column in zip(*self.counts, strict=True)) or tuple(
            0 for _ in self.columns
        )

    def to_csv(self, row_title: str = "", column_title: str = "") -> str:
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(
            [f"{row_title} \\ {column_title}".strip(), *(c.label for c in self.columns), "total"]
        )
        for row, counts, total in zip(self.rows, self.counts, self.row_totals, strict=True):
            writer.writerow([row.label, *counts, total])
        writer.writerow(["total", *self.column_totals, sum(self.row_totals)])
        return out.getvalue()


@dataclass(frozen=True)
class Scale:
    """How to read one side of a table: a codebook variable or a metadata field."""

    keys: tuple[object, ...] | None  # the category order; None: the values met, sorted
    labels: Mapping[object, str]
    multiple: bool = False
    number: bool = False

    @classmethod
    def of_variable(cls, variable: Variable, lang: str = "en") -> Scale:
        if variable.type.takes_options:
            return cls(
                keys=variable.codes,
                labels={o.code: o.label.get(lang) for o in variable.options},
                multiple=variable.type is VariableType.MULTIPLE,
            )
        if variable.type is VariableType.YESNO:
            yes, no = ("是", "否") if lang.startswith("zh") else ("yes", "no")
            return cls(keys=(True, False), labels={True: yes, False: no})
        return cls(keys=None, labels={}, number=variable.type is VariableType.NUMBER)

    @classmethod
    def of_field(cls) -> Scale:
        """A metadata field: its values as they are, sorted."""
        return cls(keys=None, labels={})

    def chosen(self, value: object) -> list[object]:
        """The categories a value counts in (none when missing)."""
        if value is None or value == "" or value == []:
            return []
        if self.multiple and isinstance(value, list | tuple | set | frozenset):
            return list(value)
        return [value]

    def categories(self, met: Sequence[object]) -> list[object]:
        if self.keys is not None:
            extra = sorted({key for key in met if key not in self.keys}, key=_order)
            return [*self.keys, *extra]
        return sorted(set(met), key=_order)

    def label(self, key: object) -> str:
        if key in self.labels:
            return self.labels[key]
        if isinstance(key, float) and key.is_integer():
            return str(int(key))
        return str(key)


def _order(value: object) -> tuple[int, float, str]:
    """Numbers first in numeric order, then everything else by its text."""
    if isinstance(value, bool):
        return (1, 0.0, str(value))
    if isinstance(value, int | float) and math.isfinite(value):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def frequencies(name: str, values: Mapping[Any, object], scale: Scale) -> Frequencies:
    """Count the values of one variable over the documents in ``values``."""
    chosen = {document: scale.chosen(value) for document, value in values.items()}
    coded = [options for options in chosen.values() if options]
    n_with_value = len(coded)
    counts: dict[object, int] = {}
    for options in coded:
        for key in dict.fromkeys(options):
            counts[key] = counts.get(key, 0) + 1
    summary = None
    keys = scale.categories(list(counts))
    if scale.number:
        numbers = [float(options[0]) for options in coded]  # type: ignore[arg-type]
        summary = _summary(numbers)
        if len(counts) > MAX_COUNTED_NUMBERS:
            keys = []
    categories = tuple(
        Category(
            key,
            scale.label(key),
            counts.get(key, 0),
            counts.get(key, 0) / n_with_value if n_with_value else None,
        )
        for key in keys
    )
    return Frequencies(
        variable=name,
        n_documents=len(values),
        n_missing=len(values) - n_with_value,
        categories=categories,
        multiple=scale.multiple,
        summary=summary,
    )


def _summary(numbers: list[float]) -> dict[str, float] | None:
    if not numbers:
        return None
    return {
        "n": float(len(numbers)),
        "mean": statistics.fmean(numbers),
        "sd": statistics.stdev(numbers) if len(numbers) > 1 else 0.0,
        "min": min(numbers),
        "median": statistics.median(numbers),
        "max": max(numbers),
    }


def crosstab(
    rows: Mapping[Any, object],
    row_scale: Scale,
    columns: Mapping[Any, object],
    column_scale: Scale,
) -> Crosstab:
    """Count documents by their row value and column value.

    Only documents with a value on both sides count. A multiple-choice side counts a
    document once under each option it chose.
    """
    pairs: list[tuple[object, object]] = []
    n_documents = 0
    for document, row_value in rows.items():
        row_keys = row_scale.chosen(row_value)
        column_keys = column_scale.chosen(columns.get(document))
        if not row_keys or not column_keys:
            continue
        n_documents += 1
        pairs.extend((r, c) for r in dict.fromkeys(row_keys) for c in dict.fromkeys(column_keys))
    row_keys = row_scale.categories([r for r, _ in pairs])
    column_keys = column_scale.categories([c for _, c in pairs])
    at_row = {key: i for i, key in enumerate(row_keys)}
    at_column = {key: i for i, key in enumerate(column_keys)}
    table = [[0] * len(column_keys) for _ in row_keys]
    for r, c in pairs:
        table[at_row[r]][at_column[c]] += 1
    row_totals = [sum(row) for row in table]
    column_totals = [sum(column) for column in zip(*table, strict=True)] if table else []
    return Crosstab(
        rows=tuple(
            Category(key, row_scale.label(key), total, None)
            for key, total in zip(row_keys, row_totals, strict=True)
        ),
        columns=tuple(
            Category(key, column_scale.label(key), total, None)
            for key, total in zip(column_keys, column_totals, strict=True)
        ),
        counts=tuple(tuple(row) for row in table),
        n_documents=n_documents,
    )
