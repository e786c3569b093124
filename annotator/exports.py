"""Exports of coded data: the tables a researcher analyses, and the writers of each format.

Plain inputs in, rows out: a ``Codebook``, one ``CodedSet`` per coder and document (the
values, quotes and dates of a label set) or one ``FinalSet`` per document, and the
document's metadata. Nothing here imports Flask or SQLAlchemy; ``services.exports`` reads
the database into these inputs in batches, so that an export streams.

Layouts:

* **long** (tidy): one row per document, coder and variable that has a value or evidence.
  Multiple-choice codes are joined with ``|`` and yes/no is ``yes``/``no``, as
  ``annotator.ratings`` reads them, so the long CSV is a ratings file. Every quote for the
  variable goes in the same row: quotes joined by a blank line in ``evidence``, their pages
  joined by ``;`` in ``evidence_pages`` (one row per value keeps the table tidy).
* **wide**: one row per document (final values) or per document and coder, one column per
  variable, a 0/1 column ``<variable>__<code>`` per option of a multiple-choice variable,
  and the document's metadata columns.
* **matrix** for one variable: units × coders as R's ``irr`` reads them, the same without
  header and unit names for ReCal OIR, and coders × units with ``nan`` for the
  ``krippendorff`` package. Codes are numbers: option index 1..k, yes 1, no 0.

In the wide table of CSV, XLSX and JSON, single and ordinal values are their option codes;
in SPSS and Stata they are the option's position 1..k in codebook order, with the option
labels as value labels.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import IO, Any

import yaml

from . import statfiles
from .codebook import Codebook, Variable, VariableType
from .metadata import KNOWN_COLUMNS
from .statfiles import DataColumn, StatFileError

__all__ = [
    "METADATA_FIELDS",
    "CodedSet",
    "Column",
    "ExportError",
    "FinalSet",
    "Table",
    "codebook_html",
    "codebook_json",
    "codebook_yaml",
    "long_table",
    "matrix_table",
    "safe_names",
    "wide_table",
    "write_csv",
    "write_dta",
    "write_json",
    "write_sav",
    "write_xlsx",
]

# Document metadata exported with the wide layouts, as ``doc_<field>`` columns: a codebook
# may well have a variable named ``province`` or ``year`` of its own.
METADATA_FIELDS = ("title", *KNOWN_COLUMNS)
MULTIPLE_SEPARATOR = "|"
EVIDENCE_SEPARATOR = "\n\n"
SPSS_NAME_LIMIT = 64
STATA_NAME_LIMIT = 32
STATA_LABEL_CHARS = 80
SPSS_LABEL_CHARS = 255
# SPSS keywords that cannot name a variable.
SPSS_RESERVED = frozenset(
    {"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"}
)


class ExportError(ValueError):
    """The export cannot be made as asked (an unknown variable, a name collision ...)."""


@dataclass(frozen=True)
class Column:
    """A column of an exported table, with what SPSS and Stata show about it."""

    name: str
    label: str = ""
    # Value labels (SPSS, Stata): code -> label.
    value_labels: Mapping[int, str] = field(default_factory=dict)
    # SPSS measure: nominal, ordinal or scale; "" for text.
    measure: str = ""
    numeric: bool = False


@dataclass(frozen=True)
class Table:
    """Columns, and rows (lists in column order) produced as they are read.

    ``header`` is false for layouts read without one (ReCal, the krippendorff matrix).
    """

    columns: list[Column]
    rows: Iterable[Sequence[Any]]
    header: bool = True

    @property
    def names(self) -> list[str]:
        """The column names."""
        return [column.name for column in self.columns]


@dataclass(frozen=True)
class Quote:
    """One evidence quote of a label set."""

    variable: str
    page: int
    quote: str


@dataclass
class CodedSet:
    """One coder's coding of one document: a label set in plain data."""

    document_id: int
    unit: str
    coder: str
    status: str
    values: Mapping[str, Any]
    evidence: Sequence[Quote] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    submitted_at: datetime | None = None


@dataclass
class FinalSet:
    """The final (adjudicated or agreed) values of one document."""

    document_id: int
    unit: str
    values: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)


# --- values --------------------------------------------------------------------------


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def text_value(variable: Variable, value: Any) -> str | float | int | None:
    """A stored value as the long layout writes it: codes joined with ``|``, yes/no."""
    if value is None or value == [] or value == "":
        return None
    match variable.type:
        case VariableType.MULTIPLE:
            return MULTIPLE_SEPARATOR.join(str(code) for code in value)
        case VariableType.YESNO:
            return "yes" if value else "no"
        case VariableType.NUMBER:
            return value if isinstance(value, int | float) else float(value)
        case _:
            return str(value)


def option_number(variable: Variable, code: Any) -> int | None:
    """The position (1..k, codebook order) of an option code; None if missing or unknown."""
    if code is None or code == "":
        return None
    for position, option in enumerate(variable.options, start=1):
        if option.code == str(code):
            return position
    return None


def numeric_value(variable: Variable, value: Any) -> float | int | None:
    """A single, ordinal, yes/no or number value as a number (codes 1..k, yes 1, no 0)."""
    if value is None or value == "":
        return None
    match variable.type:
        case VariableType.SINGLE | VariableType.ORDINAL:
            return option_number(variable, value)
        case VariableType.YESNO:
            return 1 if value else 0
        case VariableType.NUMBER:
            return value if isinstance(value, int | float) else float(value)
    raise ExportError(f"variable {variable.id} ({variable.type.value}) has no numeric value")


def value_labels(variable: Variable, lang: str) -> dict[int, str]:
    """Value labels of a variable's numeric codes: option labels, or no/yes."""
    if variable.type in (VariableType.SINGLE, VariableType.ORDINAL):
        return {i: o.label.get(lang) for i, o in enumerate(variable.options, start=1)}
    if variable.type in (VariableType.YESNO, VariableType.MULTIPLE):
        return _yes_no(lang)
    return {}


def _yes_no(lang: str) -> dict[int, str]:
    return {0: "否", 1: "是"} if lang.startswith("zh") else {0: "no", 1: "yes"}


def _measure(variable: Variable) -> str:
    match variable.type:
        case VariableType.ORDINAL:
            return "ordinal"
        case VariableType.NUMBER:
            return "scale"
        case VariableType.TEXT:
            return ""
        case _:
            return "nominal"


# --- the wide layouts ----------------------------------------------------------------


def option_column(variable: Variable, code: str) -> str:
    """The name of a multiple-choice option's 0/1 column."""
    return f"{variable.id}__{code}"


def variable_columns(codebook: Codebook, lang: str = "en", *, numeric: bool) -> list[Column]:
    """The columns of a codebook's variables in the wide layout, in codebook order."""
    columns: list[Column] = []
    for variable in codebook.variables:
        label = variable.label.get(lang)
        if variable.type is VariableType.MULTIPLE:
            for option in variable.options:
                columns.append(
                    Column(
                        option_column(variable, option.code),
                        f"{label}: {option.label.get(lang)}",
                        _yes_no(lang),
                        "nominal",
                        numeric=True,
                    )
                )
            continue
        is_number = variable.type in (VariableType.NUMBER, VariableType.YESNO) or (
            numeric and variable.type is not VariableType.TEXT
        )
        labels = value_labels(variable, lang) if is_number else {}
        columns.append(Column(variable.id, label, labels, _measure(variable), numeric=is_number))
    return columns


def variable_cells(codebook: Codebook, values: Mapping[str, Any], *, numeric: bool) -> list[Any]:
    """A document's values as wide cells, in the order of ``variable_columns``."""
    cells: list[Any] = []
    for variable in codebook.variables:
        value = values.get(variable.id)
        if value == [] or value == "":
            value = None
        match variable.type:
            case VariableType.MULTIPLE:
                chosen = None if value is None else {str(code) for code in value}
                cells.extend(
                    None if chosen is None else int(code in chosen) for code in variable.codes
                )
            case VariableType.TEXT:
                cells.append(value)
            case VariableType.SINGLE | VariableType.ORDINAL if not numeric:
                cells.append(None if value is None else str(value))
            case _:
                cells.append(numeric_value(variable, value))
    return cells


def _metadata_columns() -> list[Column]:
    return [
        Column(
            f"doc_{name}",
            f"document {name}",
            measure="scale" if name in ("year", "value") else "",
            numeric=name in ("year", "value"),
        )
        for name in METADATA_FIELDS
    ]


def _metadata_cells(metadata: Mapping[str, Any]) -> list[Any]:
    return [metadata.get(name) for name in METADATA_FIELDS]


def _check_unique(columns: Sequence[Column]) -> None:
    seen: set[str] = set()
    for column in columns:
        if column.name in seen:
            raise ExportError(f"two columns would be named {column.name!r}")
        seen.add(column.name)


def wide_table(
    codebook: Codebook,
    sets: Iterable[CodedSet] | Iterable[FinalSet],
    *,
    per_coder: bool,
    numeric: bool = False,
    lang: str = "en",
) -> Table:
    """The wide table: a row per document (final values) or per document and coder.

    ``numeric`` writes single and ordinal values as their option number (SPSS, Stata).
    """
    head = [Column("document_id", "document id", numeric=True, measure="nominal")]
    head.append(Column("unit", "document file name"))
    if per_coder:
        head += [
            Column("coder", "coder"),
            Column("status", "status"),
            Column("submitted_at", "submitted at (UTC)"),
        ]
    columns = head + _metadata_columns() + variable_columns(codebook, lang, numeric=numeric)
    _check_unique(columns)

    def rows() -> Iterator[list[Any]]:
        for item in sets:
            row: list[Any] = [item.document_id, item.unit]
            if per_coder:
                if not isinstance(item, CodedSet):
                    raise TypeError("per-coder rows need coded sets")
                row += [item.coder, item.status, _timestamp(item.submitted_at)]
            row += _metadata_cells(item.metadata)
            row += variable_cells(codebook, item.values, numeric=numeric)
            yield row

    return Table(columns, rows())


# --- the long layout -----------------------------------------------------------------

LONG_COLUMNS = (
    "document_id",
    "unit",
    "coder",
    "variable",
    "value",
    "evidence",
    "evidence_pages",
    "status",
    "created_at",
    "updated_at",
    "submitted_at",
)


def long_table(codebook: Codebook, sets: Iterable[CodedSet]) -> Table:
    """The long table: a row per document, coder and variable with a value or evidence.

    ``unit``, ``coder``, ``variable`` and ``value`` are the columns of a ratings file
    (``annotator.ratings``); variables are in codebook order.
    """
    columns = [Column(name, numeric=name == "document_id") for name in LONG_COLUMNS]

    def rows() -> Iterator[list[Any]]:
        for item in sets:
            quotes: dict[str, list[Quote]] = {}
            for quote in item.evidence:
                quotes.setdefault(quote.variable, []).append(quote)
            dates = [
                item.status,
                _timestamp(item.created_at),
                _timestamp(item.updated_at),
                _timestamp(item.submitted_at),
            ]
            for variable in codebook.variables:
                value = text_value(variable, item.values.get(variable.id))
                found = quotes.get(variable.id, [])
                if value is None and not found:
                    continue
                yield [
                    item.document_id,
                    item.unit,
                    item.coder,
                    variable.id,
                    value,
                    EVIDENCE_SEPARATOR.join(q.quote for q in found) if found else None,
                    ";".join(str(q.page) for q in found) if found else None,
                    *dates,
                ]

    return Table(columns, rows())


# --- reliability matrices ------------------------------------------------------------

MATRIX_LAYOUTS = ("irr", "recal", "krippendorff")


def matrix_variable(codebook: Codebook, name: str) -> tuple[Variable, str | None]:
    """The variable (and option, for an option column) a matrix is made of.

    A multiple-choice variable has no single code per unit: name one of its options'
    columns (``<variable>__<code>``), coded 1 when chosen and 0 when not.
    """
    variable_id, _, code = name.partition("__")
    try:
        variable = codebook.variable(variable_id)
    except KeyError:
        raise ExportError(_no_matrix_variable(codebook, name)) from None
    if variable.type is VariableType.TEXT:
        raise ExportError(f"{name} is free text, which has no codes for a matrix")
    if variable.type is VariableType.MULTIPLE:
        if code not in variable.codes:
            options = ", ".join(option_column(variable, c) for c in variable.codes)
            raise ExportError(f"{name} is multiple choice: name one option's column ({options})")
        return variable, code
    if code:
        raise ExportError(_no_matrix_variable(codebook, name))
    return variable, None


def _no_matrix_variable(codebook: Codebook, name: str) -> str:
    names = [v.id for v in codebook.variables if v.type is not VariableType.TEXT]
    return f"no variable {name!r} for a matrix (variables: {', '.join(names)})"


def matrix_table(
    codebook: Codebook, sets: Iterable[CodedSet], variable_name: str, layout: str
) -> Table:
    """One variable's units × coders matrix in the layout ``irr``, ``recal`` or
    ``krippendorff`` (coders × units). Units are in the order the sets come in, coders
    in name order; a unit nobody gave a value is left out.
    """
    if layout not in MATRIX_LAYOUTS:
        raise ExportError(
            f"unknown matrix layout {layout!r} (layouts: {', '.join(MATRIX_LAYOUTS)})"
        )
    variable, code = matrix_variable(codebook, variable_name)
    # A matrix needs every coder before its first row: the codes of one variable are
    # small (a number per unit and coder) and are gathered first.
    units: dict[str, dict[str, float | int]] = {}
    for item in sets:
        value = item.values.get(variable.id)
        if value is None or value == [] or value == "":
            continue
        if code is not None:
            number: float | int | None = int(code in {str(c) for c in value})
        else:
            number = numeric_value(variable, value)
        if number is not None:
            units.setdefault(item.unit, {})[item.coder] = number
    coders = sorted({coder for by_coder in units.values() for coder in by_coder})
    if layout == "krippendorff":
        columns = [Column(unit, numeric=True) for unit in units]
        rows: list[list[Any]] = [
            [units[unit].get(coder, math.nan) for unit in units] for coder in coders
        ]
        return Table(columns, rows, header=False)
    columns = [Column(coder, numeric=True) for coder in coders]
    if layout == "irr":
        columns.insert(0, Column("unit"))
    rows = [
        ([unit] if layout == "irr" else []) + [by_coder.get(coder) for coder in coders]
        for unit, by_coder in units.items()
    ]
    return Table(columns, rows, header=layout == "irr")


# --- writers -------------------------------------------------------------------------


def _csv_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return repr(int(value)) if value.is_integer() else repr(value)


def write_csv(out: IO[str], table: Table, *, bom: bool = False) -> int:
    """Write a table as CSV (UTF-8; with ``bom`` a byte-order mark for Excel); the row count.

    Missing values are empty cells, except ``nan`` in the krippendorff matrix.
    """
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    if table.header:
        writer.writerow(table.names)
    count = 0
    # The csv module writes None as an empty cell; only floats need a hand ("3", not "3.0").
    for row in table.rows:
        writer.writerow([_csv_float(c) if c.__class__ is float else c for c in row])
        count += 1
    return count


def _json_cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_json(out: IO[str], table: Table, *, lines: bool = False) -> int:
    """Write a table as a JSON array of objects (or JSON lines), one row at a time.

    A table without header (a matrix) is written as an array of arrays.
    """
    names = table.names
    count = 0
    if not lines:
        out.write("[")
    for row in table.rows:
        cells = [_json_cell(cell) for cell in row]
        item: Any = dict(zip(names, cells, strict=True)) if table.header else cells
        text = json.dumps(item, ensure_ascii=False)
        if lines:
            out.write(text + "\n")
        else:
            out.write(("\n" if count == 0 else ",\n") + text)
        count += 1
    if not lines:
        out.write("\n]\n" if count else "]\n")
    return count


_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, str):
        return _XLSX_ILLEGAL.sub("", value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_xlsx(out: IO[bytes], table: Table, *, sheet: str = "data") -> int:
    """Write a table as an XLSX workbook, streamed (openpyxl's write-only mode).

    Control characters, which XLSX cannot hold, are removed from texts.
    """
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)
    if table.header:
        worksheet.append(table.names)
    count = 0
    for row in table.rows:
        worksheet.append([_xlsx_cell(cell) for cell in row])
        count += 1
    workbook.save(out)
    return count


def safe_names(names: Sequence[str], limit: int) -> dict[str, str]:
    """A valid SPSS (limit 64) or Stata (limit 32) name for each column name.

    Letters, digits and underscores are kept and anything else becomes ``_``; a name that
    does not start with a letter gets a ``v`` in front; an SPSS keyword gets ``_`` after;
    then the name is cut to ``limit``. Two columns that would get the same name (ignoring
    case, as SPSS does) are refused: shorten the variable ids or option codes.
    """
    mapping: dict[str, str] = {}
    taken: dict[str, str] = {}
    for name in names:
        safe = re.sub(r"[^A-Za-z0-9_]", "_", name.encode("ascii", "replace").decode())
        if not safe or not safe[0].isalpha():
            safe = "v" + safe
        if safe.upper() in SPSS_RESERVED:
            safe += "_"
        safe = safe[:limit]
        other = taken.get(safe.lower())
        if other is not None:
            raise ExportError(
                f"columns {other!r} and {name!r} would both be named {safe!r} "
                f"(names are at most {limit} letters, digits and underscores)"
            )
        taken[safe.lower()] = name
        mapping[name] = safe
    return mapping


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _variable_label(column: Column, limit: int) -> str:
    """A column's label with its full name in brackets, cut to ``limit`` characters."""
    if not column.label or column.label == column.name:
        return _truncate(column.name, limit)
    return _truncate(f"{column.label} [{column.name}]", limit)


def _data_columns(table: Table, limit: int, label_chars: int) -> list[DataColumn]:
    """The table's columns for an SPSS or Stata file: safe names, labels, value labels."""
    names = safe_names(table.names, limit)
    return [
        DataColumn(
            names[column.name],
            _variable_label(column, label_chars),
            numeric=column.numeric,
            value_labels=dict(column.value_labels),
            measure=column.measure,
        )
        for column in table.columns
    ]


def write_sav(path: str, table: Table) -> int:
    """Write a table as an SPSS ``.sav`` file with variable and value labels and measures.

    Each variable label holds the column's label and its full name in brackets; a text
    longer than SPSS's 32,767 bytes is cut, ending with "…". The rows stream through a
    temporary file (``statfiles``); returns the row count.
    """
    columns = _data_columns(table, SPSS_NAME_LIMIT, SPSS_LABEL_CHARS)
    try:
        return statfiles.write_sav(path, columns, table.rows)
    except StatFileError as error:
        raise ExportError(str(error)) from error


def write_dta(path: str, table: Table) -> tuple[int, int]:
    """Write a table as a Stata ``.dta`` file (format 118, Stata 14 and later, UTF-8) with
    labels.

    Stata holds a string of at most 2,045 bytes; longer texts are cut to 2,000 bytes,
    ending with "…". Names are cut to 32 characters less the digits of the number of
    labelled columns (31 for up to 10). Returns the row count and the number of texts cut.
    """
    # Each set of value labels is named after its column with a number appended (0, 1,
    # ... in column order), as pyreadstat named them in earlier exports, and that name too
    # must fit in 32 characters; keeping the scheme keeps the names of earlier exports.
    labelled = [column.name for column in table.columns if column.value_labels]
    limit = STATA_NAME_LIMIT - len(str(max(len(labelled) - 1, 0)))
    columns = _data_columns(table, limit, STATA_LABEL_CHARS)
    names = safe_names(table.names, limit)
    label_names = {names[name]: f"{names[name]}{i}" for i, name in enumerate(labelled)}
    try:
        return statfiles.write_dta(path, columns, table.rows, label_names=label_names)
    except StatFileError as error:
        raise ExportError(str(error)) from error


# --- the codebook --------------------------------------------------------------------


def codebook_json(codebook: Codebook) -> str:
    """The codebook as JSON, in the form ``Codebook.from_dict`` reads."""
    return json.dumps(codebook.to_dict(), ensure_ascii=False, indent=2) + "\n"


def codebook_yaml(codebook: Codebook) -> str:
    """The codebook as YAML, which the codebook loader reads back."""
    return yaml.safe_dump(codebook.to_dict(), allow_unicode=True, sort_keys=False, width=100)


_HTML_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
h2 { border-top: 1px solid #ccc; padding-top: 1rem; }
.facts { color: #555; }
.zh { color: #444; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""


def _both(text: Any, tag: str = "p") -> str:
    """A localised text in English, then Chinese when there is one, escaped."""
    if text is None:
        return ""
    parts = [f'<{tag} lang="en">{html.escape(text.en)}</{tag}>']
    if text.zh:
        parts.append(f'<{tag} lang="zh" class="zh">{html.escape(text.zh)}</{tag}>')
    return "".join(parts)


def _inline(text: Any) -> str:
    if text is None:
        return ""
    en = html.escape(text.en)
    return en + (f' <span lang="zh" class="zh">/ {html.escape(text.zh)}</span>' if text.zh else "")


def _list(title: str, items: Sequence[str]) -> str:
    if not items:
        return ""
    lines = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return f"<p><strong>{title}</strong></p><ul>{lines}</ul>"


def codebook_html(codebook: Codebook) -> str:
    """A standalone HTML page of the codebook: every variable with its type, level,
    options and definitions, in English and Chinese. Every text is escaped."""
    out = io.StringIO()
    title = html.escape(codebook.title.en)
    out.write(
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_HTML_STYLE}</style>\n</head>\n<body>\n"
    )
    out.write(f"<h1>{_inline(codebook.title)}</h1>\n")
    out.write(f'<p class="facts">Codebook <code>{html.escape(codebook.id)}</code>, ')
    out.write(f"{len(codebook.variables)} variables.</p>\n")
    out.write(_both(codebook.description) + "\n")
    out.write("<h2>Variables</h2>\n<ol>\n")
    for variable in codebook.variables:
        out.write(
            f'<li><a href="#{html.escape(variable.id)}">{html.escape(variable.id)}</a>: '
            f"{_inline(variable.label)}</li>\n"
        )
    out.write("</ol>\n")
    for variable in codebook.variables:
        out.write(f'<h2 id="{html.escape(variable.id)}">{_inline(variable.label)}</h2>\n')
        facts = [
            f"<code>{html.escape(variable.id)}</code>",
            f"type {variable.type.value}",
            f"level {html.escape(variable.level)}",
            "required" if variable.required else "optional",
        ]
        if variable.group:
            facts.append(f"group {html.escape(variable.group)}")
        if variable.type is VariableType.NUMBER:
            for name, number in (("minimum", variable.minimum), ("maximum", variable.maximum)):
                if number is not None:
                    facts.append(f"{name} {number:g}")
            if variable.unit:
                facts.append(f"unit {html.escape(variable.unit)}")
        out.write(f'<p class="facts">{", ".join(facts)}</p>\n')
        out.write(_both(variable.description) + "\n")
        if variable.options:
            out.write("<table>\n<tr><th>#</th><th>Code</th><th>Option</th></tr>\n")
            for number, option in enumerate(variable.options, start=1):
                details = (
                    _both(option.definition)
                    + _list("Include", option.include)
                    + _list("Exclude", option.exclude)
                    + _list("Examples", option.examples)
                    + (
                        f"<p><strong>Keywords</strong>: {html.escape(', '.join(option.keywords))}</p>"
                        if option.keywords
                        else ""
                    )
                )
                out.write(
                    f"<tr><td>{number}</td><td><code>{html.escape(option.code)}</code></td>"
                    f"<td><strong>{_inline(option.label)}</strong>{details}</td></tr>\n"
                )
            out.write("</table>\n")
    out.write("</body>\n</html>\n")
    return out.getvalue()
