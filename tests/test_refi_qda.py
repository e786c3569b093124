"""REFI-QDA export: the pure writer (tables of cases) and the project written from the database."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from lxml import etree

from annotator import refi_qda
from annotator.codebook import (
    Codebook,
    LocalizedText,
    Option,
    Variable,
    VariableType,
    load_codebook,
)
from annotator.extensions import db
from annotator.extraction import PAGE_SEPARATOR
from annotator.models import Codebook as CodebookModel
from annotator.models import CodebookVersion

from .conftest import STUDY_CODEBOOK, Project

NS = {"q": refi_qda.PROJECT_NAMESPACE, "c": refi_qda.CODEBOOK_NAMESPACE}
GUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")


def small_codebook(variable_label: str = "Kind", option_label: str = "Tender") -> Codebook:
    return Codebook(
        id="cb",
        title=LocalizedText("Codebook", "编码本"),
        variables=(
            Variable(
                id="kind",
                label=LocalizedText(variable_label, "类型"),
                description=LocalizedText("What the document is", "文件类型"),
                type=VariableType.SINGLE,
                options=(
                    Option("tender", LocalizedText(option_label, "招标")),
                    Option("award", LocalizedText("Award", "中标")),
                ),
            ),
            Variable(
                id="services",
                label=LocalizedText("Services"),
                description=None,
                type=VariableType.MULTIPLE,
                options=(
                    Option("a", LocalizedText("A")),
                    Option("b", LocalizedText("B")),
                    Option("c", LocalizedText("C")),
                ),
            ),
            Variable(
                id="vendor",
                label=LocalizedText("Vendor", "供应商"),
                description=None,
                type=VariableType.TEXT,
            ),
        ),
    )


def one_source_project(
    text: str, segments: list[tuple[int, int]], name: str = "doc.txt"
) -> refi_qda.Project:
    codes = refi_qda.code_tree(small_codebook())
    source = refi_qda.Source(guid=refi_qda.source_guid("0" * 64), name=name, text=text)
    user = refi_qda.User(guid=refi_qda.user_guid("alice"), name="Alice", id="alice")
    return refi_qda.Project(
        name="P",
        codes=codes,
        users=(user,),
        sources=(source,),
        segments=tuple(
            refi_qda.Segment(source.guid, start, end, codes[0].guid, user.guid)
            for start, end in segments
        ),
    )


# --- GUIDs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "args", "other"),
    [
        (refi_qda.user_guid, ("alice",), ("bob",)),
        (refi_qda.source_guid, ("a" * 64,), ("b" * 64,)),
        (refi_qda.variable_guid, ("cb", "kind"), ("cb", "vendor")),
        (refi_qda.option_guid, ("cb", "kind", "tender"), ("cb", "kind", "award")),
        (refi_qda.option_guid, ("cb", "kind", "tender"), ("other", "kind", "tender")),
        (refi_qda.guid, ("x", "y"), ("x\x1fy",)),
    ],
)
def test_guids_are_stable_distinct_and_well_formed(
    make: Callable[..., str], args: tuple[str, ...], other: tuple[str, ...]
) -> None:
    assert make(*args) == make(*args)
    assert make(*args) != make(*other)
    assert GUID.match(make(*args))


def test_the_guid_of_a_key_never_changes() -> None:
    # A changed GUID would make re-imported projects duplicate their codes.
    assert refi_qda.user_guid("alice") == "7C61E24B-A8F9-5ED8-AE03-310B92CD109C"


def test_variable_and_option_guids_differ() -> None:
    assert refi_qda.variable_guid("cb", "kind") != refi_qda.option_guid("cb", "kind", "")


# --- the code tree -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "names"),
    [
        ("en", [("Kind", ["Tender", "Award"]), ("Services", ["A", "B", "C"]), ("Vendor", [])]),
        ("zh", [("类型", ["招标", "中标"]), ("Services", ["A", "B", "C"]), ("供应商", [])]),
        ("zh-CN", [("类型", ["招标", "中标"]), ("Services", ["A", "B", "C"]), ("供应商", [])]),
    ],
)
def test_code_tree_has_a_code_per_variable_and_a_child_per_option(
    lang: str, names: list[tuple[str, list[str]]]
) -> None:
    codes = refi_qda.code_tree(small_codebook(), lang)
    assert [(c.name, [k.name for k in c.children]) for c in codes] == names
    assert codes[0].guid == refi_qda.variable_guid("cb", "kind")
    assert codes[0].children[1].guid == refi_qda.option_guid("cb", "kind", "award")
    assert all(code.codable for top in codes for code in top.walk())


@pytest.mark.parametrize(
    ("lang", "description"),
    [
        ("en", "What the document is\n\nkind (single)"),
        ("zh", "文件类型\n\nkind (single)"),
    ],
)
def test_code_descriptions_trace_back_to_the_codebook(lang: str, description: str) -> None:
    codes = refi_qda.code_tree(small_codebook(), lang)
    assert codes[0].description == description
    assert codes[0].children[0].description == "kind = tender"
    assert codes[2].description == "vendor (text)"


def test_code_tree_of_the_study_codebook_covers_every_variable_and_option() -> None:
    codebook = load_codebook(STUDY_CODEBOOK)
    codes = refi_qda.code_tree(codebook)
    assert [c.guid for c in codes] == [
        refi_qda.variable_guid(codebook.id, v.id) for v in codebook.variables
    ]
    assert [len(c.children) for c in codes] == [len(v.options) for v in codebook.variables]
    all_guids = [code.guid for top in codes for code in top.walk()]
    assert len(all_guids) == len(set(all_guids))


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("kind", "award", [("kind", "award")]),
        ("kind", None, [("kind", None)]),
        ("kind", "unknown", [("kind", None)]),
        ("services", ["c", "a"], [("services", "a"), ("services", "c")]),
        ("services", [], [("services", None)]),
        ("vendor", "Tencent", [("vendor", None)]),
    ],
)
def test_codes_for_value(
    variable: str, value: object, expected: list[tuple[str, str | None]]
) -> None:
    codebook = small_codebook()
    got = refi_qda.codes_for_value("cb", codebook.variable(variable), value)
    assert got == [
        refi_qda.variable_guid("cb", v) if o is None else refi_qda.option_guid("cb", v, o)
        for v, o in expected
    ]


# --- positions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pages", "page", "start", "end", "quote"),
    [
        (["abc", "def"], 1, 0, 3, "abc"),
        (["abc", "def"], 2, 1, 3, "ef"),
        (["第一页文本", "第二页：公安微信"], 2, 4, 8, "公安微信"),
        (["", "", "x"], 3, 0, 1, "x"),
        (["a\tb\n", "", "  end  "], 3, 2, 5, "end"),
    ],
)
def test_page_offsets_become_offsets_in_the_plain_text(
    pages: list[str], page: int, start: int, end: int, quote: str
) -> None:
    text = refi_qda.plain_text(pages)
    assert text == PAGE_SEPARATOR.join(pages)
    first, last = refi_qda.document_span(refi_qda.page_starts(pages)[page - 1], start, end)
    assert text[first:last] == quote


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (3, 2)])
def test_bad_offsets_are_refused(start: int, end: int) -> None:
    with pytest.raises(ValueError):
        refi_qda.document_span(0, start, end)


def test_a_segment_outside_the_text_is_refused() -> None:
    with pytest.raises(ValueError, match="outside the text"):
        refi_qda.project_xml(one_source_project("short", [(2, 9)]))


# --- XML ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        'Tender <b>&amp; "quotes"</b>',
        "]]> <!-- --> <?pi?>",
        "bad\x00control\x0bcharacters\x1f and \ufffe",
        "公安微信 “引号” 《书名》",
        "' OR 1=1; --",
    ],
)
def test_hostile_names_are_escaped_and_stay_valid(name: str) -> None:
    codes = refi_qda.code_tree(small_codebook(variable_label=name, option_label=name))
    project = refi_qda.Project(name=name, codes=codes, description=name)
    xml = refi_qda.project_xml(project)
    refi_qda.validate(xml)
    root = etree.fromstring(xml)
    expected = refi_qda.xml_safe(name)
    assert root.get("name") == expected
    assert root.xpath("string(q:CodeBook/q:Codes/q:Code/@name)", namespaces=NS) == expected
    qdc = etree.fromstring(refi_qda.codebook_xml(codes))
    assert qdc.xpath("string(c:Codes/c:Code/c:Code/@name)", namespaces=NS) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("plain", "plain"), ("a\x00b", "ab"), ("tab\tnew\nline", "tab\tnew\nline"), ("\f", "")],
)
def test_xml_safe(text: str, expected: str) -> None:
    assert refi_qda.xml_safe(text) == expected


def test_one_selection_per_passage_and_coder_with_a_coding_per_code() -> None:
    codes = refi_qda.code_tree(small_codebook())
    a, c = codes[1].children[0].guid, codes[1].children[2].guid
    source = refi_qda.Source(guid=refi_qda.source_guid("1" * 64), name="d", text="hello world")
    alice, bob = refi_qda.user_guid("alice"), refi_qda.user_guid("bob")
    when = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    project = refi_qda.Project(
        name="P",
        codes=codes,
        users=(refi_qda.User(alice, "Alice"), refi_qda.User(bob, "Bob")),
        sources=(source,),
        segments=(
            refi_qda.Segment(source.guid, 0, 5, a, alice, when),
            refi_qda.Segment(source.guid, 0, 5, c, alice, when),
            refi_qda.Segment(source.guid, 0, 5, a, bob),
        ),
    )
    xml = refi_qda.project_xml(project)
    refi_qda.validate(xml)
    selections = etree.fromstring(xml).findall(".//q:PlainTextSelection", NS)
    assert [(s.get("creatingUser"), s.get("name")) for s in selections] == [
        (alice, "hello"),
        (bob, "hello"),
    ]
    assert selections[0].get("creationDateTime") == "2026-03-01T08:30:00Z"
    assert [r.get("targetGUID") for r in selections[0].findall(".//q:CodeRef", NS)] == [a, c]


def test_an_empty_project_is_valid() -> None:
    refi_qda.validate(refi_qda.project_xml(refi_qda.Project(name="empty")))


@pytest.mark.parametrize(
    "xml",
    [
        b"<Project xmlns='urn:QDA-XML:project:1.0'/>",  # name is required
        b"<Project xmlns='urn:QDA-XML:project:1.0' name='p'><Sources/></Project>",
        b"<Project name='p'/>",  # no namespace
        b"<not xml",
    ],
)
def test_validate_reports_lxml_messages(xml: bytes) -> None:
    with pytest.raises(refi_qda.InvalidRefiQda) as raised:
        refi_qda.validate(xml)
    assert raised.value.errors


def test_qdpx_is_reproducible_and_holds_text_and_pdf(tmp_path: Path) -> None:
    pdf = tmp_path / "stored"
    pdf.write_bytes(b"%PDF-1.4 fake")
    text = "第一页" + PAGE_SEPARATOR + "第二页"
    sources = (
        refi_qda.Source(
            guid=refi_qda.source_guid("p"), name="a.pdf", text=text, original=pdf, extension="pdf"
        ),
        refi_qda.Source(guid=refi_qda.source_guid("t"), name="b.md", text="# hi", extension="txt"),
    )
    project = refi_qda.Project(name="P", sources=sources)
    first, second = io.BytesIO(), io.BytesIO()
    refi_qda.write_qdpx(project, first)
    refi_qda.write_qdpx(project, second)
    assert first.getvalue() == second.getvalue()
    with zipfile.ZipFile(first) as archive:
        names = set(archive.namelist())
        xml = archive.read("project.qde")
        refi_qda.validate(xml)
        root = etree.fromstring(xml)
        pdf_source = root.find("q:Sources/q:PDFSource", NS)
        assert pdf_source is not None
        assert archive.read(f"sources/{refi_qda.original_path(sources[0])}") == pdf.read_bytes()
        representation = pdf_source.find("q:Representation", NS)
        assert representation is not None
        txt = representation.get("plainTextPath", "").removeprefix("internal://")
        assert archive.read(f"sources/{txt}").decode("utf-8") == text
        assert root.find("q:Sources/q:TextSource", NS) is not None
    assert names == {
        "project.qde",
        f"sources/{refi_qda.original_path(sources[0])}",
        f"sources/{refi_qda.text_path(sources[0])}",
        f"sources/{refi_qda.text_path(sources[1])}",
    }


def test_codebook_xml_has_the_code_tree() -> None:
    codes = refi_qda.code_tree(load_codebook(STUDY_CODEBOOK), "zh")
    root = etree.fromstring(refi_qda.codebook_xml(codes))
    assert root.tag == f"{{{refi_qda.CODEBOOK_NAMESPACE}}}CodeBook"
    top = root.findall("c:Codes/c:Code", NS)
    assert [c.get("guid") for c in top] == [c.guid for c in codes]
    assert top[0].get("name") == codes[0].name
    assert len(root.findall(".//c:Code", NS)) == sum(len(list(c.walk())) for c in codes)


def test_codebook_codes_have_the_shape_of_the_project_schema() -> None:
    """Until Codebook.xsd is vendored: a .qdc's codes, moved into a project, are valid.

    The codebook schema's Code (guid, name, isCodable, color; Description, then Codes) is the
    project schema's without NoteRef, so this checks every code the .qdc holds.
    """
    codes = refi_qda.code_tree(load_codebook(STUDY_CODEBOOK), "zh")
    qdc = refi_qda.codebook_xml(codes).decode("utf-8")
    as_project = (
        qdc.replace(refi_qda.CODEBOOK_NAMESPACE, refi_qda.PROJECT_NAMESPACE)
        .replace(
            '<CodeBook xmlns="urn:QDA-XML:project:1.0" origin="annotator">',
            '<Project xmlns="urn:QDA-XML:project:1.0" name="p"><CodeBook>',
        )
        .replace("</CodeBook>", "</CodeBook></Project>")
    )
    refi_qda.validate(as_project.encode("utf-8"))


@pytest.mark.skipif(
    not (refi_qda.SCHEMA_DIR / "Codebook.xsd").is_file(),
    reason="Codebook.xsd is not vendored (see annotator/schemas/refi-qda/README.md)",
)
def test_codebook_validates_against_codebook_xsd() -> None:
    codes = refi_qda.code_tree(load_codebook(STUDY_CODEBOOK), "zh")
    refi_qda.validate(refi_qda.codebook_xml(codes), which="codebook")


def test_without_codebook_xsd_validation_says_so() -> None:
    if (refi_qda.SCHEMA_DIR / "Codebook.xsd").is_file():
        pytest.skip("Codebook.xsd is vendored")
    with pytest.raises(refi_qda.SchemaMissing):
        refi_qda.validate(b"<x/>", which="codebook")


# --- variables, cases and whole-source codings ---------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("kind", "award", [("kind", "award")]),
        ("kind", None, []),
        ("kind", "unknown", []),
        ("services", ["c", "a"], [("services", "a"), ("services", "c")]),
        ("services", [], []),
        ("vendor", "Tencent", []),
    ],
)
def test_option_codes_never_fall_back_to_the_variable(
    variable: str, value: object, expected: list[tuple[str, str]]
) -> None:
    got = refi_qda.option_codes("cb", small_codebook().variable(variable), value)
    assert got == [refi_qda.option_guid("cb", v, o) for v, o in expected]


@pytest.mark.parametrize(
    ("kind", "value", "element", "text"),
    [
        ("Text", "广东省深圳市", "TextValue", "广东省深圳市"),
        ("Text", 2019, "TextValue", "2019"),
        ("Integer", 2019, "IntegerValue", "2019"),
        ("Float", Decimal("1234567.50"), "FloatValue", "1234567.50"),
        ("Float", 1e-7, "FloatValue", "0.0000001"),
        ("Float", 2.5e20, "FloatValue", "250000000000000000000"),
        ("Float", 300, "FloatValue", "300"),
        ("Boolean", False, "BooleanValue", "false"),
        ("Boolean", True, "BooleanValue", "true"),
        ("Date", date(2026, 3, 1), "DateValue", "2026-03-01"),
        (
            "DateTime",
            datetime(2026, 3, 1, 16, 30, tzinfo=timezone(timedelta(hours=8))),
            "DateTimeValue",
            "2026-03-01T08:30:00Z",
        ),
    ],
)
def test_typed_value(kind: refi_qda.VariableKind, value: object, element: str, text: str) -> None:
    assert refi_qda.typed_value(kind, value) == (element, text)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("Integer", "2019"),
        ("Integer", True),
        ("Integer", 2019.0),
        ("Float", float("nan")),
        ("Float", Decimal("Infinity")),
        ("Float", True),
        ("Boolean", "yes"),
        ("Boolean", 1),
        ("Date", datetime(2026, 3, 1, tzinfo=UTC)),
        ("DateTime", date(2026, 3, 1)),
    ],
)
def test_typed_value_refuses_what_the_kind_cannot_hold(
    kind: refi_qda.VariableKind, value: object
) -> None:
    with pytest.raises(ValueError):
        refi_qda.typed_value(kind, value)


def target(element: Any, path: str) -> str:
    """The ``targetGUID`` of the first ``path`` under ``element``."""
    found = element.find(path, NS)
    assert found is not None, f"no {path}"
    return str(found.get("targetGUID"))


def case_project(**changes: Any) -> refi_qda.Project:
    """One source, one case with a Chinese value, a number and a code; ``changes`` replace."""
    codes = refi_qda.code_tree(small_codebook())
    source = refi_qda.Source(guid=refi_qda.source_guid("2" * 64), name="公告.pdf", text="正文")
    province = refi_qda.CaseVariable(refi_qda.metadata_guid("province"), "doc_province")
    year = refi_qda.CaseVariable(refi_qda.metadata_guid("year"), "doc_year", "Integer")
    case = refi_qda.Case(
        guid=refi_qda.case_guid("2" * 64),
        name="公告.pdf",
        source_guids=(source.guid,),
        code_guids=(codes[0].children[1].guid,),
        values=((province.guid, "广东省"), (year.guid, 2021)),
        description="一个案例",
    )
    fields: dict[str, Any] = {
        "name": "P",
        "codes": codes,
        "sources": (source,),
        "variables": (province, year),
        "cases": (case,),
    }
    return refi_qda.Project(**{**fields, **changes})


def test_cases_hold_codes_values_and_sources_in_schema_order() -> None:
    project = case_project()
    xml = refi_qda.project_xml(project)
    refi_qda.validate(xml)
    root = etree.fromstring(xml)
    assert [etree.QName(child).localname for child in root] == [
        "CodeBook",
        "Variables",
        "Cases",
        "Sources",
    ]
    variables = root.findall("q:Variables/q:Variable", NS)
    assert [(v.get("name"), v.get("typeOfVariable")) for v in variables] == [
        ("doc_province", "Text"),
        ("doc_year", "Integer"),
    ]
    case = root.find("q:Cases/q:Case", NS)
    assert case is not None and case.get("name") == "公告.pdf"
    assert [etree.QName(child).localname for child in case] == [
        "Description",
        "CodeRef",
        "VariableValue",
        "VariableValue",
        "SourceRef",
    ]
    assert target(case, "q:CodeRef") == refi_qda.option_guid("cb", "kind", "award")
    values = [
        (target(v, "q:VariableRef"), etree.QName(v[1]).localname, v[1].text)
        for v in case.findall("q:VariableValue", NS)
    ]
    assert values == [
        (refi_qda.metadata_guid("province"), "TextValue", "广东省"),
        (refi_qda.metadata_guid("year"), "IntegerValue", "2021"),
    ]
    assert target(case, "q:SourceRef") == project.sources[0].guid


def test_a_missing_value_is_left_out_of_the_case() -> None:
    base = case_project()
    case = base.cases[0]
    project = case_project(
        cases=(
            refi_qda.Case(
                case.guid, case.name, case.source_guids, values=((base.variables[0].guid, None),)
            ),
        )
    )
    xml = refi_qda.project_xml(project)
    refi_qda.validate(xml)
    assert etree.fromstring(xml).findall(".//q:VariableValue", NS) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"cases": (refi_qda.Case(refi_qda.case_guid("x"), "x", (refi_qda.source_guid("y"),)),)},
            "unknown source",
        ),
        (
            {
                "cases": (
                    refi_qda.Case(refi_qda.case_guid("x"), "x", code_guids=(refi_qda.guid("no"),)),
                )
            },
            "unknown code",
        ),
        (
            {
                "cases": (
                    refi_qda.Case(
                        refi_qda.case_guid("x"), "x", values=((refi_qda.guid("no"), "v"),)
                    ),
                )
            },
            "unknown variable",
        ),
        (
            {
                "variables": (
                    refi_qda.CaseVariable(refi_qda.metadata_guid("year"), "doc_year", "Integer"),
                )
                * 2
            },
            "two variables",
        ),
        (
            {
                "variables": (
                    refi_qda.CaseVariable(refi_qda.metadata_guid("a"), "same"),
                    refi_qda.CaseVariable(refi_qda.metadata_guid("b"), "same"),
                ),
                "cases": (),
            },
            "two variables",
        ),
        (
            {
                "variables": (
                    refi_qda.CaseVariable(
                        refi_qda.metadata_guid("province"), "doc_province", "Integer"
                    ),
                    refi_qda.CaseVariable(refi_qda.metadata_guid("year"), "doc_year", "Integer"),
                )
            },
            "cannot hold",
        ),
        (
            {
                "source_codings": (
                    refi_qda.SourceCoding(
                        refi_qda.source_guid("y"), refi_qda.guid("c"), refi_qda.user_guid("u")
                    ),
                )
            },
            "unknown sources",
        ),
    ],
)
def test_cases_and_codings_that_point_nowhere_are_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        refi_qda.project_xml(case_project(**changes))


@pytest.mark.parametrize("pdf", [False, True])
def test_a_value_without_a_quote_codes_the_whole_source(tmp_path: Path, pdf: bool) -> None:
    codes = refi_qda.code_tree(small_codebook())
    award, tender = codes[0].children[1].guid, codes[0].children[0].guid
    original = tmp_path / "stored"
    original.write_bytes(b"%PDF-1.4 fake")
    source = refi_qda.Source(
        guid=refi_qda.source_guid("3" * 64),
        name="d",
        text="hello world",
        original=original if pdf else None,
        extension="pdf" if pdf else "txt",
    )
    alice, bob = refi_qda.user_guid("alice"), refi_qda.user_guid("bob")
    when = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    project = refi_qda.Project(
        name="P",
        codes=codes,
        users=(refi_qda.User(alice, "Alice"), refi_qda.User(bob, "Bob")),
        sources=(source,),
        segments=(refi_qda.Segment(source.guid, 0, 5, tender, alice, when),),
        source_codings=(
            refi_qda.SourceCoding(source.guid, award, bob, when),
            refi_qda.SourceCoding(source.guid, award, bob, when),  # once only
            refi_qda.SourceCoding(source.guid, award, alice),
        ),
    )
    xml = refi_qda.project_xml(project)
    refi_qda.validate(xml)
    root = etree.fromstring(xml)
    text_source = root.find(
        "q:Sources/q:PDFSource/q:Representation" if pdf else "q:Sources/q:TextSource", NS
    )
    assert text_source is not None
    assert [etree.QName(child).localname for child in text_source] == [
        "PlainTextSelection",
        "Coding",
        "Coding",
    ]
    codings = text_source.findall("q:Coding", NS)
    assert [
        (c.get("creatingUser"), c.get("creationDateTime"), target(c, "q:CodeRef")) for c in codings
    ] == [(bob, "2026-03-01T08:30:00Z", award), (alice, None, award)]
    assert len({c.get("guid") for c in codings}) == 2


# --- from the database -------------------------------------------------------------------


QUOTE = re.compile(r"\S{2,12}")


def a_quote(text: str, nth: int = 0) -> str:
    """Some words of a page, as a coder would select them."""
    found = QUOTE.findall(text)
    assert found, "the fixture page has no text"
    return found[min(nth, len(found) - 1)]


def latest_version(project: Project) -> CodebookVersion:
    codebook = db.session.get(CodebookModel, project.codebook_id)
    assert codebook is not None and codebook.latest is not None
    return codebook.latest


@dataclass
class Coded:
    version: CodebookVersion
    quotes: list[tuple[str, int, str]]  # Alice's: file name, page, quote


ALICE_VALUES: dict[str, Any] = {
    "service_type": ["crime_reporting", "public_relations"],
    "integration_depth": "symbolic",
    "data_collected": ["phone"],
    "document_kind": "tender",
    "province": "beijing",
    "admin_level": "county",
    "year": 2019,
    "vendor": "腾讯",
}


def coded_project(project: Project) -> Coded:
    """Alice codes two PDFs (Chinese included) and submits; Bob quotes but does not submit."""
    from annotator.models import Document, Page, User
    from annotator.services import labels as label_service

    version = latest_version(project)
    alice = db.session.get(User, project.users["alice"])
    bob = db.session.get(User, project.users["bob"])
    values = ALICE_VALUES
    quotes: list[tuple[str, int, str]] = []
    for name in ("zh_cid_font.pdf", "en_two_pages.pdf"):
        document = db.session.get(Document, project.document_ids[name])
        assert document is not None and alice is not None
        label_set = label_service.label_set_for(db.session, document, alice, version, create=True)
        assert label_set is not None
        label_service.save_labels(db.session, label_set, alice, values)
        pages = list(
            db.session.scalars(
                db.select(Page).where(Page.document_id == document.id).order_by(Page.number)
            )
        )
        # The last two pages (a quote past page 1 tests the offsets), or page 1 twice.
        pages = pages[-2:] if len(pages) > 1 else pages * 2
        for page, variable in zip(pages, ("service_type", "vendor"), strict=True):
            quote = a_quote(page.text, 1 if variable == "vendor" else 0)
            label_service.add_evidence(
                db.session, label_set, alice, variable=variable, page=page.number, quote=quote
            )
            quotes.append((name, page.number, quote))
        label_service.save_labels(db.session, label_set, alice, {}, submit=True)
    zh = db.session.get(Document, project.document_ids["zh_cid_font.pdf"])
    assert zh is not None and bob is not None
    bob_set = label_service.label_set_for(db.session, zh, bob, version, create=True)
    assert bob_set is not None
    label_service.add_evidence(
        db.session, bob_set, bob, variable="note", page=1, quote=a_quote(zh.pages[0].text, 2)
    )
    db.session.commit()
    return Coded(version, quotes)


def export(
    app: Flask,
    version: CodebookVersion,
    *,
    submitted_only: bool = True,
    agreement_is_final: bool = False,
    lang: str = "en",
) -> zipfile.ZipFile:
    from annotator.services import refi_qda as service

    out = io.BytesIO()
    service.write_project(
        db.session,
        version,
        out,
        submitted_only=submitted_only,
        agreement_is_final=agreement_is_final,
        lang=lang,
        data_dir=app.config["DATA_DIR"],
    )
    return zipfile.ZipFile(io.BytesIO(out.getvalue()))


def selections(archive: zipfile.ZipFile) -> list[tuple[str, str, str, list[str]]]:
    """(source name, coder GUID, the text the selection marks, code GUIDs) of every selection."""
    root = etree.fromstring(archive.read("project.qde"))
    found = []
    for source in root.findall("q:Sources/*", NS):
        text_source = (
            source.find("q:Representation", NS) if source.tag.endswith("PDFSource") else source
        )
        assert text_source is not None
        path = text_source.get("plainTextPath", "").removeprefix("internal://")
        text = archive.read(f"sources/{path}").decode("utf-8")
        for selection in text_source.findall("q:PlainTextSelection", NS):
            start, end = (
                int(selection.get("startPosition", "")),
                int(selection.get("endPosition", "")),
            )
            codes = [ref.get("targetGUID", "") for ref in selection.findall(".//q:CodeRef", NS)]
            found.append(
                (source.get("name", ""), selection.get("creatingUser", ""), text[start:end], codes)
            )
    return found


def test_project_export_validates_and_every_quote_is_a_segment(
    app: Flask, project: Project
) -> None:
    coded = coded_project(project)
    archive = export(app, coded.version)
    xml = archive.read("project.qde")
    refi_qda.validate(xml)

    codebook = coded.version.parsed()
    alice = refi_qda.user_guid("alice")
    marked = selections(archive)
    expected = [(name, alice, quote) for name, _page, quote in coded.quotes]
    assert sorted((n, u, q) for n, u, q, _ in marked) == sorted(expected)
    assert any(re.search(r"[\u4e00-\u9fff]", q) for _, _, q, _ in marked), "no Chinese quote"
    for _name, _user, _quote, codes in marked:
        assert codes in (
            [
                refi_qda.option_guid(codebook.id, "service_type", "public_relations"),
                refi_qda.option_guid(codebook.id, "service_type", "crime_reporting"),
            ],
            [refi_qda.variable_guid(codebook.id, "vendor")],
        )

    root = etree.fromstring(xml)
    assert [u.get("id") for u in root.findall("q:Users/q:User", NS)] == ["alice"]
    pdfs = root.findall("q:Sources/q:PDFSource", NS)
    assert sorted(p.get("name") for p in pdfs) == ["en_two_pages.pdf", "zh_cid_font.pdf"]
    for pdf in pdfs:
        path = pdf.get("path", "").removeprefix("internal://")
        assert archive.read(f"sources/{path}").startswith(b"%PDF")
    code_guids = {c.get("guid") for c in root.iter(f"{{{refi_qda.PROJECT_NAMESPACE}}}Code")}
    assert {g for *_, codes in marked for g in codes} <= code_guids


def test_in_progress_label_sets_on_request(app: Flask, project: Project) -> None:
    coded = coded_project(project)
    archive = export(app, coded.version, submitted_only=False, lang="zh")
    refi_qda.validate(archive.read("project.qde"))
    bob = refi_qda.user_guid("bob")
    by_bob = [s for s in selections(archive) if s[1] == bob]
    assert len(by_bob) == 1 and by_bob[0][0] == "zh_cid_font.pdf"
    root = etree.fromstring(archive.read("project.qde"))
    assert root.xpath("string(q:CodeBook/q:Codes/q:Code/@name)", namespaces=NS) == "服务类型"


def test_project_export_is_reproducible(app: Flask, project: Project) -> None:
    from annotator.services import refi_qda as service

    coded = coded_project(project)
    outputs = []
    for _ in range(2):
        out = io.BytesIO()
        service.write_project(db.session, coded.version, out, data_dir=app.config["DATA_DIR"])
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]


def test_a_quote_that_no_longer_matches_is_refused(app: Flask, project: Project) -> None:
    from annotator.models import Evidence
    from annotator.services import refi_qda as service

    coded = coded_project(project)
    evidence = db.session.scalars(db.select(Evidence).order_by(Evidence.id)).first()
    assert evidence is not None
    evidence.start += 1
    evidence.end += 1
    db.session.flush()
    with pytest.raises(service.RefiQdaError, match=f"evidence {evidence.id}"):
        export(app, coded.version)


def test_nothing_submitted_gives_an_empty_valid_project(app: Flask, project: Project) -> None:
    version = latest_version(project)
    archive = export(app, version)
    assert archive.namelist() == ["project.qde"]
    refi_qda.validate(archive.read("project.qde"))


def test_codebook_export(app: Flask, project: Project) -> None:
    from annotator.services import refi_qda as service

    version = latest_version(project)
    out = io.BytesIO()
    service.write_codebook(version, out, lang="zh")
    root = etree.fromstring(out.getvalue())
    codes = refi_qda.code_tree(version.parsed(), "zh")
    assert [c.get("name") for c in root.findall("c:Codes/c:Code", NS)] == [c.name for c in codes]
    if (refi_qda.SCHEMA_DIR / "Codebook.xsd").is_file():
        refi_qda.validate(out.getvalue(), which="codebook")


def test_annotator_export_writes_qdpx_and_qdc(app: Flask, project: Project, tmp_path: Path) -> None:
    coded = coded_project(project)
    runner = app.test_cli_runner()
    qdpx, qdc = tmp_path / "study.qdpx", tmp_path / "study.qdc"
    result = runner.invoke(args=["export", "--format", "qdpx", "--out", str(qdpx)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(qdpx) as archive:
        refi_qda.validate(archive.read("project.qde"), which="project")
        expected = export(app, coded.version)
        assert archive.read("project.qde") == expected.read("project.qde")
    result = runner.invoke(args=["export", "--format", "qdc", "--out", str(qdc), "--lang", "zh"])
    assert result.exit_code == 0, result.output
    root = etree.fromstring(qdc.read_bytes())
    assert [c.get("name") for c in root.findall("c:Codes/c:Code", NS)] == [
        c.name for c in refi_qda.code_tree(coded.version.parsed(), "zh")
    ]
    result = runner.invoke(args=["export", "--format", "qdpx"])
    assert result.exit_code == 2 and "give --out FILE" in result.output


# --- cases: the documents' metadata and final values, and values without a quote ----------

SHARED, ALICE_ALONE = "zh_cid_font.pdf", "en_two_pages.pdf"
# Bob codes the shared document without a single quote for his values.
BOB_VALUES = {
    **ALICE_VALUES,
    "integration_depth": "operational",
    "document_kind": "award",
    "vendor_is_tencent": False,
}
METADATA: dict[str, dict[str, Any]] = {
    SHARED: {
        "title": "深圳市公安局微信警务平台项目中标公告",
        "province": "广东省",
        "city": "深圳市",
        "level": "地级市",
        "year": 2021,
        "value": Decimal("1234567.50"),
        "vendor": "腾讯云计算（北京）有限责任公司",
        "kind": "中标公告",
        "source_url": "https://example.cn/公告?a=1&b=<2>",
        "language": "zh",
        "extra": {"采购单位": "深圳市公安局", "title": "CSV 里的标题", "blank": ""},
    },
    ALICE_ALONE: {"title": "Two pages", "year": 2020, "extra": {"采购单位": "北京市公安局"}},
}


def finalised_project(project: Project) -> CodebookVersion:
    """``coded_project``, the documents' metadata, Bob's submitted coding of the shared
    document (no quotes), and the PI's decisions on it."""
    from annotator.models import Document, LabelSet, User
    from annotator.services import adjudication
    from annotator.services import labels as label_service

    coded = coded_project(project)
    for name, fields in METADATA.items():
        document = db.session.get(Document, project.document_ids[name])
        assert document is not None
        for field, value in fields.items():
            setattr(document, field, value)
    pi = db.session.get(User, project.users["pi"])
    bob = db.session.get(User, project.users["bob"])
    shared = db.session.get(Document, project.document_ids[SHARED])
    assert pi is not None and bob is not None and shared is not None
    bob_set = db.session.scalars(db.select(LabelSet).where(LabelSet.coder_id == bob.id)).one()
    label_service.save_labels(db.session, bob_set, bob, BOB_VALUES, submit=True)
    for variable, value in (("document_kind", "contract"), ("year", 2020), ("city", "深圳")):
        adjudication.set_final(db.session, shared, coded.version, variable, user=pi, value=value)
    adjudication.set_final(
        db.session, shared, coded.version, "vendor_is_tencent", user=pi, source_coder=bob
    )
    db.session.commit()
    return coded.version


@dataclass
class CaseRead:
    """A case as read back from a project: its sources' names, codes and values by name."""

    sources: list[str]
    codes: set[str]
    values: dict[str, tuple[str, str]]  # variable name: (element, text)


def read_cases(archive: zipfile.ZipFile) -> tuple[dict[str, str], dict[str, CaseRead]]:
    """The project's variables (name: type) and its cases by name."""
    root = etree.fromstring(archive.read("project.qde"))
    variables = {
        v.get("guid"): (v.get("name", ""), v.get("typeOfVariable", ""))
        for v in root.findall("q:Variables/q:Variable", NS)
    }
    sources = {s.get("guid"): s.get("name", "") for s in root.findall("q:Sources/*", NS)}
    cases: dict[str, CaseRead] = {}
    for case in root.findall("q:Cases/q:Case", NS):
        values = {}
        for value in case.findall("q:VariableValue", NS):
            name, _kind = variables[target(value, "q:VariableRef")]
            values[name] = (etree.QName(value[1]).localname, value[1].text or "")
        cases[case.get("name", "")] = CaseRead(
            sources=[sources[r.get("targetGUID")] for r in case.findall("q:SourceRef", NS)],
            codes={r.get("targetGUID", "") for r in case.findall("q:CodeRef", NS)},
            values=values,
        )
    return {name: kind for name, kind in variables.values()}, cases


def options(codebook_id: str, *chosen: tuple[str, str]) -> set[str]:
    return {refi_qda.option_guid(codebook_id, variable, code) for variable, code in chosen}


AGREED = (
    ("service_type", "public_relations"),
    ("service_type", "crime_reporting"),
    ("data_collected", "phone"),
    ("province", "beijing"),
    ("admin_level", "county"),
)
ALICE_OPTIONS = (*AGREED, ("integration_depth", "symbolic"), ("document_kind", "tender"))


@pytest.mark.parametrize(
    ("agreement_is_final", "name", "codes", "values"),
    [
        # Two coders: only the PI's decisions, as in the wide layout ...
        (
            False,
            SHARED,
            [("document_kind", "contract")],
            {
                "year": ("FloatValue", "2020"),
                "city": ("TextValue", "深圳"),
                "vendor_is_tencent": ("BooleanValue", "false"),
            },
        ),
        # ... and, with agreement final, what both coders gave (not integration_depth).
        (
            True,
            SHARED,
            [("document_kind", "contract"), *AGREED],
            {
                "year": ("FloatValue", "2020"),
                "city": ("TextValue", "深圳"),
                "vendor": ("TextValue", "腾讯"),
                "vendor_is_tencent": ("BooleanValue", "false"),
            },
        ),
        # One coder: her values, quoted or not.
        (
            False,
            ALICE_ALONE,
            list(ALICE_OPTIONS),
            {"year": ("FloatValue", "2019"), "vendor": ("TextValue", "腾讯")},
        ),
    ],
)
def test_every_final_value_is_on_its_case(
    app: Flask,
    project: Project,
    agreement_is_final: bool,
    name: str,
    codes: list[tuple[str, str]],
    values: dict[str, tuple[str, str]],
) -> None:
    version = finalised_project(project)
    archive = export(app, version, agreement_is_final=agreement_is_final)
    refi_qda.validate(archive.read("project.qde"))
    variables, cases = read_cases(archive)
    case = cases[name]
    assert case.sources == [name]
    assert case.codes == options(version.parsed().id, *codes)
    finals = {k: v for k, v in case.values.items() if not k.startswith("doc_")}
    assert finals == values
    kinds = {"year": "Float", "city": "Text", "vendor_is_tencent": "Boolean"}
    assert {k: variables[k] for k in finals} == {k: kinds.get(k, "Text") for k in values}
    # Every variable without options has a case variable, whether or not it has a value.
    assert {k: v for k, v in variables.items() if not k.startswith("doc_")} == {
        v.id: {"number": "Float", "yesno": "Boolean", "text": "Text"}[v.type.value]
        for v in version.parsed().variables
        if not v.options
    }


def test_every_document_s_metadata_is_on_its_case(app: Flask, project: Project) -> None:
    version = finalised_project(project)
    archive = export(app, version)
    refi_qda.validate(archive.read("project.qde"))
    variables, cases = read_cases(archive)
    assert sorted(cases) == [ALICE_ALONE, SHARED]
    metadata = {
        name: {k: v for k, v in case.values.items() if k.startswith("doc_")}
        for name, case in cases.items()
    }
    assert metadata == {
        SHARED: {
            "doc_title": ("TextValue", "深圳市公安局微信警务平台项目中标公告"),
            "doc_province": ("TextValue", "广东省"),
            "doc_city": ("TextValue", "深圳市"),
            "doc_level": ("TextValue", "地级市"),
            "doc_year": ("IntegerValue", "2021"),
            "doc_value": ("FloatValue", "1234567.50"),
            "doc_vendor": ("TextValue", "腾讯云计算（北京）有限责任公司"),
            "doc_kind": ("TextValue", "中标公告"),
            "doc_source_url": ("TextValue", "https://example.cn/公告?a=1&b=<2>"),
            "doc_language": ("TextValue", "zh"),
            # An extra CSV column named like a field of the document's own keeps both.
            "doc_extra_title": ("TextValue", "CSV 里的标题"),
            "doc_采购单位": ("TextValue", "深圳市公安局"),
        },
        ALICE_ALONE: {
            "doc_title": ("TextValue", "Two pages"),
            "doc_year": ("IntegerValue", "2020"),
            "doc_采购单位": ("TextValue", "北京市公安局"),
        },
    }
    assert {k: v for k, v in variables.items() if k.startswith("doc_")} == {
        "doc_title": "Text",
        "doc_province": "Text",
        "doc_city": "Text",
        "doc_level": "Text",
        "doc_year": "Integer",
        "doc_value": "Float",
        "doc_vendor": "Text",
        "doc_kind": "Text",
        "doc_source_url": "Text",
        "doc_language": "Text",
        "doc_blank": "Text",
        "doc_extra_title": "Text",
        "doc_采购单位": "Text",
    }


def whole_source_codings(archive: zipfile.ZipFile) -> set[tuple[str, str, str]]:
    """(source name, coder GUID, code GUID) of every coding of a whole source."""
    root = etree.fromstring(archive.read("project.qde"))
    found = set()
    for source in root.findall("q:Sources/*", NS):
        text_source = source.find("q:Representation", NS)
        assert text_source is not None
        for coding in text_source.findall("q:Coding", NS):
            found.add(
                (
                    source.get("name", ""),
                    coding.get("creatingUser", ""),
                    target(coding, "q:CodeRef"),
                )
            )
    return found


def test_a_coder_s_option_without_a_quote_codes_the_whole_document(
    app: Flask, project: Project
) -> None:
    version = finalised_project(project)
    archive = export(app, version)
    refi_qda.validate(archive.read("project.qde"))
    cb = version.parsed().id
    alice, bob = refi_qda.user_guid("alice"), refi_qda.user_guid("bob")
    # Alice quoted service_type (and vendor, which has no options): those stay passages.
    alice_unquoted = [o for o in ALICE_OPTIONS if o[0] != "service_type"]
    bob_options = [
        *AGREED,
        ("integration_depth", "operational"),
        ("document_kind", "award"),
    ]
    assert whole_source_codings(archive) == {
        *((SHARED, alice, code) for code in options(cb, *alice_unquoted)),
        *((ALICE_ALONE, alice, code) for code in options(cb, *alice_unquoted)),
        *((SHARED, bob, code) for code in options(cb, *bob_options)),
    }
    # The quoted passages are as before: every one of Alice's, and Bob's quote for "note".
    marked = selections(archive)
    assert sorted((n, u) for n, u, _, _ in marked) == sorted(
        [(SHARED, alice)] * 2 + [(ALICE_ALONE, alice)] * 2 + [(SHARED, bob)]
    )


def read_value(element: str, text: str) -> object:
    """A variable value as Python, from its element."""
    return {
        "TextValue": str,
        "IntegerValue": int,
        "FloatValue": Decimal,
        "BooleanValue": lambda t: {"true": True, "false": False}[t],
    }[element](text)


@pytest.mark.parametrize("agreement_is_final", [False, True])
def test_project_round_trip_matches_the_database(
    app: Flask, project: Project, tmp_path: Path, agreement_is_final: bool
) -> None:
    from annotator.exports import METADATA_FIELDS
    from annotator.models import Document
    from annotator.services import exports as export_service
    from annotator.services.adjudication import final_values

    version = finalised_project(project)
    path = tmp_path / "study.qdpx"
    export_service.write_export(
        db.session,
        version,
        "qdpx",
        path=str(path),
        agreement_is_final=agreement_is_final,
        data_dir=app.config["DATA_DIR"],
    )
    with zipfile.ZipFile(path) as archive:
        refi_qda.validate(archive.read("project.qde"))
        _variables, cases = read_cases(archive)
    codebook = version.parsed()
    finals = final_values(db.session, version, agreement_is_final=agreement_is_final)
    documents = db.session.scalars(db.select(Document).where(Document.id.in_(finals))).all()
    assert sorted(cases) == sorted(d.filename for d in documents)
    for document in documents:
        case = cases[document.filename]
        assert case.sources == [document.filename]
        got = {name: read_value(*value) for name, value in case.values.items()}
        expected: dict[str, object] = {
            f"doc_{field}": getattr(document, field)
            for field in METADATA_FIELDS
            if getattr(document, field) is not None
        }
        for key, value in (document.extra or {}).items():
            if value:
                expected["doc_extra_title" if key == "title" else f"doc_{key}"] = value
        codes: set[str] = set()
        for variable in codebook.variables:
            value = finals[document.id].get(variable.id)
            if value is None:
                continue
            if variable.options:
                chosen = value if isinstance(value, list) else [value]
                codes |= options(codebook.id, *((variable.id, code) for code in chosen))
            else:
                expected[variable.id] = value
        assert got == expected, document.filename
        assert case.codes == codes, document.filename
