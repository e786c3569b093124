"""Fuzzing the codebook loader and the document importer with hypothesis.

Whatever they are given, they either succeed or refuse with their own error and a reason
(a codebook problem with its line, an import refusal); any other exception is a bug.

Bounded by default (a few seconds per test, derandomized so that CI is deterministic);
``ANNOTATOR_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py`` runs a longer, random search.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.codebook import Codebook, CodebookError, parse_codebook
from annotator.extraction import DocumentFormat, ExtractionLimits, RefusedFile, extract

from .conftest import FIXTURES, ROOT

LONG_RUN = int(os.environ.get("ANNOTATOR_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=LONG_RUN or 200,
    derandomize=not LONG_RUN,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CODEBOOKS = [
    path.read_text(encoding="utf-8") for path in sorted((ROOT / "codebook").glob("*.yaml"))
]
SMALL_CODEBOOK = """\
id: demo
title: Demo
variables:
  - id: kind
    type: single
    label: Kind
    options:
      - code: a
        label: A
      - code: b
        label: B
  - id: count
    type: integer
    label: Count
  - id: tags
    type: multiple
    label: Tags
    options: [{code: x, label: X}, {code: y, label: Y}]
"""
SOURCES = [SMALL_CODEBOOK, *CODEBOOKS]


def check_codebook(text: str) -> None:
    """A valid Codebook, or CodebookError whose every problem has a message."""
    try:
        codebook = parse_codebook(text, "fuzz.yaml")
    except CodebookError as error:
        assert error.problems, "a CodebookError without problems"
        for problem in error.problems:
            assert problem.message.strip()
            assert problem.line is None or 1 <= problem.line <= text.count("\n") + 2
            assert str(problem).startswith("fuzz.yaml")
        return
    assert isinstance(codebook, Codebook)


# --- codebooks: mutated text --------------------------------------------------------------

YAML_BITS = st.sampled_from(
    [":", "- ", "  ", "\t", "\n", "{", "}", "[", "]", "&a", "*a", "!!python/object:os.system",
     "'", '"', "#", "|", ">-", "~", "null", "yes", "1e999", "-1", "0x10", "<<: *a", "\x00",
     "\ufeff", "id:", "type:", "options:", "code:", "label:", "en:", "zh:", "单选"]
)  # fmt: skip


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """A shipped or small codebook with a few lines removed, repeated, swapped or spliced."""
    lines = draw(st.sampled_from(SOURCES)).split("\n")
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "swap", "insert", "splice", "cut"]))
        if action == "drop":
            del lines[at]
        elif action == "repeat":
            lines.insert(at, lines[at])
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif action == "insert":
            lines.insert(at, draw(st.text(max_size=40)))
        elif action == "splice":
            column = draw(st.integers(0, len(lines[at])))
            bit = draw(YAML_BITS)
            lines[at] = lines[at][:column] + bit + lines[at][column:]
        else:
            lines = lines[:at]
    return "\n".join(lines)


@FUZZ
@given(mutated_text())
def test_mutated_codebook_text(text: str) -> None:
    check_codebook(text)


# --- codebooks: mutated structure ---------------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)  # fmt: skip


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in a parsed YAML tree."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def mutated_structure(draw: st.DrawFn) -> str:
    """A codebook whose parsed tree had values replaced, removed or duplicated, dumped again."""
    tree = yaml.safe_load(draw(st.sampled_from(SOURCES)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths(tree)[1:]))
        parent = tree
        for key in where[:-1]:
            parent = parent[key]
        key = where[-1]
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "retype"]))
        if action == "replace":
            parent[key] = draw(JSONISH)
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(parent[key])
        else:
            value = parent[key]
            parent[key] = str(value) if not isinstance(value, str) else [value]
    return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)


@FUZZ
@given(mutated_structure())
def test_mutated_codebook_structure(text: str) -> None:
    check_codebook(text)


@FUZZ
@given(st.text(max_size=300))
def test_any_text_as_a_codebook(text: str) -> None:
    check_codebook(text)


# --- the importer ---------------------------------------------------------------------------

PDFS = [path.read_bytes() for path in sorted(FIXTURES.glob("*.pdf"))]
TEXTS = [
    path.read_bytes()
    for path in sorted(FIXTURES.iterdir())
    if path.suffix in (".txt", ".html", ".md")
]
# Small limits, so that a mutation that happens to make a heavy file stays fast.
LIMITS = ExtractionLimits(max_text_chars=2_000_000, max_page_objects=20_000, max_seconds=10)


def check_import(data: bytes, suffix: str) -> None:
    """The bytes are read into pages, or refused with a reason; nothing else."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("fuzz" + suffix)
        path.write_bytes(data)
        try:
            document = extract(path, max_bytes=5 * 2**20, limits=LIMITS)
        except RefusedFile as refusal:
            assert refusal.reason.strip()
            return
    assert isinstance(document.format, DocumentFormat)
    text = document.full_text
    assert "\x00" not in text
    for page in document.pages:
        assert text[page.start : page.end] == page.text


@st.composite
def mutated_bytes(draw: st.DrawFn, sources: list[bytes]) -> bytes:
    """A fixture with bytes flipped, deleted, inserted or cut off."""
    data = bytearray(draw(st.sampled_from(sources)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "zero"]))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif action == "insert":
            data[at:at] = draw(st.binary(max_size=32))
        elif action == "truncate":
            del data[at:]
        else:
            data[at : at + 16] = b"\x00" * 16
    return bytes(data)


SUFFIXES = st.sampled_from([".pdf", ".txt", ".html", ".htm", ".md", ".markdown"])


@FUZZ
@given(mutated_bytes(PDFS), SUFFIXES)
def test_mutated_pdfs(data: bytes, suffix: str) -> None:
    check_import(data, suffix)


@FUZZ
@given(mutated_bytes(TEXTS), SUFFIXES)
def test_mutated_text_documents(data: bytes, suffix: str) -> None:
    check_import(data, suffix)


ENCODINGS = st.sampled_from(
    ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "gb18030", "big5", "shift_jis", "latin-1", "cp1252", "utf-32"]
)  # fmt: skip
MARKUP = st.sampled_from(
    ["<html>", "<!doctype html>", "<meta charset=\"gbk\">", "<meta charset='utf-7'>",
     "<meta charset=base64>", "<title>", "</title>", "<script>", "<div>", "</div>", "<p>",
     "# ", "\n", "\f", "\r\n", "&amp;", "&#0;", "&#xD800;", "<!--", "-->", "%PDF-1.7",
     "中文", "\u200b", "\ufeff", "\x00", "<svg>", "<![CDATA["]
)  # fmt: skip


@FUZZ
@given(st.lists(MARKUP | st.text(max_size=20), max_size=30), ENCODINGS, SUFFIXES)
def test_random_markup_in_odd_encodings(parts: list[str], encoding: str, suffix: str) -> None:
    data = "".join(parts).encode(encoding, errors="replace")
    check_import(data, suffix)


@FUZZ
@given(st.binary(max_size=2000), SUFFIXES)
def test_random_bytes(data: bytes, suffix: str) -> None:
    check_import(data, suffix)


@pytest.mark.parametrize("source", SOURCES[1:], ids=["shipped-1", "shipped-2"][: len(SOURCES) - 1])
def test_the_unmutated_sources_are_valid(source: str) -> None:
    # The mutations start from valid codebooks: a refusal above is the mutation's doing.
    assert isinstance(parse_codebook(source, "ok.yaml"), Codebook)
