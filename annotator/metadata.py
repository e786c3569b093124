"""Document metadata from a CSV file keyed by file name. A pure module.

Known columns fill the document's own fields; every other column is kept as is in its
``extra`` mapping, so that nothing a researcher recorded is dropped.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

KNOWN_COLUMNS = (
    "province",
    "city",
    "level",
    "year",
    "value",
    "vendor",
    "kind",
    "source_url",
    "language",
)
ALIASES = {
    "source url": "source_url",
    "url": "source_url",
    "file": "filename",
    "file_name": "filename",
}


class MetadataError(ValueError):
    """The CSV cannot be used; every problem is listed with its line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DocumentMetadata:
    """The metadata of one file: known fields and any extra columns."""

    fields: dict[str, Any]
    extra: dict[str, str]


def _column(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    return ALIASES.get(key.replace("_", " "), ALIASES.get(key, key))


def _year(text: str) -> int:
    year = int(text)
    if not 1000 <= year <= 9999:
        raise ValueError
    return year


def _value(text: str) -> Decimal:
    number = Decimal(text.replace(",", "").replace("¥", "").replace("￥", "").strip())
    if not number.is_finite() or number < 0:
        raise InvalidOperation
    return number


def parse_metadata_csv(text: str, source: str = "metadata.csv") -> dict[str, DocumentMetadata]:
    """Parse CSV text into metadata by file name; raise ``MetadataError`` listing all problems."""
    text = text.removeprefix("\ufeff")  # Excel's UTF-8 byte order mark
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise MetadataError([f"{source}: the file is empty"]) from None
    columns = [_column(name) for name in header]
    if "filename" not in columns:
        raise MetadataError([f"{source}:1: no 'filename' column (columns: {', '.join(header)})"])
    problems: list[str] = []
    result: dict[str, DocumentMetadata] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            problems.append(f"{source}:{line}: {len(row)} cells, the header has {len(columns)}")
            continue
        record = dict(zip(columns, (cell.strip() for cell in row), strict=True))
        filename = record.pop("filename")
        if not filename:
            problems.append(f"{source}:{line}: empty file name")
            continue
        if filename in result:
            problems.append(f"{source}:{line}: '{filename}' is listed twice")
            continue
        fields: dict[str, Any] = {}
        extra: dict[str, str] = {}
        for key, cell in record.items():
            if key not in KNOWN_COLUMNS:
                if cell:
                    extra[key] = cell
                continue
            if not cell:
                continue
            try:
                fields[key] = (
                    _year(cell) if key == "year" else _value(cell) if key == "value" else cell
                )
            except (ValueError, InvalidOperation):
                kind = "a year" if key == "year" else "a non-negative amount"
                problems.append(f"{source}:{line}: {key} '{cell}' is not {kind}")
        result[filename] = DocumentMetadata(fields=fields, extra=extra)
    if problems:
        raise MetadataError(problems)
    return result


def read_metadata_csv(path: str | Path) -> dict[str, DocumentMetadata]:
    """Read a metadata CSV file (UTF-8, with or without a byte order mark)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise MetadataError(
            [f"{path.name}: not UTF-8 text ({error.reason} at byte {error.start})"]
        ) from None
    return parse_metadata_csv(text, path.name)
