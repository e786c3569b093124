"""Tests for annotator.codebook: reading codebook files, and checking the values coders give."""

from __future__ import annotations

import ast
import contextlib
import decimal
import fractions
import json
import math
import pickle
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator import codebook as codebook_module
from annotator.codebook import (
    Codebook,
    CodebookError,
    Keyword,
    LocalizedText,
    Option,
    Problem,
    Variable,
    VariableType,
    load_codebook,
    parse_codebook,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "codebook").glob("*.yaml"))
DOCS = ROOT / "docs" / "codebook.md"

HEAD = "id: demo\ntitle: Demo\nvariables:\n"


def doc(body: str) -> str:
    """A codebook whose ``variables`` list is ``body``; the body's first line is line 4."""
    return HEAD + textwrap.indent(textwrap.dedent(body).lstrip("\n"), "  ")


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(CodebookError) as caught:
        parse_codebook(text, "test.yaml")
    return caught.value.problems


# --- Invalid codebooks: one case per kind of mistake ---------------------------------------------
# Each case: the file, then the line and a fragment of the message of the problem it must report.

DEPTH = """
- id: depth
  label: Depth
  type: ordinal
  options:
    - {code: low, label: Low}
    - {code: high, label: High}
"""

ERROR_CASES = [
    pytest.param("", None, "the codebook is empty", id="empty-file"),
    pytest.param("# only a comment\n\n", None, "the codebook is empty", id="comments-only"),
    pytest.param("~\n", None, "the codebook is empty", id="null-document"),
    pytest.param("- a\n- b\n", 1, "must be a mapping with 'id', 'title'", id="top-level-list"),
    pytest.param("just words\n", 1, "found 'just words'", id="top-level-scalar"),
    pytest.param(
        "id: demo\ntitle: [Demo\nvariables: []\n",
        3,
        "invalid YAML at column 10: while parsing a flow sequence (from line 2)",
        id="yaml-unclosed-bracket",
    ),
    pytest.param(
        'id: demo\ntitle: "Demo\n', 3, "while scanning a quoted scalar", id="yaml-unclosed-quote"
    ),
    pytest.param(
        "id: demo\ntitle: Demo: more\n",
        2,
        "mapping values are not allowed here",
        id="yaml-colon-in-plain-text",
    ),
    pytest.param("id: demo\n\ttitle: Demo\n", 2, "YAML does not allow tabs", id="yaml-tab-indent"),
    pytest.param("id: a\n---\nid: b\n", 2, "expected a single document", id="yaml-two-documents"),
    pytest.param("id: *nowhere\n", 1, "found undefined alias 'nowhere'", id="yaml-undefined-alias"),
    pytest.param("id: a\x00\n", 1, "invalid character #x0000", id="yaml-nul-character"),
    pytest.param("title: Demo\nvariables: []\n", 1, "missing 'id'", id="missing-codebook-id"),
    pytest.param("id:\ntitle: Demo\n", 1, "'id' is empty", id="empty-codebook-id"),
    pytest.param(
        "id: Demo Book\ntitle: Demo\n",
        1,
        "codebook id 'Demo Book' may contain only lowercase letters, digits and underscores "
        "(e.g. 'demo_book')",
        id="bad-codebook-slug",
    ),
    pytest.param("id: demo\nvariables: []\n", 1, "missing 'title'", id="missing-title"),
    pytest.param('id: demo\ntitle: "  "\n', 2, "'title' is empty", id="blank-title"),
    pytest.param(
        "id: demo\ntitle: [a, b]\n", 2, "'title' must be text or a mapping", id="title-is-a-list"
    ),
    pytest.param("id: demo\ntitle: Demo\n", 1, "missing 'variables'", id="missing-variables"),
    pytest.param(
        "id: demo\ntitle: Demo\nvariables: []\n",
        3,
        "'variables' is empty: a codebook needs at least one variable",
        id="no-variables",
    ),
    pytest.param(
        "id: demo\ntitle: Demo\nvariables: depth\n",
        3,
        "'variables' must be a list, found 'depth'",
        id="variables-not-a-list",
    ),
    pytest.param(
        "id: demo\ntitel: Demo\n", 2, "unknown key 'titel' (did you mean 'title'?)", id="top-typo"
    ),
    pytest.param(
        "id: demo\ntitle: Demo\nauthor: me\n",
        3,
        "unknown key 'author' (allowed: id, title, description, variables)",
        id="top-unknown-key",
    ),
    pytest.param(
        "id: demo\ntitle: Demo\ntitle: Again\n",
        3,
        "duplicate key 'title' (first on line 2): YAML would keep only the last",
        id="duplicate-top-key",
    ),
    pytest.param(
        "id: demo\ntitle: {en: Demo, en: Again}\n",
        2,
        "'title': duplicate key 'en'",
        id="duplicate-language",
    ),
    pytest.param(
        "id: demo\ntitle: {zh: 演示}\n", 2, "'title': missing 'en'", id="text-without-english"
    ),
    pytest.param(
        "id: demo\ntitle: {en: Demo, fr: Démo}\n",
        2,
        "'title': unknown key 'fr' (allowed: en, zh)",
        id="text-unknown-language",
    ),
    pytest.param(
        "id: demo\ntitle: Demo\ndescription: [a]\n",
        3,
        "'description' must be text or a mapping like {en: ..., zh: ...}, found a list",
        id="description-is-a-list",
    ),
    pytest.param(doc("- just text\n"), 4, "variable 1: expected a mapping", id="variable-not-map"),
    pytest.param(
        doc("- label: Depth\n  type: text\n"), 4, "variable 1: missing 'id'", id="variable-no-id"
    ),
    pytest.param(
        doc("- id: Depth-1\n  label: Depth\n  type: text\n"),
        4,
        "variable 1: variable id 'Depth-1' may contain only lowercase letters, digits and "
        "underscores (e.g. 'depth_1')",
        id="variable-bad-slug",
    ),
    pytest.param(
        doc("- id: depth\n  type: text\n"), 4, "variable 'depth': missing 'label'", id="no-label"
    ),
    pytest.param(
        doc("- id: depth\n  label: ''\n  type: text\n"),
        5,
        "variable 'depth': 'label' is empty",
        id="empty-label",
    ),
    pytest.param(
        doc("- id: depth\n  lable: Depth\n  type: text\n"),
        5,
        "variable 'depth': unknown key 'lable' (did you mean 'label'?)",
        id="variable-key-typo",
    ),
    pytest.param(
        doc("- id: depth\n  label: Depth\n  label: Again\n  type: text\n"),
        6,
        "variable 'depth': duplicate key 'label' (first on line 5)",
        id="duplicate-variable-key",
    ),
    pytest.param(
        doc("- id: depth\n  label: Depth\n"), 4, "variable 'depth': missing 'type'", id="no-type"
    ),
    pytest.param(
        doc("- id: depth\n  label: Depth\n  type: ordnal\n"),
        6,
        "variable 'depth': unknown type 'ordnal' (did you mean 'ordinal'?); "
        "allowed types: single, ordinal, multiple, number, yesno, text",
        id="unknown-type-typo",
    ),
    pytest.param(
        doc("- id: depth\n  label: Depth\n  type: boolean\n"),
        6,
        "unknown type 'boolean' (did you mean 'yesno'?)",
        id="unknown-type-alias",
    ),
    pytest.param(
        doc("- id: depth\n  label: Depth\n  type: category\n"),
        6,
        "unknown type 'category'; allowed types: single, ordinal,",
        id="unknown-type",
    ),
    pytest.param(
        doc("- id: depth\n  label: Depth\n  type: text\n  required: sometimes\n"),
        7,
        "variable 'depth': 'required' must be true or false, found 'sometimes'",
        id="required-not-bool",
    ),
    pytest.param(
        doc("- id: depth\n  label: Depth\n  type: text\n  required: 1\n"),
        7,
        "'required' must be true or false, found 1",
        id="required-is-number",
    ),
    pytest.param(
        doc("- id: depth\n  label: Depth\n  type: text\n  group: [a]\n"),
        7,
        "variable 'depth': 'group' must be text, found a list",
        id="group-not-text",
    ),
    pytest.param(
        doc("- id: depth\n  label: Depth\n  type: text\n  group: ''\n"),
        7,
        "'group' is empty",
        id="group-empty",
    ),
    pytest.param(
        doc(DEPTH + "- id: depth\n  label: Again\n  type: text\n"),
        10,
        "duplicate variable id 'depth' (first used on line 4)",
        id="duplicate-variable-id",
    ),
    pytest.param(
        doc(
            "- id: depth\n  label: Depth\n  type: ordinal\n  options:\n    - {code: low, label: Low}\n"
        ),
        7,
        "variable 'depth': ordinal needs at least 2 options, found 1",
        id="ordinal-one-option",
    ),
    pytest.param(
        doc("- id: kind\n  label: Kind\n  type: single\n"),
        4,
        "variable 'kind': single needs at least 1 option, found 0",
        id="single-without-options",
    ),
    pytest.param(
        doc("- id: tags\n  label: Tags\n  type: multiple\n  options: []\n"),
        7,
        "variable 'tags': multiple needs at least 1 option, found 0",
        id="multiple-empty-options",
    ),
    pytest.param(
        doc("- id: tags\n  label: Tags\n  type: multiple\n  options: low\n"),
        7,
        "'options' must be a list, found 'low'",
        id="options-not-a-list",
    ),
    pytest.param(
        doc("- id: year\n  label: Year\n  type: number\n  options:\n    - {code: a, label: A}\n"),
        7,
        "variable 'year': a number variable takes no options; remove 'options'",
        id="options-for-number",
    ),
    pytest.param(
        doc("- id: flag\n  label: Flag\n  type: yesno\n  options: [{code: y, label: Y}]\n"),
        7,
        "a yesno variable takes no options",
        id="options-for-yesno",
    ),
    pytest.param(
        doc("- id: note\n  label: Note\n  type: text\n  options: []\n"),
        7,
        "a text variable takes no options",
        id="options-for-text",
    ),
    pytest.param(
        doc("- id: kind\n  label: Kind\n  type: single\n  options:\n    - low\n"),
        8,
        "variable 'kind', option 1: expected a mapping of keys, found 'low'",
        id="option-not-a-mapping",
    ),
    pytest.param(
        doc("- id: kind\n  label: Kind\n  type: single\n  options:\n    - label: Low\n"),
        8,
        "variable 'kind', option 1: missing 'code'",
        id="option-without-code",
    ),
    pytest.param(
        doc("- id: kind\n  label: Kind\n  type: single\n  options:\n    - code: low\n"),
        8,
        "variable 'kind', option 'low': missing 'label'",
        id="option-without-label",
    ),
    pytest.param(
        doc("- id: kind\n  label: Kind\n  type: single\n  options:\n    - {code: yes, label: Y}\n"),
        8,
        'option code yes reads as true/false; put it in quotes: code: "yes"',
        id="option-code-bool",
    ),
    pytest.param(
        doc("- id: kind\n  label: Kind\n  type: single\n  options:\n    - {code: 1.5, label: A}\n"),
        8,
        "'code' must be text or a whole number, found 1.5",
        id="option-code-float",
    ),
    pytest.param(
        doc("- id: kind\n  label: Kind\n  type: single\n  options:\n    - {code: a b, label: A}\n"),
        8,
        "option code 'a b' may contain only letters, digits, '_', '-' and '.'",
        id="option-code-with-space",
    ),
    pytest.param(
        doc(
            "- id: kind\n  label: Kind\n  type: single\n  options:\n"
            "    - {code: 1, label: One}\n    - {code: '1', label: Also one}\n"
        ),
        9,
        "variable 'kind': duplicate option code '1' (first used on line 8)",
        id="duplicate-option-code",
    ),
    pytest.param(
        doc(
            "- id: kind\n  label: Kind\n  type: single\n  options:\n"
            "    - code: low\n      label: Low\n      defintion: Not high\n"
        ),
        10,
        "variable 'kind', option 'low': unknown key 'defintion' (did you mean 'definition'?)",
        id="option-key-typo",
    ),
    pytest.param(
        doc(
            "- id: kind\n  label: Kind\n  type: single\n  options:\n"
            "    - code: low\n      label: Low\n      label: Lower\n"
        ),
        10,
        "variable 'kind', option 'low': duplicate key 'label' (first on line 9)",
        id="duplicate-option-key",
    ),
    pytest.param(
        doc(
            "- id: kind\n  label: Kind\n  type: single\n  options:\n"
            "    - code: low\n      label: Low\n      include: small things\n"
        ),
        10,
        "'include' must be a list of text, found 'small things' (put each item on its own line",
        id="include-not-a-list",
    ),
    pytest.param(
        doc(
            "- id: kind\n  label: Kind\n  type: single\n  options:\n"
            "    - code: low\n      label: Low\n      keywords:\n        - [a, b]\n"
        ),
        11,
        "each item of 'keywords' must be text, found a list",
        id="keyword-not-text",
    ),
    pytest.param(
        doc(
            "- id: kind\n  label: Kind\n  type: single\n  options:\n"
            "    - code: low\n      label: Low\n      examples:\n        - ''\n"
        ),
        11,
        "'examples' has an empty item",
        id="empty-example",
    ),
    pytest.param(
        doc("- id: value\n  label: Value\n  type: number\n  min: 10\n  max: 5\n"),
        8,
        "variable 'value': min (10) is greater than max (5)",
        id="min-greater-than-max",
    ),
    pytest.param(
        doc("- id: value\n  label: Value\n  type: number\n  min: '5'\n"),
        7,
        "'min' must be a number, found '5'",
        id="min-is-text",
    ),
    pytest.param(
        doc("- id: value\n  label: Value\n  type: number\n  max: true\n"),
        7,
        "'max' must be a number, found true",
        id="max-is-bool",
    ),
    pytest.param(
        doc("- id: value\n  label: Value\n  type: number\n  max: .inf\n"),
        7,
        "'max' must be a finite number, found .inf",
        id="max-infinite",
    ),
    pytest.param(
        doc("- id: value\n  label: Value\n  type: number\n  level: nominal\n"),
        7,
        "level must be 'interval' or 'ratio' for a number variable, found 'nominal'",
        id="number-level",
    ),
    pytest.param(
        doc(DEPTH.replace("type: ordinal", "type: ordinal\n  level: interval")),
        7,
        "level 'interval' does not apply: ordinal variables are ordinal",
        id="level-for-ordinal",
    ),
    pytest.param(
        doc("- id: note\n  label: Note\n  type: text\n  min: 0\n"),
        7,
        "variable 'note': 'min' applies only to number variables, not text",
        id="min-for-text",
    ),
    pytest.param(
        doc("- id: flag\n  label: Flag\n  type: yesno\n  unit: CNY\n"),
        7,
        "'unit' applies only to number variables, not yesno",
        id="unit-for-yesno",
    ),
    pytest.param(
        doc("- id: note\n  label: Note\n  <<: 5\n  type: text\n"),
        6,
        "'<<' must merge a mapping or a list of mappings",
        id="bad-merge",
    ),
    pytest.param(
        doc("- &v {id: note, label: Note, type: text, <<: *v}\n"),
        4,
        "'<<' merges a mapping into itself",
        id="self-merge",
    ),
    pytest.param(
        doc("- id: note\n  label: Note\n  type: text\n  ? [a]\n  : b\n"),
        7,
        "a key must be plain text, found a list",
        id="non-text-key",
    ),
]


@pytest.mark.parametrize(("text", "line", "fragment"), ERROR_CASES)
def test_invalid_codebook_is_reported_with_line(text: str, line: int | None, fragment: str) -> None:
    problems = problems_of(text)
    matching = [p for p in problems if fragment in p.message]
    assert matching, f"no problem mentions {fragment!r}: {[str(p) for p in problems]}"
    assert matching[0].line == line
    assert matching[0].file == "test.yaml"


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = textwrap.dedent(
        """\
        id: Bad Id
        titel: Demo
        variables:
          - id: depth
            label: Depth
            type: ordinal
            options:
              - {code: low, label: Low}
          - id: depth
            label: Duplicate
            type: text
            required: maybe
          - id: value
            label: Value
            type: number
            min: 10
            max: 1
          - id: kind
            lable: Kind
            type: singel
          - id: tags
            label: Tags
            type: multiple
            options:
              - {code: a, label: A}
              - {code: a, label: Again}
              - {code: b}
        """
    )
    problems = problems_of(text)
    expected = [
        (1, "codebook id 'Bad Id' may contain only"),
        (1, "missing 'title'"),
        (2, "unknown key 'titel' (did you mean 'title'?)"),
        (7, "variable 'depth': ordinal needs at least 2 options, found 1"),
        (9, "duplicate variable id 'depth' (first used on line 4)"),
        (12, "variable 'depth': 'required' must be true or false, found 'maybe'"),
        (17, "variable 'value': min (10) is greater than max (1)"),
        (18, "variable 'kind': missing 'label'"),
        (19, "variable 'kind': unknown key 'lable' (did you mean 'label'?)"),
        (20, "variable 'kind': unknown type 'singel' (did you mean 'single'?)"),
        (26, "variable 'tags': duplicate option code 'a' (first used on line 25)"),
        (27, "variable 'tags', option 'b': missing 'label'"),
    ]
    actual = [(p.line, p.message) for p in problems]
    assert len(actual) == len(expected), actual
    for (line, message), (expected_line, fragment) in zip(actual, expected, strict=True):
        assert (line, message[: len(fragment)]) == (expected_line, fragment)


def test_error_text_lists_every_problem_one_per_line() -> None:
    error = CodebookError(
        [
            Problem(
                "wechat.yaml", 12, "variable 'depth': ordinal needs at least 2 options, found 1"
            ),
            Problem("wechat.yaml", None, "the codebook is empty"),
        ]
    )
    assert str(error) == (
        "wechat.yaml:12: variable 'depth': ordinal needs at least 2 options, found 1\n"
        "wechat.yaml: the codebook is empty"
    )
    assert pickle.loads(pickle.dumps(error)).problems == error.problems


# --- Valid codebooks ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_codebooks_load(path: Path) -> None:
    assert load_codebook(path).variables


def test_shipped_codebooks_include_the_study_and_use_every_type() -> None:
    names = {path.name for path in SHIPPED}
    assert "wechat_policing.yaml" in names
    other = [load_codebook(path) for path in SHIPPED if path.name != "wechat_policing.yaml"]
    assert any({v.type for v in cb.variables} == set(VariableType) for cb in other)


def test_study_codebook_has_the_variables_the_study_needs() -> None:
    codebook = load_codebook(ROOT / "codebook" / "wechat_policing.yaml")
    assert codebook.groups == ("Services", "Integration", "Data", "Document facts")
    depth = codebook.variable("integration_depth")
    assert depth.type is VariableType.ORDINAL
    assert depth.codes == ("zombie", "symbolic", "service_front_end", "operational", "deep_data")
    assert codebook.variable("service_type").type is VariableType.MULTIPLE
    assert "none_stated" in codebook.variable("data_collected").codes
    assert codebook.variable("procurement_value_cny").minimum == 0
    assert codebook.variable("year").level == "interval"
    assert codebook.variable("document_kind").option("tender") is not None
    keywords = {k for v in codebook.variables for o in v.options for k in o.keywords}
    assert {"实名认证", "人脸识别", "网上派出所", "悬赏通告", "警务云", "僵尸号"} <= keywords
    # Every label and option label is bilingual, so coders can work in either language.
    for variable in codebook.variables:
        assert variable.label.zh, variable.id
        for option in variable.options:
            assert option.label.zh, (variable.id, option.code)


def test_parsed_fields_and_defaults() -> None:
    codebook = parse_codebook(
        textwrap.dedent(
            """\
            id: demo
            title: {en: Demo, zh: 演示}
            variables:
              - id: kind
                label: No
                type: single
                level: nominal
                group: Facts
                options:
                  - code: 1
                    label: 2020
                    definition: {en: " The first. ", zh: 第一}
                    include: [a]
                    exclude: [b]
                    examples: [c]
                    keywords: [实名认证]
              - id: value
                label: Value
                description:
                type: number
                min: 0.0
                max: 2.5
                unit: CNY
              - id: note
                label: Note
                type: text
                required: yes
            """
        )
    )
    assert codebook.title == LocalizedText("Demo", "演示")
    kind = codebook.variable("kind")
    # A bare No or 2020 in a text field is the text the author wrote, not a bool or a number.
    assert kind.label == LocalizedText("No")
    assert kind.option("1") == Option(
        code="1",
        label=LocalizedText("2020"),
        definition=LocalizedText("The first.", "第一"),
        include=("a",),
        exclude=("b",),
        examples=("c",),
        keywords=("实名认证",),
    )
    assert kind.option("2") is None
    assert (kind.level, kind.required, kind.group) == ("nominal", False, "Facts")
    value = codebook.variable("value")
    assert (value.description, value.level, value.unit) == (None, "ratio", "CNY")
    assert value.minimum == 0 and isinstance(value.minimum, int)
    assert value.maximum == 2.5
    assert codebook.variable("note").required is True
    assert codebook.groups == ("Facts",)
    assert codebook.variables_in(None) == (value, codebook.variable("note"))
    with pytest.raises(KeyError):
        codebook.variable("nope")


def test_yaml_merge_keys_supply_defaults() -> None:
    codebook = parse_codebook(
        textwrap.dedent(
            """\
            id: demo
            title: Demo
            variables:
              - &base {id: first, label: First, type: text, group: Notes}
              - <<: *base
                id: second
                label: Second
            """
        )
    )
    second = codebook.variable("second")
    assert (second.label.en, second.type, second.group) == ("Second", VariableType.TEXT, "Notes")


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", LocalizedText("Depth", "深度"), "Depth"),
        ("zh", LocalizedText("Depth", "深度"), "深度"),
        ("zh-CN", LocalizedText("Depth", "深度"), "深度"),
        ("zh_Hans", LocalizedText("Depth", "深度"), "深度"),
        ("zh", LocalizedText("Depth"), "Depth"),
        ("fr", LocalizedText("Depth", "深度"), "Depth"),
        ("en", LocalizedText("", "深度"), "深度"),
    ],
)
def test_localized_text_falls_back(lang: str, text: LocalizedText, expected: str) -> None:
    assert text.get(lang) == expected


def test_variable_defaults_when_built_in_code() -> None:
    assert Variable("n", LocalizedText("N"), None, VariableType.NUMBER).level == "ratio"
    assert Variable("t", LocalizedText("T"), None, VariableType.MULTIPLE).level == "masi"
    assert Variable("t", LocalizedText("T"), None, "yesno").type is VariableType.YESNO  # type: ignore[arg-type]


# --- Round trips and fingerprints --------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_to_dict_round_trips(path: Path) -> None:
    codebook = load_codebook(path)
    data = codebook.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert Codebook.from_dict(json.loads(json.dumps(data))) == codebook
    # to_dict is in the file format, so it can be written back out as YAML.
    assert parse_codebook(yaml.safe_dump(data, allow_unicode=True)) == codebook
    assert Codebook.from_dict(data).fingerprint() == codebook.fingerprint()


FINGERPRINT_BASE = textwrap.dedent(
    """\
    id: demo
    title: Demo
    variables:
      - id: depth
        label: Depth
        type: ordinal
        options:
          - code: low
            label: Low
            definition: Little or none.
          - code: high
            label: High
    """
)


@pytest.mark.parametrize(
    "edited",
    [
        pytest.param("# Codebook for the demo study\n" + FINGERPRINT_BASE, id="comment-line"),
        pytest.param(FINGERPRINT_BASE.replace("Depth\n", "Depth   # how deep\n"), id="trailing"),
        pytest.param(FINGERPRINT_BASE.replace("\n  - id", "\n\n\n  - id"), id="blank-lines"),
        pytest.param(FINGERPRINT_BASE.replace("label: Low", "label: 'Low'"), id="quoting"),
        pytest.param(
            FINGERPRINT_BASE.replace("id: demo\ntitle: Demo", "title: Demo\nid: demo"),
            id="key-order",
        ),
        pytest.param(
            FINGERPRINT_BASE.replace(
                "    - code: high\n        label: High", "    - {code: high, label: High}"
            ),
            id="flow-style",
        ),
        pytest.param(FINGERPRINT_BASE + "    required: false\n", id="explicit-default"),
    ],
)
def test_fingerprint_ignores_formatting(edited: str) -> None:
    assert parse_codebook(edited) == parse_codebook(FINGERPRINT_BASE)
    assert parse_codebook(edited).fingerprint() == parse_codebook(FINGERPRINT_BASE).fingerprint()


@pytest.mark.parametrize(
    "edited",
    [
        pytest.param(
            FINGERPRINT_BASE.replace("Little or none.", "Little or nothing."), id="definition"
        ),
        pytest.param(FINGERPRINT_BASE.replace("label: High", "label: {en: High, zh: 高}"), id="zh"),
        pytest.param(FINGERPRINT_BASE + "    required: true\n", id="required"),
        pytest.param(FINGERPRINT_BASE.replace("id: demo", "id: demo2"), id="codebook-id"),
    ],
)
def test_fingerprint_changes_with_content(edited: str) -> None:
    fingerprint = parse_codebook(edited).fingerprint()
    assert fingerprint != parse_codebook(FINGERPRINT_BASE).fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([1, 2], "the codebook must be a mapping"),
        ({"id": "demo", "title": "Demo", "variables": [{"id": "x"}]}, "missing 'label'"),
        ({"id": "demo", "title": object(), "variables": []}, "found a value of type object"),
        ({"id": "demo", "title": "Demo", "variables": [], 1: "x"}, "unknown key '1'"),
    ],
)
def test_from_dict_reports_problems_without_lines(data: Any, fragment: str) -> None:
    with pytest.raises(CodebookError) as caught:
        Codebook.from_dict(data)
    assert any(fragment in p.message for p in caught.value.problems), caught.value
    assert all(p.line is None and p.file == "<dict>" for p in caught.value.problems)


def test_from_dict_survives_self_reference() -> None:
    data: dict[str, Any] = {"id": "demo", "title": "Demo"}
    data["variables"] = [data]
    with pytest.raises(CodebookError):
        Codebook.from_dict(data)


def test_from_dict_names_the_first_duplicate_by_position() -> None:
    variable = {"id": "x", "label": "X", "type": "text"}
    with pytest.raises(
        CodebookError, match=r"duplicate variable id 'x' \(first used by variable 1\)"
    ):
        Codebook.from_dict({"id": "demo", "title": "Demo", "variables": [variable, variable]})


# --- Loading files -----------------------------------------------------------------------------


def test_load_refuses_non_utf8_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: demo\ntitle: Café\n".encode("latin-1"))
    with pytest.raises(CodebookError) as caught:
        load_codebook(path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (str(path), 2)
    assert "not UTF-8" in problem.message and "0xe9" in problem.message


def test_load_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + FINGERPRINT_BASE.encode())
    assert load_codebook(path) == parse_codebook(FINGERPRINT_BASE)


def test_load_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CodebookError, match="cannot read file"):
        load_codebook(tmp_path / "nope.yaml")


def test_problems_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wechat.yaml"
    path.write_text(doc(DEPTH.replace("    - {code: high, label: High}\n", "")), "utf-8")
    with pytest.raises(CodebookError) as caught:
        load_codebook(path)
    assert str(caught.value) == (
        f"{path}:7: variable 'depth': ordinal needs at least 2 options, found 1"
    )


# --- Values ------------------------------------------------------------------------------------

VALUES = parse_codebook(
    textwrap.dedent(
        """\
        id: values
        title: Values
        variables:
          - id: kind
            label: Kind
            type: single
            options: [{code: a, label: A}, {code: b, label: B}, {code: 7, label: Seven}]
          - id: depth
            label: Depth
            type: ordinal
            required: true
            options: [{code: low, label: Low}, {code: mid, label: Mid}, {code: high, label: High}]
          - id: tags
            label: Tags
            type: multiple
            required: true
            options: [{code: x, label: X}, {code: y, label: Y}, {code: z, label: Z}]
          - id: amount
            label: Amount
            type: number
            min: 0
            max: 100
          - id: year
            label: Year
            type: number
            level: interval
          - id: flag
            label: Flag
            type: yesno
            required: true
          - id: note
            label: Note
            type: text
        """
    )
)

VALID_VALUES = [
    ("kind", None, None),
    ("kind", "a", "a"),
    ("kind", " b ", "b"),
    ("kind", "7", "7"),
    ("kind", 7, "7"),
    ("kind", "", None),
    ("depth", "high", "high"),
    ("tags", ["z", "x"], ["x", "z"]),
    ("tags", ["y", "y", "x"], ["x", "y"]),
    ("tags", ("y",), ["y"]),
    ("tags", {"z", "y"}, ["y", "z"]),
    ("tags", frozenset({"x"}), ["x"]),
    ("tags", [], None),
    ("amount", 5, 5),
    ("amount", 5.0, 5),
    ("amount", 2.5, 2.5),
    ("amount", 0, 0),
    ("amount", 100, 100),
    ("amount", "12", 12),
    ("amount", " 3.5 ", 3.5),
    ("amount", "1e1", 10),
    ("amount", "", None),
    ("amount", decimal.Decimal("2.50"), 2.5),
    ("amount", fractions.Fraction(1, 2), 0.5),
    ("year", -300, -300),
    ("year", 1e20, 10**20),
    ("flag", True, True),
    ("flag", False, False),
    ("flag", "yes", True),
    ("flag", " No ", False),
    ("flag", "true", True),
    ("flag", "是", True),
    ("flag", "否", False),
    ("flag", "", None),
    ("note", " A quote. ", "A quote."),
    ("note", "实名认证", "实名认证"),
    ("note", "   ", None),
]


@pytest.mark.parametrize(("variable", "value", "normalized"), VALID_VALUES)
def test_valid_values(variable: str, value: object, normalized: object) -> None:
    var = VALUES.variable(variable)
    assert var.check_value(value) is None
    result = var.normalize_value(value)
    assert result == normalized
    assert type(result) is type(normalized)
    # Normalising is idempotent, so stored values can be normalised again safely.
    assert var.normalize_value(result) == result


INVALID_VALUES = [
    ("kind", "c", "unknown option code 'c' (codes: a, b, 7)"),
    ("kind", True, "expected an option code, got True (true/false)"),
    ("kind", ["a"], "expected an option code, got a list"),
    ("kind", 1.5, "expected an option code, got 1.5"),
    ("depth", "very high", "unknown option code 'very high'"),
    ("tags", "x", "expected a list of option codes, got 'x'"),
    ("tags", {"x": True}, "expected a list of option codes, got a mapping"),
    ("tags", ["x", "q"], "unknown option code 'q' (codes: x, y, z)"),
    ("tags", ["q", "r", "q"], "unknown option codes 'q', 'r'"),
    ("tags", [None], "expected option codes, got None in the list"),
    ("tags", [""], "expected option codes, got an empty string in the list"),
    ("amount", True, "expected a number, got True (true/false)"),
    ("amount", -1, "-1 is below the minimum of 0"),
    ("amount", 100.5, "100.5 is above the maximum of 100"),
    ("amount", "101", "101 is above the maximum of 100"),
    ("amount", math.nan, "expected a finite number"),
    ("amount", math.inf, "expected a finite number"),
    ("amount", "inf", "expected a finite number, got 'inf'"),
    ("amount", "NaN", "expected a finite number"),
    ("amount", decimal.Decimal("NaN"), "expected a finite number"),
    ("amount", "12 CNY", "'12 CNY' is not a number"),
    ("amount", [1], "expected a number, got a list"),
    ("year", -math.inf, "expected a finite number"),
    ("flag", 1, "expected yes or no (true or false), got 1"),
    ("flag", "maybe", "got 'maybe'"),
    ("flag", object(), "got a value of type object"),
    ("note", 5, "expected text, got 5"),
    ("note", ["a"], "expected text, got a list"),
]


@pytest.mark.parametrize(("variable", "value", "message"), INVALID_VALUES)
def test_invalid_values(variable: str, value: object, message: str) -> None:
    var = VALUES.variable(variable)
    problem = var.check_value(value)
    assert problem is not None and message in problem
    with pytest.raises(ValueError, match=re.escape(problem)):
        var.normalize_value(value)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({}, ["depth", "tags", "flag"]),
        ({"depth": "low", "tags": ["x"], "flag": False}, []),
        ({"depth": None, "tags": [], "flag": ""}, ["depth", "tags", "flag"]),
        ({"depth": "  ", "tags": ["x"], "flag": True, "kind": None}, ["depth"]),
    ],
)
def test_missing_required(values: dict[str, object], missing: list[str]) -> None:
    assert VALUES.missing_required(values) == missing
    # Missing values are not invalid ones: required-ness is checked on submit.
    assert VALUES.check_values({k: v for k, v in values.items() if not v}) == {}


def test_check_and_normalize_whole_submissions() -> None:
    assert VALUES.check_values({"kind": "zz", "nope": 1, "note": "ok"}) == {
        "kind": "unknown option code 'zz' (codes: a, b, 7)",
        "nope": "'nope' is not a variable of codebook 'values'",
    }
    assert VALUES.normalize_values({"tags": ["z", "x"], "amount": "4.0"}) == {
        "tags": ["x", "z"],
        "amount": 4,
    }
    with pytest.raises(ValueError, match="amount: -2 is below the minimum of 0"):
        VALUES.normalize_values({"amount": -2})


# --- Fuzzing: whatever the input, the only failure is CodebookError ------------------------------

# No deadline: a slow CI machine must not turn a correct parse into a flaky failure.
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    *codebook_module._CODEBOOK_KEYS,
    *codebook_module._VARIABLE_KEYS,
    *codebook_module._OPTION_KEYS,
    "en",
    "zh",
    "<<",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from([*(t.value for t in VariableType), "interval", "ratio", "demo", "yes", "1.5"])
)
data_trees = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)


def parse_or_refuse(text: str) -> None:
    try:
        result = parse_codebook(text)
    except CodebookError as error:
        assert error.problems and all(isinstance(p, Problem) for p in error.problems)
        assert str(error)
    else:
        assert isinstance(result, Codebook)
        assert Codebook.from_dict(result.to_dict()) == result


@FUZZ
@given(st.text())
def test_fuzz_arbitrary_text(text: str) -> None:
    parse_or_refuse(text)


@FUZZ
@given(data_trees)
def test_fuzz_arbitrary_yaml_structures(data: object) -> None:
    parse_or_refuse(yaml.safe_dump(data, allow_unicode=True))
    with contextlib.suppress(CodebookError):
        Codebook.from_dict(data)  # type: ignore[arg-type]


STUDY_DATA = load_codebook(ROOT / "codebook" / "wechat_policing.yaml").to_dict()


def _paths(data: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


STUDY_PATHS = _paths(STUDY_DATA)[1:]


@FUZZ
@given(st.sampled_from(STUDY_PATHS), data_trees)
def test_fuzz_one_change_to_the_study_codebook(path: tuple[Any, ...], replacement: object) -> None:
    data = json.loads(json.dumps(STUDY_DATA))
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = replacement
    # from_dict runs the same checks as a file without the cost of writing and reading YAML.
    try:
        result = Codebook.from_dict(data)
    except CodebookError as error:
        assert error.problems
    else:
        assert Codebook.from_dict(result.to_dict()) == result


@FUZZ
@given(st.data())
def test_fuzz_edits_to_a_valid_file(data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(FINGERPRINT_BASE)))
    end = data.draw(st.integers(start, min(start + 12, len(FINGERPRINT_BASE))))
    inserted = data.draw(st.text(alphabet=st.sampled_from("-:[]{}&*!|>'\" #\n\tabc1"), max_size=6))
    parse_or_refuse(FINGERPRINT_BASE[:start] + inserted + FINGERPRINT_BASE[end:])


@FUZZ
@given(st.sampled_from(VALUES.variables), data_trees)
def test_fuzz_values_are_checked_not_crashed_on(variable: Variable, value: object) -> None:
    problem = variable.check_value(value)
    if problem is None:
        normalized = variable.normalize_value(value)
        assert variable.check_value(normalized) is None
        json.dumps(normalized, allow_nan=False)
    else:
        with pytest.raises(ValueError):
            variable.normalize_value(value)


def test_deep_nesting_is_refused_cleanly() -> None:
    with pytest.raises(CodebookError, match="nested too deeply"):
        parse_codebook("[" * 5000)


# --- The module and its documentation ----------------------------------------------------------


def test_module_imports_no_web_framework() -> None:
    tree = ast.parse(Path(codebook_module.__file__).read_text("utf-8"))
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
        )
    }
    assert not imported & {"flask", "flask_sqlalchemy", "sqlalchemy", "werkzeug", "annotator"}


@pytest.mark.parametrize(
    "key",
    sorted(
        {
            *codebook_module._CODEBOOK_KEYS,
            *codebook_module._VARIABLE_KEYS,
            *codebook_module._OPTION_KEYS,
            "en",
            "zh",
            *VariableType,
            *codebook_module.NUMBER_LEVELS,
        }
    ),
)
def test_every_key_and_type_is_documented(key: str) -> None:
    assert f"`{key}`" in DOCS.read_text("utf-8"), f"docs/codebook.md does not mention `{key}`"


def test_the_documented_example_is_a_valid_codebook() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text("utf-8"), re.S)
    examples = [block for block in blocks if block.startswith("id:")]
    assert examples
    for example in examples:
        assert parse_codebook(example, "docs/codebook.md").variables


# --- values as coders read them, and what differs between two sets of values -----------------


@pytest.mark.parametrize(
    ("variable", "value", "lang", "expected"),
    [
        ("document_kind", "tender", "en", "Tender notice"),
        ("document_kind", "tender", "zh", "招标（采购）公告"),
        ("service_type", ["public_relations", "crime_reporting"], "en", None),
        ("service_type", [], "en", ""),
        ("year", 2019, "en", "2019"),
        ("year", 2019.0, "en", "2019"),
        ("procurement_value_cny", 1250000.5, "en", "1250000.5"),
        ("vendor_is_tencent", True, "en", "yes"),
        ("vendor_is_tencent", False, "zh", "否"),
        ("city", "杭州市", "en", "杭州市"),
        ("city", None, "en", ""),
        ("document_kind", "not_a_code", "en", "not_a_code"),  # shown as it is, not hidden
    ],
)
def test_display_value(variable: str, value: Any, lang: str, expected: str | None) -> None:
    codebook = load_codebook(ROOT / "codebook" / "wechat_policing.yaml")
    v = codebook.variable(variable)
    if expected is None:  # a list shows each option's label, in the order given
        expected = "; ".join(v.option(code).label.get(lang) for code in value)  # type: ignore[union-attr]
    assert v.display_value(value, lang) == expected


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        ({}, {"year": 2019}, []),  # only the variables given are compared
        ({"year": 2019}, {"year": 2019}, []),
        ({"year": "2019"}, {"year": 2019}, []),  # as normalised
        ({"year": "2019.0"}, {"year": 2019}, []),
        ({"year": 2020}, {"year": 2019}, ["year"]),
        ({"year": None}, {"year": 2019}, ["year"]),
        ({"year": ""}, {}, []),  # empty is missing
        (
            {"service_type": ["crime_reporting", "public_relations"]},
            {"service_type": ["public_relations", "crime_reporting"]},
            [],
        ),
        (
            {"service_type": ["public_relations"]},
            {"service_type": ["public_relations", "crime_reporting"]},
            ["service_type"],
        ),
        ({"vendor_is_tencent": "yes"}, {"vendor_is_tencent": True}, []),
        ({"vendor_is_tencent": "no"}, {"vendor_is_tencent": True}, ["vendor_is_tencent"]),
        ({"city": " 杭州市 "}, {"city": "杭州市"}, []),
        ({"year": "abc"}, {"year": None}, ["year"]),  # an invalid value differs from everything
        ({"vendor": "x", "year": 1, "city": "y"}, {}, ["city", "year", "vendor"]),  # codebook order
    ],
)
def test_differences(mine: dict[str, Any], theirs: dict[str, Any], expected: list[str]) -> None:
    codebook = load_codebook(ROOT / "codebook" / "wechat_policing.yaml")
    assert [v.id for v in codebook.differences(mine, theirs)] == expected


def test_keywords_name_their_variable_and_option_in_codebook_order() -> None:
    codebook = parse_codebook(
        textwrap.dedent(
            """\
            id: demo
            title: Demo
            variables:
              - id: service
                label: {en: Service, zh: 服务}
                type: multiple
                options:
                  - {code: alarm, label: {en: Alarm, zh: 报警}, keywords: [微信报警, " 110 ", 110]}
                  - {code: other, label: Other}
                  - {code: verify, label: {en: Verification, zh: 认证}, keywords: [刷脸]}
              - id: data
                label: Data
                type: multiple
                options:
                  - {code: face, label: Face, keywords: [刷脸]}
              - id: year
                label: Year
                type: number
            """
        )
    )
    assert codebook.keywords() == [
        ("微信报警", "service", "alarm", "Service", "Alarm"),
        ("110", "service", "alarm", "Service", "Alarm"),
        ("刷脸", "service", "verify", "Service", "Verification"),
        ("刷脸", "data", "face", "Data", "Face"),
    ]
    assert codebook.keywords("zh")[0] == Keyword("微信报警", "service", "alarm", "服务", "报警")
    assert codebook.keywords()[0]._asdict()["option_label"] == "Alarm"
