"""Tests for annotator.extraction over the small real files in tests/fixtures/.

The expected strings are written out here rather than imported from make_fixtures.py, so a
change to the fixtures that alters their text shows up as a failing test.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.extraction import (
    PAGE_SEPARATOR,
    SUPPORTED_SUFFIXES,
    DocumentFormat,
    ExtractedDocument,
    ExtractedPage,
    RefusedFile,
    detect_format,
    extract,
    sha256_file,
)

FIXTURES = Path(__file__).parent / "fixtures"
GOOD_FIXTURES = (
    "zh_cid_font.pdf",
    "zh_embedded_font.pdf",
    "en_two_pages.pdf",
    "scanned_no_text.pdf",
    "owner_password_only.pdf",
    "report.html",
    "notes.md",
    "gbk.txt",
)


@pytest.mark.parametrize(
    ("name", "document_format", "page_count", "title", "encoding", "has_text"),
    [
        ("zh_cid_font.pdf", DocumentFormat.PDF, 2, "微信警务测试文件", None, True),
        ("zh_embedded_font.pdf", DocumentFormat.PDF, 1, None, None, True),  # "untitled"
        ("en_two_pages.pdf", DocumentFormat.PDF, 2, "WeChat policing summary", None, True),
        ("scanned_no_text.pdf", DocumentFormat.PDF, 1, None, None, False),
        ("owner_password_only.pdf", DocumentFormat.PDF, 1, None, None, True),
        (
            "report.html",
            DocumentFormat.HTML,
            1,
            "“微信警务”上线 & 市民点赞 — 示例日报",
            "utf-8",
            True,
        ),
        ("notes.md", DocumentFormat.MARKDOWN, 1, "编码说明：微信警务研究", "utf-8", True),
        ("gbk.txt", DocumentFormat.TEXT, 2, None, "gb18030", True),
    ],
)
def test_reads_fixture(name, document_format, page_count, title, encoding, has_text):
    document = extract(FIXTURES / name)
    assert document.format is document_format
    assert document.page_count == page_count
    assert document.title == title
    assert document.encoding == encoding
    assert document.has_text is has_text


@pytest.mark.parametrize(
    ("name", "page", "expected"),
    [
        # ReportLab's STSong-Light is not embedded: PDFium maps it through its own CMaps.
        ("zh_cid_font.pdf", 1, "微信警务综合服务平台建设项目招标公告"),
        ("zh_cid_font.pdf", 1, "采购人：福建省公安厅"),
        ("zh_cid_font.pdf", 1, "预算金额：人民币壹仟贰佰捌拾万元整（¥12,800,000.00）"),
        ("zh_cid_font.pdf", 2, "采购需求：微信报警、实名认证、人脸识别、警务云对接。"),
        ("zh_cid_font.pdf", 2, "本文件为合成测试文件，并非真实政府文件。"),
        # A subset of WenQuanYi Zen Hei is embedded with a ToUnicode map.
        ("zh_embedded_font.pdf", 1, "上海市公安局网上派出所微信公众号运营服务"),
        ("zh_embedded_font.pdf", 1, "线索举报：粉丝数不少于五万人。"),
        ("zh_embedded_font.pdf", 1, "繁體字測試：警務雲"),
        ("zh_embedded_font.pdf", 1, "Mixed line: WeChat 微信 2019"),
        ("en_two_pages.pdf", 1, "Purchaser: Shanghai Public Security Bureau"),
        ("en_two_pages.pdf", 2, "Functions: WeChat alarm, real-name verification."),
        ("owner_password_only.pdf", 1, "Copying is restricted by an owner password only."),
        ("report.html", 1, "某市公安局“微信警务”平台正式上线"),
        # A source line break between two Chinese characters is no space.
        ("report.html", 1, "12 项服务。市民可通过公众号办理交通违法处理。"),
        ("report.html", 1, "共受理群众举报线索1200余条，<不含重复>。"),
        ("report.html", 1, "来源：示例日报 2019年5月8日"),
        ("report.html", 1, "微信报警\n实名认证"),
        ("notes.md", 1, "- 整合深度：从“僵尸号”到警务云对接"),
        ("gbk.txt", 1, "甘肃省某县公安局微信公众号维护服务\n年度预算：人民币叁万陆仟元整。"),
        ("gbk.txt", 2, "第二页：每月推送不少于四条信息。"),
    ],
)
def test_text_is_on_the_right_page(name, page, expected):
    document = extract(FIXTURES / name)
    assert expected in document.pages[page - 1].text
    for other in document.pages:
        if other.number != page:
            assert expected not in other.text


@pytest.mark.parametrize("name", GOOD_FIXTURES)
def test_page_offsets_line_up_with_full_text(name):
    document = extract(FIXTURES / name)
    full_text = document.full_text
    for page in document.pages:
        assert full_text[page.start : page.start + len(page.text)] == page.text
        assert document.page_at(page.start) == page
    for before, after in zip(document.pages, document.pages[1:], strict=False):
        assert full_text[before.end : after.start] == PAGE_SEPARATOR
    assert len(full_text) == document.pages[-1].end


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("encrypted.pdf", "encrypted PDF (password protected)"),
        ("corrupt.pdf", "corrupt PDF: data format error (not a readable PDF structure)"),
        ("not_a_pdf.pdf", "not a PDF (the file starts with '<html>' despite the .pdf extension)"),
        ("empty.txt", "empty file"),
    ],
)
def test_refuses_bad_fixture(name, reason):
    with pytest.raises(RefusedFile) as refused:
        extract(FIXTURES / name)
    assert refused.value.reason == reason
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    ("filename", "content", "reason"),
    [
        ("minutes.docx", b"PK\x03\x04rest of a zip", "unsupported file type '.docx'"),
        ("README", b"plain words", "unsupported file type (no extension)"),
        (
            "word.txt",
            b"PK\x03\x04rest",
            "not text (the file is a ZIP archive, such as a Word .docx despite the .txt extension)",
        ),
        (
            "photo.html",
            b"\xff\xd8\xff\xe0JFIF",
            "not text (the file is a JPEG image despite the .html extension)",
        ),
        (
            "latin1.txt",
            "café crème brûlée".encode("latin-1"),
            "not valid UTF-8 text (nor GB18030 Chinese text)",
        ),
        ("nul.txt", b"text\x00with a NUL byte", "not text (the file holds binary data)"),
        # Python's uu codec is no text encoding, whatever a page declares.
        ("uu.html", b'<meta charset="uu">\xff', "not valid UTF-8 text (nor GB18030 Chinese text)"),
        (
            "blank.pdf",
            b"   \n",
            "not a PDF (the file starts with no PDF header despite the .pdf extension)",
        ),
        (
            "header.pdf",
            b"%PDF-1.7\n%garbage",
            "corrupt PDF: data format error (not a readable PDF structure)",
        ),
    ],
)
def test_refuses_bad_content(tmp_path, filename, content, reason):
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(RefusedFile) as refused:
        extract(path)
    assert refused.value.reason == reason


def test_damaged_pdf_title_does_not_lose_the_text(tmp_path):
    data = (FIXTURES / "en_two_pages.pdf").read_bytes()
    # A title of lone UTF-16 surrogates, padded to keep every byte offset in place.
    damaged = data.replace(b"(WeChat policing summary)", b"<FEFFD800D800D800D800>   ")
    assert len(damaged) == len(data)
    path = tmp_path / "damaged_title.pdf"
    path.write_bytes(damaged)
    document = extract(path)
    assert (document.title, document.page_count) == (None, 2)


def test_refuses_missing_file(tmp_path):
    with pytest.raises(RefusedFile, match=r"^cannot read the file \(No such file"):
        extract(tmp_path / "gone.pdf")


@pytest.mark.parametrize(
    ("size", "max_bytes", "reason"),
    [
        (3 * 2**20 + 2**19, 2**20, "over the size limit (3.5 MB > 1.0 MB)"),
        (2048, 1024, "over the size limit (2.0 KB > 1.0 KB)"),
        (11, 10, "over the size limit (11 bytes > 10 bytes)"),
    ],
)
def test_size_limit(tmp_path, size, max_bytes, reason):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * size)
    with pytest.raises(RefusedFile) as refused:
        extract(path, max_bytes=max_bytes)
    assert refused.value.reason == reason
    assert extract(path, max_bytes=size).size == size


@pytest.mark.parametrize("name", ["zh_cid_font.pdf", "gbk.txt"])
def test_page_limit(name):
    with pytest.raises(RefusedFile, match=r"^too many pages \(2 > 1\)$"):
        extract(FIXTURES / name, max_pages=1)
    assert extract(FIXTURES / name, max_pages=2).page_count == 2


@pytest.mark.parametrize(
    ("fixture", "renamed", "expected"),
    [
        ("zh_cid_font.pdf", "tender.txt", DocumentFormat.PDF),
        ("zh_cid_font.pdf", "tender.html", DocumentFormat.PDF),
        ("zh_cid_font.pdf", "tender.docx", DocumentFormat.PDF),
        ("zh_cid_font.pdf", "TENDER.PDF", DocumentFormat.PDF),
        ("report.html", "report.txt", DocumentFormat.HTML),  # a saved page with the wrong name
        ("report.html", "report.htm", DocumentFormat.HTML),
        ("notes.md", "notes.markdown", DocumentFormat.MARKDOWN),
        ("notes.md", "notes.txt", DocumentFormat.TEXT),
        ("gbk.txt", "gbk.md", DocumentFormat.MARKDOWN),
    ],
)
def test_format_comes_from_content_first(tmp_path, fixture, renamed, expected):
    path = tmp_path / renamed
    shutil.copyfile(FIXTURES / fixture, path)
    assert extract(path).format is expected
    assert detect_format(path, path.read_bytes()[:1024]) is expected


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        (
            "report.html",
            "not a PDF (the file starts with '<!DOCTYPE html>' despite the .pdf extension)",
        ),
        ("notes.md", "not a PDF (the file starts with 'Notes' despite the .pdf extension)"),
        (
            "gbk.txt",
            "not a PDF (the file starts with '甘肃省某县公安局微信公众号维护服' despite "
            "the .pdf extension)",
        ),
    ],
)
def test_a_pdf_name_does_not_make_a_pdf(tmp_path, fixture, reason):
    path = tmp_path / "download.pdf"
    shutil.copyfile(FIXTURES / fixture, path)
    with pytest.raises(RefusedFile) as refused:
        extract(path)
    assert refused.value.reason == reason


def test_detect_format_accepts_a_head_cut_inside_a_character():
    head = "微信警务".encode()[:-1]  # the last character is cut after its second byte
    assert detect_format(Path("cut.txt"), head) is DocumentFormat.TEXT


def test_pdf_header_may_follow_other_bytes(tmp_path):
    path = tmp_path / "prefixed.pdf"
    path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / "en_two_pages.pdf").read_bytes())
    assert extract(path).page_count == 2


@pytest.mark.parametrize(
    "absent",
    [
        "SCRIPT-CONTENT-MUST-NOT-APPEAR",
        "injected",
        "ONERROR-MUST-NOT-APPEAR",
        "alert",
        "COMMENT-MUST-NOT-APPEAR",
        "NOSCRIPT-MUST-NOT-APPEAR",
        "font-family",
        "display: none",
        "&nbsp;",
        "&lt;",
        "<p>",
        "示例日报\n\n某市公安局",  # the <title> is the title, not the text
        "\xa0",
        "　",  # ideographic space indenting the paragraph
    ],
)
def test_html_text_has_no_markup(absent):
    assert absent not in extract(FIXTURES / "report.html").full_text


@pytest.mark.parametrize(
    ("content", "encoding", "text"),
    [
        ("微信警务".encode(), "utf-8", "微信警务"),
        (b"\xef\xbb\xbf" + "微信警务".encode(), "utf-8-sig", "微信警务"),
        ("\ufeff微信警务".encode("utf-16-le"), "utf-16", "微信警务"),
        ("\ufeff微信警务".encode("utf-16-be"), "utf-16", "微信警务"),
        ("公安微信公众号，维护。".encode("gb18030"), "gb18030", "公安微信公众号，维护。"),
        (b"line one\r\nline two\rline three", "utf-8", "line one\nline two\nline three"),
        (b"bell\x07 escape\x1b tab\tkept", "utf-8", "bell escape tab\tkept"),
    ],
)
def test_text_encodings(tmp_path, content, encoding, text):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    document = extract(path)
    assert document.encoding == encoding
    assert document.full_text == text


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [("gb2312", "gb18030"), ("GBK", "gb18030"), ("big5", "big5")],
)
def test_html_declared_charset(tmp_path, charset, encoding):
    text = "警察" if charset == "big5" else "警务"
    page = f'<html><head><meta charset="{charset}"><title>{text}</title></head><p>{text}</p>'
    path = tmp_path / "page.html"
    path.write_bytes(page.encode(encoding))
    document = extract(path)
    assert (document.encoding, document.title, document.full_text) == (encoding, text, text)


@pytest.mark.parametrize(
    ("content", "pages"),
    [
        ("one page", ["one page"]),
        ("first\fsecond\fthird", ["first", "second", "third"]),
        ("first\fsecond\f", ["first", "second"]),  # a closing form feed adds no page
        ("first\f\fthird", ["first", "", "third"]),
        ("   ", ["   "]),
    ],
)
def test_plain_text_pages_split_at_form_feeds(tmp_path, content, pages):
    path = tmp_path / "pages.txt"
    path.write_text(content, encoding="utf-8")
    assert [page.text for page in extract(path).pages] == pages


@pytest.mark.parametrize(
    ("markdown", "title"),
    [
        ("# 标题\n\ntext", "标题"),
        ("intro\n\n# First\n\n# Second", "First"),
        ("## Only a subheading", None),
        ("Setext title\n============\n", "Setext title"),
        ("#not a heading", None),
        ("# `code` and *emphasis*", "code and emphasis"),
    ],
)
def test_markdown_title(tmp_path, markdown, title):
    path = tmp_path / "notes.md"
    path.write_text(markdown, encoding="utf-8")
    document = extract(path)
    assert document.title == title
    assert document.full_text == markdown  # Markdown text is kept as written


def test_whitespace_only_file_has_no_text(tmp_path):
    path = tmp_path / "blank.txt"
    path.write_text(" \n\t\n", encoding="utf-8")
    assert not extract(path).has_text


def test_hash_and_size_are_of_the_file(tmp_path):
    path = FIXTURES / "zh_cid_font.pdf"
    document = extract(path)
    data = path.read_bytes()
    assert document.size == len(data) == os.path.getsize(path)
    assert document.sha256 == hashlib.sha256(data).hexdigest() == sha256_file(path)


def test_page_at_assigns_separator_to_the_page_before():
    document = extract(FIXTURES / "zh_cid_font.pdf")
    first, second = document.pages
    assert document.page_at(first.end) == first
    assert document.page_at(second.start - 1) == first
    assert document.page_at(len(document.full_text)) == second
    with pytest.raises(IndexError):
        document.page_at(-1)


def test_document_refuses_pages_that_do_not_line_up():
    pages = (ExtractedPage(1, "one", 0), ExtractedPage(2, "two", 4))
    with pytest.raises(ValueError, match="page 2"):
        ExtractedDocument(DocumentFormat.TEXT, pages, None, "0" * 64, 7)


def test_supported_suffixes_are_lower_case():
    assert all(suffix == suffix.lower() and suffix.startswith(".") for suffix in SUPPORTED_SUFFIXES)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_memory_stays_flat_over_a_batch():
    """Closing PDFium pages and documents promptly keeps a 200-file import from growing."""

    def resident_bytes() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    names = ["zh_cid_font.pdf", "zh_embedded_font.pdf", "scanned_no_text.pdf", "en_two_pages.pdf"]
    for name in names * 5:  # warm up PDFium's font caches and the allocator
        extract(FIXTURES / name)
    before = resident_bytes()
    for index in range(200):
        extract(FIXTURES / names[index % len(names)])
    assert resident_bytes() - before < 8 * 2**20


# --- the demo corpus ------------------------------------------------------------------------

ROOT = Path(__file__).parent.parent
DEMO_CORPUS = ROOT / "annotator" / "demo" / "corpus"
SYNTHETIC_NOTICES = ("合成演示文件", "Synthetic demo document")


@pytest.mark.parametrize("path", sorted(DEMO_CORPUS.iterdir()), ids=lambda path: path.name)
def test_demo_document_reads_and_says_it_is_synthetic(path):
    document = extract(path)
    assert document.has_text
    pages = document.pages if document.format is DocumentFormat.PDF else document.pages[:1]
    for page in pages:  # every page of a PDF carries the notice in its footer
        assert any(notice in page.text for notice in SYNTHETIC_NOTICES)
    if document.format is DocumentFormat.PDF:
        assert 2 <= document.page_count <= 6


def test_demo_metadata_lists_every_demo_document():
    with open(ROOT / "annotator" / "demo" / "metadata.csv", encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {row["filename"] for row in rows} == {path.name for path in DEMO_CORPUS.iterdir()}
    assert len(rows) >= 14
    assert {row["kind"] for row in rows} == {"tender", "award", "contract", "media_report"}
    assert {row["level"] for row in rows} == {"provincial", "prefectural", "county", "township"}
    assert {row["language"] for row in rows} == {"zh", "en"}


@pytest.mark.parametrize(("language", "pages"), [("zh", 1), ("zh", 4), ("en", 3)])
def test_benchmark_pdfs_have_the_pages_asked_for(tmp_path, language, pages):
    pytest.importorskip("reportlab")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from make_demo_corpus import make_procurement_pdf
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    path = tmp_path / "bench.pdf"
    make_procurement_pdf(path, pages=pages, language=language, seed=7)
    document = extract(path)
    assert document.page_count == pages
    assert all(page.text.strip() for page in document.pages)


# --- fuzzing: bad input of any shape is refused, never a crash ---------------------------

REAL_PDF = (FIXTURES / "zh_cid_font.pdf").read_bytes()


@st.composite
def damaged_pdfs(draw: st.DrawFn) -> bytes:
    """A real PDF with a few bytes overwritten and maybe cut short."""
    data = bytearray(REAL_PDF)
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    suffix=st.sampled_from([".pdf", ".html", ".txt", ".md"]),
    content=st.one_of(
        st.binary(max_size=2048),
        st.binary(max_size=2048).map(lambda tail: b"%PDF-1.4\n" + tail),
        st.text(max_size=500).map(lambda text: text.encode("utf-8", "surrogatepass")),
        damaged_pdfs(),
    ),
)
def test_any_bytes_are_read_or_refused(tmp_path, suffix, content):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    try:
        document = extract(path)
    except RefusedFile as refused:
        assert refused.reason
        return
    assert document.size == len(content)
    for page in document.pages:
        assert document.full_text[page.start : page.end] == page.text
