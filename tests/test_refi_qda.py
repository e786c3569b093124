"""REFI-QDA export: the pure writer (tables of cases) and the project written from the database."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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


def coded_project(project: Project) -> Coded:
    """Alice codes two PDFs (Chinese included) and submits; Bob quotes but does not submit."""
    from annotator.models import Document, Page, User
    from annotator.services import labels as label_service

    version = latest_version(project)
    alice = db.session.get(User, project.users["alice"])
    bob = db.session.get(User, project.users["bob"])
    values = {
        "service_type": ["crime_reporting", "public_relations"],
        "integration_depth": "symbolic",
        "data_collected": ["phone"],
        "document_kind": "tender",
        "province": "beijing",
        "admin_level": "county",
        "year": 2019,
        "vendor": "腾讯",
    }
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
    app: Flask, version: CodebookVersion, *, submitted_only: bool = True, lang: str = "en"
) -> zipfile.ZipFile:
    from annotator.services import refi_qda as service

    out = io.BytesIO()
    service.write_project(
        db.session,
        version,
        out,
        submitted_only=submitted_only,
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
