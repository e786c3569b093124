"""SPSS (``.sav``) and Stata (``.dta``) data files, written a row at a time.

Both formats declare every text column's width before the first row, so the rows are
read once into a spool (a temporary file on disk, in chunks) while the widest text of
each column and the row count are measured; then the header is written and the spooled
rows are copied into the data section. Memory stays the same whatever the row count.

The layouts follow the published descriptions of the formats: the PSPP developers'
guide for the SPSS system file (``$FL2``, bytecode compression, UTF-8) and Stata's
description of format 118 (Stata 14 and later, UTF-8). Everything is little-endian.

Plain inputs: ``DataColumn`` (a valid name, its label, value labels, measure) and rows
of cells. Numbers are written as doubles, ``None`` (and NaN) as the system-missing value.
"""

from __future__ import annotations

import math
import pickle
import struct
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

__all__ = [
    "SPSS_STRING_BYTES",
    "STATA_STRING_BYTES",
    "STATA_STRING_CUT",
    "DataColumn",
    "StatFileError",
    "write_dta",
    "write_sav",
]

# Rows pickled together in the spool: large enough to be fast, small enough to be nothing.
SPOOL_CHUNK = 1000
ELLIPSIS = "…".encode()


class StatFileError(ValueError):
    """A table that the format cannot hold (a number out of Stata's range ...)."""


@dataclass(frozen=True)
class DataColumn:
    """A column of an SPSS or Stata file.

    ``name`` must already be valid for the format; ``label`` is the variable label and
    ``value_labels`` label the codes of a numeric column. ``measure`` (SPSS) is
    ``nominal``, ``ordinal``, ``scale`` or ``""`` for unknown.
    """

    name: str
    label: str = ""
    numeric: bool = False
    value_labels: Mapping[int, str] = field(default_factory=dict)
    measure: str = ""


# --- the spool ---------------------------------------------------------------------------


def cut_utf8(data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of UTF-8 text, without splitting a character."""
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _text(value: Any) -> bytes:
    if value is None:
        return b""
    return (value if isinstance(value, str) else str(value)).encode("utf-8")


class _Spool:
    """Rows converted to numbers and UTF-8 bytes, pickled in chunks to ``file`` (a
    temporary file the caller opens and closes).

    Texts longer than ``max_bytes`` are cut to ``cut_to`` bytes ending with "…" and
    counted in ``cut``; ``widths`` holds the longest text (in bytes, at least 1) of each
    text column and ``rows`` the row count. A number beyond ``largest`` is refused.
    """

    def __init__(
        self,
        file: IO[bytes],
        columns: Sequence[DataColumn],
        rows: Iterable[Sequence[Any]],
        *,
        max_bytes: int,
        cut_to: int,
        largest: float = math.inf,
    ) -> None:
        self.file = file
        self.rows = 0
        self.cut = 0
        numeric = [column.numeric for column in columns]
        self.widths = widths = [1] * len(columns)
        chunk: list[list[Any]] = []
        for row in rows:
            if len(row) != len(columns):
                raise StatFileError(f"a row has {len(row)} cells for {len(columns)} columns")
            cells: list[Any] = []
            for i, cell in enumerate(row):
                if numeric[i]:
                    number = _number(cell)
                    if number is not None and not -largest <= number <= largest:
                        raise StatFileError(
                            f"{columns[i].name}: {number!r} is beyond the largest number "
                            "the format holds"
                        )
                    cells.append(number)
                    continue
                data = _text(cell)
                if len(data) > max_bytes:
                    data = cut_utf8(data, cut_to - len(ELLIPSIS)) + ELLIPSIS
                    self.cut += 1
                if len(data) > widths[i]:
                    widths[i] = len(data)
                cells.append(data)
            chunk.append(cells)
            self.rows += 1
            if len(chunk) == SPOOL_CHUNK:
                pickle.dump(chunk, file, pickle.HIGHEST_PROTOCOL)
                chunk = []
        if chunk:
            pickle.dump(chunk, file, pickle.HIGHEST_PROTOCOL)

    def __iter__(self) -> Iterator[list[Any]]:
        self.file.seek(0)
        while True:
            try:
                chunk = pickle.load(self.file)
            except EOFError:
                return
            yield from chunk


def _now() -> datetime:
    return datetime.now()


# --- SPSS ------------------------------------------------------------------------------

# SPSS keeps at most 32,767 bytes in a text; longer ones are cut to that, ending with "…".
SPSS_STRING_BYTES = 32767
SPSS_VARIABLE_LABEL_BYTES = 255
SPSS_VALUE_LABEL_BYTES = 120
SYSMIS = -1.7976931348623157e308  # -DBL_MAX, SPSS's system-missing value
_SYSMIS_BYTES = struct.pack("<d", SYSMIS)
_HIGHEST = struct.pack("<d", 1.7976931348623157e308)
_LOWEST = struct.pack("<Q", 0xFFEFFFFFFFFFFFFE)  # the double just above SYSMIS
_MEASURES = {"": 0, "nominal": 1, "ordinal": 2, "scale": 3}
_FORMAT_F8_2 = (5 << 16) | (8 << 8) | 2
_SPACES8 = b" " * 8
# Bytecode compression: a block of 8 codes, then the 8-byte values the codes call for.
_CODE_RAW, _CODE_SPACES, _CODE_SYSMIS = 253, 254, 255
_BIAS = 100


def _segments(width: int) -> list[int]:
    """The widths of the segments a text of ``width`` bytes is stored in.

    A text longer than 255 bytes (a "very long string") is stored as segments of 255
    bytes, one per 252 bytes of width, the last one taking the rest.
    """
    if width <= 255:
        return [width]
    count = (width + 251) // 252
    return [255] * (count - 1) + [width - (count - 1) * 252]


def _round8(width: int) -> int:
    return (width + 7) // 8 * 8


class _ShortNames:
    """Unique 8-byte upper-case names for the variable records (the real, long names are
    in the long-names record)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def make(self, name: str) -> bytes:
        short = name.upper()[:8]
        number = 0
        while short in self.taken:
            number += 1
            suffix = str(number)
            short = name.upper()[: 8 - len(suffix)] + suffix
        self.taken.add(short)
        return short.encode("ascii").ljust(8)


def _record(out: IO[bytes], subtype: int, size: int, data: bytes) -> None:
    """An extension record (type 7)."""
    out.write(struct.pack("<4i", 7, subtype, size, len(data) // size) + data)


def _variable_record(
    out: IO[bytes], kind: int, short: bytes, label: bytes | None, format_code: int
) -> None:
    out.write(struct.pack("<5i", 2, kind, label is not None, 0, format_code))
    out.write(struct.pack("<i", format_code) + short)
    if label is not None:
        out.write(struct.pack("<i", len(label)) + label.ljust(len(label) + -len(label) % 4))


def _continuations(out: IO[bytes], count: int) -> None:
    """The records that continue a text wider than 8 bytes, one per further 8 bytes."""
    out.write((struct.pack("<6i", 2, -1, 0, 0, 0, 0) + _SPACES8) * count)


class _Bytecode:
    """The SPSS bytecode compressor: codes in blocks of 8, each block followed by the
    8-byte values of its code-253 entries. Small whole numbers fit in their code, and 8
    spaces of text in code 254.

    ``layout`` has, for each column, None for a number or the storage sizes (multiples
    of 8) of a text's segments.
    """

    def __init__(self, out: IO[bytes], layout: Sequence[Sequence[int] | None]) -> None:
        self.out = out
        self.layout = layout
        # Codes and values repeat (option codes, empty texts, a document's province):
        # each column keeps the encodings of its last few short cells.
        self.caches: list[dict[Any, tuple[bytes, list[bytes]]]] = [{} for _ in layout]
        # Codes not yet written, and for each the 8 bytes it calls for (b"" for none).
        self.codes = bytearray()
        self.data: list[bytes] = []

    def row(self, cells: Sequence[Any]) -> None:
        """Add a row of the spool: numbers (or None) and texts as bytes."""
        codes, data = self.codes, self.data
        for cell, sizes, cache in zip(cells, self.layout, self.caches, strict=True):
            found = cache.get(cell)
            if found is None:
                found = _encode(cell, sizes)
                if cell is None or cell.__class__ is float or len(cell) <= _CACHED_TEXT:
                    if len(cache) == _CACHE_SIZE:
                        cache.clear()
                    cache[cell] = found
            codes += found[0]
            data += found[1]
        full = len(codes) // 8 * 8
        if full:
            parts: list[bytes] = []
            for start in range(0, full, 8):
                parts.append(bytes(codes[start : start + 8]))
                parts.extend(data[start : start + 8])
            self.out.write(b"".join(parts))
            del codes[:full]
            del data[:full]

    def close(self) -> None:
        """Write the last, partly filled block (code 0 is padding)."""
        if self.codes:
            self.out.write(bytes(self.codes).ljust(8, b"\x00") + b"".join(self.data))
            self.codes.clear()
            self.data.clear()


_CACHE_SIZE = 64
_CACHED_TEXT = 64


def _encode(cell: Any, sizes: Sequence[int] | None) -> tuple[bytes, list[bytes]]:
    """A cell's codes, and for each code the 8 bytes it calls for (b"" for none)."""
    if sizes is None:
        if cell is None:
            return _SYSMIS_CODE, [b""]
        if -_BIAS < cell <= 251 - _BIAS and cell.is_integer():
            return bytes([int(cell) + _BIAS]), [b""]
        return _RAW_CODE, [_pack_double(cell)]
    if len(sizes) == 1:
        padded = cell.ljust(sizes[0])
    else:
        # A very long string: 255 bytes of text in each segment.
        padded = b"".join(cell[i * 255 : (i + 1) * 255].ljust(size) for i, size in enumerate(sizes))
    codes = bytearray()
    data: list[bytes] = []
    for start in range(0, len(padded), 8):
        piece = padded[start : start + 8]
        if piece == _SPACES8:
            codes.append(_CODE_SPACES)
            data.append(b"")
        else:
            codes.append(_CODE_RAW)
            data.append(piece)
    return bytes(codes), data


_pack_double = struct.Struct("<d").pack
_SYSMIS_CODE = bytes([_CODE_SYSMIS])
_RAW_CODE = bytes([_CODE_RAW])


def write_sav(path: str, columns: Sequence[DataColumn], rows: Iterable[Sequence[Any]]) -> int:
    """Write an SPSS system file (bytecode compressed, UTF-8); the row count.

    Variable labels are cut to 255 bytes and value labels to 120, at a character
    boundary; texts longer than 32,767 bytes are cut to that, ending with "…". Value
    labels of text columns are not written.
    """
    with tempfile.TemporaryFile() as file:
        spool = _Spool(file, columns, rows, max_bytes=SPSS_STRING_BYTES, cut_to=SPSS_STRING_BYTES)
        with open(path, "wb") as out:
            _write_sav(out, columns, spool)
    return spool.rows


def _write_sav(out: IO[bytes], columns: Sequence[DataColumn], spool: _Spool) -> None:
    widths = [0 if column.numeric else spool.widths[i] for i, column in enumerate(columns)]
    segments = [[0] if width == 0 else _segments(width) for width in widths]
    case_size = sum(
        1 if width == 0 else sum(_round8(s) // 8 for s in segs)
        for width, segs in zip(widths, segments, strict=True)
    )
    layout = list(zip(widths, segments, strict=True))
    now = _now()
    out.write(b"$FL2" + b"@(#) SPSS DATA FILE - annotator".ljust(60))
    out.write(struct.pack("<5i", 2, case_size, 1, 0, spool.rows) + struct.pack("<d", _BIAS))
    out.write(now.strftime("%d ").encode() + _month(now) + now.strftime(" %y%H:%M:%S").encode())
    out.write(b" " * 64 + bytes(3))

    shorts = _ShortNames()
    short_names: list[bytes] = []
    index = 1  # dictionary index (1-based, counting continuation records) of each column
    indexes: list[int] = []
    for column, width, segs in zip(columns, widths, segments, strict=True):
        indexes.append(index)
        short = shorts.make(column.name)
        short_names.append(short)
        label = cut_utf8(column.label.encode("utf-8"), SPSS_VARIABLE_LABEL_BYTES) or None
        if width == 0:
            _variable_record(out, 0, short, label, _FORMAT_F8_2)
            index += 1
            continue
        for number, segment in enumerate(segs):
            format_code = (1 << 16) | (min(width if number == 0 else segment, 255) << 8)
            name = short if number == 0 else shorts.make(column.name[:5] + str(number))
            _variable_record(out, segment, name, label if number == 0 else None, format_code)
            records = _round8(segment) // 8
            if records > 1:
                _continuations(out, records - 1)
            index += records

    for column, width, at in zip(columns, widths, indexes, strict=True):
        if width or not column.value_labels:
            continue
        labels = sorted(column.value_labels.items())
        out.write(struct.pack("<2i", 3, len(labels)))
        for code, text in labels:
            data = cut_utf8(text.encode("utf-8"), SPSS_VALUE_LABEL_BYTES)
            entry = bytes([len(data)]) + data
            out.write(struct.pack("<d", code) + entry.ljust(_round8(len(entry))))
        out.write(struct.pack("<3i", 4, 1, at))

    # Machine integer info: version 20.0.0, IEEE doubles, compression, little-endian, UTF-8.
    _record(out, 3, 4, struct.pack("<8i", 20, 0, 0, -1, 1, 1, 2, 65001))
    _record(out, 4, 8, _SYSMIS_BYTES + _HIGHEST + _LOWEST)
    display = b"".join(
        struct.pack("<3i", _MEASURES.get(column.measure, 0), 8, 0 if width else 1)
        for column, width, segs in zip(columns, widths, segments, strict=True)
        for _ in segs
    )
    _record(out, 11, 4, display)
    long_names = b"\t".join(
        short.rstrip() + b"=" + column.name.encode("utf-8")
        for short, column in zip(short_names, columns, strict=True)
    )
    _record(out, 13, 1, long_names)
    very_long = b"".join(
        short.rstrip() + b"=" + f"{width:05d}".encode() + b"\x00\t"
        for short, width in zip(short_names, widths, strict=True)
        if width > 255
    )
    if very_long:
        _record(out, 14, 1, very_long)
    _record(out, 20, 1, b"UTF-8")
    out.write(struct.pack("<2i", 999, 0))

    compressor = _Bytecode(
        out, [None if width == 0 else [_round8(s) for s in segs] for width, segs in layout]
    )
    for row in spool:
        compressor.row(row)
    compressor.close()


_MONTHS = b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def _month(when: datetime) -> bytes:
    # Not strftime("%b"): the month's name must be English whatever the locale.
    return _MONTHS[when.month - 1]


# --- Stata -----------------------------------------------------------------------------

# Stata keeps a text of up to 2,045 bytes in the row; a longer one is cut to 2,000 bytes
# ending with "…" (strL columns, which hold more, are not used).
STATA_STRING_BYTES = 2045
STATA_STRING_CUT = 2000
STATA_DOUBLE = 65526
STATA_LARGEST = struct.unpack("<d", struct.pack("<Q", 0x7FDFFFFFFFFFFFFF))[0]
STATA_MISSING = struct.pack("<Q", 0x7FE0000000000000)  # "."
STATA_VALUE_LABEL_BYTES = 32000
STATA_VARIABLE_LABEL_BYTES = 320
# Words Stata does not take as variable names.
STATA_RESERVED = frozenset(
    {
        "_all", "_b", "byte", "_coef", "_cons", "double", "float", "if", "in", "int", "long",
        "_n", "_N", "_pi", "_pred", "_rc", "_skip", "strL", "using", "with",
    }
)  # fmt: skip


def _fixed(text: str, size: int) -> bytes:
    """A text as UTF-8, cut to fit ``size`` bytes with at least one NUL, NUL padded."""
    return cut_utf8(text.encode("utf-8"), size - 1).ljust(size, b"\x00")


def _tag(name: str, body: bytes) -> bytes:
    return f"<{name}>".encode() + body + f"</{name}>".encode()


def _value_label_table(name: str, labels: Mapping[int, str]) -> bytes:
    entries = sorted(labels.items())
    texts = [cut_utf8(text.encode("utf-8"), STATA_VALUE_LABEL_BYTES - 1) for _, text in entries]
    offsets, offset = [], 0
    for text in texts:
        offsets.append(offset)
        offset += len(text) + 1
    table = struct.pack("<2i", len(entries), offset)
    table += struct.pack(f"<{len(entries)}i", *offsets)
    table += struct.pack(f"<{len(entries)}i", *(code for code, _ in entries))
    table += b"".join(text + b"\x00" for text in texts)
    return _tag("lbl", struct.pack("<i", len(table)) + _fixed(name, 129) + bytes(3) + table)


def write_dta(
    path: str,
    columns: Sequence[DataColumn],
    rows: Iterable[Sequence[Any]],
    *,
    label_names: Mapping[str, str] | None = None,
) -> tuple[int, int]:
    """Write a Stata file, format 118 (Stata 14 and later, UTF-8): the row count and the
    number of texts cut.

    Texts longer than 2,045 bytes are cut to 2,000 bytes ending with "…"; variable labels
    are cut to 320 bytes at a character boundary. ``label_names`` names each labelled
    column's set of value labels (the column's name by default).
    """
    for column in columns:
        if column.name in STATA_RESERVED or (
            column.name.startswith("str") and column.name[3:].isdigit()
        ):
            raise StatFileError(f"{column.name!r} is a reserved word in Stata")
    with tempfile.TemporaryFile() as file:
        spool = _Spool(
            file,
            columns,
            rows,
            max_bytes=STATA_STRING_BYTES,
            cut_to=STATA_STRING_CUT,
            largest=STATA_LARGEST,
        )
        with open(path, "wb") as out:
            _write_dta(out, columns, spool, label_names or {})
    return spool.rows, spool.cut


def _write_dta(
    out: IO[bytes], columns: Sequence[DataColumn], spool: _Spool, label_names: Mapping[str, str]
) -> None:
    count = len(columns)
    if count > 32767:
        raise StatFileError(f"{count} columns: Stata files hold at most 32,767")
    widths = [0 if column.numeric else spool.widths[i] for i, column in enumerate(columns)]
    labelled = {
        column.name: label_names.get(column.name, column.name)
        for column in columns
        if column.numeric and column.value_labels
    }
    now = _now()
    stamp = now.strftime("%d ").encode() + _month(now) + now.strftime(" %Y %H:%M").encode()
    header = _tag(
        "header",
        _tag("release", b"118")
        + _tag("byteorder", b"LSF")
        + _tag("K", struct.pack("<H", count))
        + _tag("N", struct.pack("<Q", spool.rows))
        + _tag("label", struct.pack("<H", 0))
        + _tag("timestamp", bytes([len(stamp)]) + stamp),
    )
    sections = [
        _tag(
            "variable_types",
            b"".join(struct.pack("<H", width or STATA_DOUBLE) for width in widths),
        ),
        _tag("varnames", b"".join(_fixed(column.name, 129) for column in columns)),
        _tag("sortlist", bytes(2 * (count + 1))),
        _tag(
            "formats",
            b"".join(_fixed("%-9s" if width else "%10.0g", 57) for width in widths),
        ),
        _tag(
            "value_label_names",
            b"".join(_fixed(labelled.get(column.name, ""), 129) for column in columns),
        ),
        _tag(
            "variable_labels",
            b"".join(_fixed(column.label, STATA_VARIABLE_LABEL_BYTES + 1) for column in columns),
        ),
        _tag("characteristics", b""),
    ]
    row_size = sum(width or 8 for width in widths)
    data_size = len(b"<data></data>") + row_size * spool.rows
    strls = _tag("strls", b"")
    value_labels = _tag(
        "value_labels",
        b"".join(
            _value_label_table(labelled[column.name], column.value_labels)
            for column in columns
            if column.name in labelled
        ),
    )

    opening = b"<stata_dta>" + header
    offsets = [0, len(opening)]
    position = len(opening) + len(b"<map></map>") + 8 * 14
    for section in sections:
        offsets.append(position)
        position += len(section)
    offsets.append(position)  # <data>
    position += data_size
    offsets.append(position)  # <strls>
    position += len(strls)
    offsets.append(position)  # <value_labels>
    position += len(value_labels)
    offsets.append(position)  # </stata_dta>
    offsets.append(position + len(b"</stata_dta>"))  # the end of the file

    out.write(opening + _tag("map", struct.pack("<14Q", *offsets)) + b"".join(sections))
    out.write(b"<data>")
    packers = [(width, struct.Struct("<d").pack if width == 0 else None) for width in widths]
    for row in spool:
        parts: list[bytes] = []
        for cell, (width, pack) in zip(row, packers, strict=True):
            if pack is not None:
                parts.append(STATA_MISSING if cell is None else pack(cell))
            else:
                parts.append(cell.ljust(width, b"\x00"))
        out.write(b"".join(parts))
    out.write(b"</data>" + strls + value_labels + b"</stata_dta>")
