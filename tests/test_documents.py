"""Documents: the PI's list and upload, the document page, and serving the stored files."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.http import parse_options_header

from annotator.extensions import db
from annotator.models import Document, Page

from .conftest import FIXTURES, AuthActions, Project


def upload(pi: AuthActions, files: list[tuple[bytes, str]], metadata: str | None = None) -> Any:
    """Post the upload form with several files (and a metadata CSV), as a browser does."""
    data: dict[str, Any] = {"files": [(io.BytesIO(content), name) for content, name in files]}
    if metadata is not None:
        data["metadata"] = (io.BytesIO(metadata.encode("utf-8")), "metadata.csv")
    return pi.post("/documents/upload", data, content_type="multipart/form-data")


def fixture(name: str, upload_as: str | None = None) -> tuple[bytes, str]:
    return (FIXTURES / name).read_bytes(), upload_as or name


def outcomes(html: str) -> list[tuple[str, str, str]]:
    """(file, result, reason) for each row of the import report."""
    rows = re.findall(
        r'<tr class="outcome-\w+">\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>', html, re.S
    )
    return [
        (unescape(re.sub(r"<[^>]+>", "", name)), status, unescape(reason))
        for name, status, reason in rows
    ]


def stored_files(app: Flask) -> set[str]:
    """The file names (hashes) under the data directory."""
    return {path.name for path in Path(app.config["DATA_DIR"]).rglob("*") if path.is_file()}


def document_hashes() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(db.select(Document.sha256)))


# --- the list -----------------------------------------------------------------------------


def test_list_shows_every_document_with_its_coding(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    html = client.get("/documents/").get_data(as_text=True)
    rows = re.findall(
        r'<td><a href="/documents/(\d+)">([^<]+)</a>.*?<td>(\w+)</td><td>(\d+)</td>'
        r".*?<td>(\d+)</td><td>(\d+)</td>",
        html,
        re.S,
    )
    ids = project.document_ids
    assert rows == [
        (str(ids["zh_cid_font.pdf"]), "zh_cid_font.pdf", "pdf", "2", "2", "0"),
        (str(ids["en_two_pages.pdf"]), "en_two_pages.pdf", "pdf", "2", "1", "0"),
        (str(ids["report.html"]), "report.html", "html", "1", "1", "0"),
        (str(ids["notes.md"]), "notes.md", "markdown", "1", "0", "0"),
    ]
    assert 'href="/documents/upload"' in html


def test_document_page_shows_text_and_assignments(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    html = client.get(f"/documents/{project.document_ids['zh_cid_font.pdf']}").get_data(
        as_text=True
    )
    assert "采购人：福建省公安厅" in html
    assert "alice (wechat_policing) · reliability sample" in html
    assert "bob (wechat_policing) · reliability sample" in html
    assert "Nobody has coded this document yet." in html
    assert client.get("/documents/999999").status_code == 404


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("report.html", "<h1>某市公安局“微信警务”平台正式上线</h1>"),
        ("notes.md", "<h2>Second-level heading</h2>"),
    ],
)
def test_document_page_shows_html_and_markdown_sanitised(
    client: FlaskClient, pi: AuthActions, project: Project, name: str, shown: str
) -> None:
    html = client.get(f"/documents/{project.document_ids[name]}").get_data(as_text=True)
    rendering = html.index('<div class="document-html" data-role="document-html"')
    assert rendering < html.index(shown) < html.index('<details class="extracted-text">')
    assert "SCRIPT-CONTENT-MUST-NOT-APPEAR" not in html
    assert "ONERROR-MUST-NOT-APPEAR" not in html


# --- uploading ----------------------------------------------------------------------------


def test_upload_reports_each_file_and_imports_only_the_good_ones(
    app: Flask, client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    before = document_hashes()
    assert stored_files(app) == before
    response = upload(
        pi,
        [
            fixture("zh_embedded_font.pdf"),
            fixture("corrupt.pdf"),
            fixture("zh_cid_font.pdf", "copy of the tender.pdf"),
            fixture("encrypted.pdf"),
            fixture("not_a_pdf.pdf"),
            fixture("empty.txt"),
            (b"%PDF-1.4 nothing else", "slides.pptx"),
        ],
    )
    # Something was refused: the page says so in its status, and lists every file.
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "imported 1, duplicates 1, refused 5" in html
    rows = outcomes(html)
    assert [(name, status) for name, status, _ in rows] == [
        ("zh_embedded_font.pdf", "imported"),
        ("corrupt.pdf", "refused"),
        ("copy of the tender.pdf", "duplicate"),
        ("encrypted.pdf", "refused"),
        ("not_a_pdf.pdf", "refused"),
        ("empty.txt", "refused"),
        ("slides.pptx", "refused"),
    ]
    reasons = {name: reason for name, _, reason in rows}
    assert reasons["zh_embedded_font.pdf"] == ""
    assert reasons["corrupt.pdf"].startswith("corrupt PDF")
    assert reasons["copy of the tender.pdf"] == (
        f"same content as document {project.document_ids['zh_cid_font.pdf']} (zh_cid_font.pdf)"
    )
    assert reasons["encrypted.pdf"] == "encrypted PDF (password protected)"
    assert reasons["not_a_pdf.pdf"]
    assert reasons["empty.txt"] == "empty file"
    assert reasons["slides.pptx"].startswith("unsupported file type '.pptx'")

    # Nothing half-imported: one new document with its pages and its stored file, nothing
    # (no row, no page, no file) for the others.
    after = document_hashes()
    assert len(after - before) == 1
    assert stored_files(app) == after
    new = db.session.scalar(db.select(Document).where(Document.sha256.in_(after - before)))
    assert new is not None and new.filename == "zh_embedded_font.pdf"
    assert [page.number for page in new.pages] == [1]
    assert db.session.scalar(db.select(db.func.count()).select_from(Page)) == 7


def test_upload_of_good_files_is_200(pi: AuthActions, project: Project) -> None:
    response = upload(pi, [fixture("zh_embedded_font.pdf"), fixture("gbk.txt")])
    assert response.status_code == 200
    assert [status for _, status, _ in outcomes(response.get_data(as_text=True))] == [
        "imported",
        "imported",
    ]


def test_upload_keeps_a_chinese_file_name(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    # The study's files are named in Chinese; the type comes from the suffix all the same.
    name = "上海市公安局网上派出所.pdf"
    response = upload(pi, [fixture("zh_embedded_font.pdf", name)])
    assert response.status_code == 200, outcomes(response.get_data(as_text=True))
    document = db.session.scalar(db.select(Document).where(Document.filename == name))
    assert document is not None
    assert "上海市公安局网上派出所" in document.pages[0].text
    # Downloaded under the same name, not as "pdf".
    download = client.get(f"/documents/{document.id}/file")
    assert download.mimetype == "application/pdf"
    assert f"filename*=UTF-8''{quote(name)}" in download.headers["Content-Disposition"]
    assert parse_options_header(download.headers["Content-Disposition"]) == (
        "inline",
        {"filename": name},
    )


def test_upload_form_takes_several_files(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    html = client.get("/documents/upload").get_data(as_text=True)
    files = re.search(r'<input[^>]*name="files"[^>]*>', html)
    assert files and " multiple" in files.group(0) and 'type="file"' in files.group(0)


def test_upload_without_files_is_422(pi: AuthActions, project: Project) -> None:
    response = pi.post("/documents/upload", {}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "This field is required." in response.get_data(as_text=True)


def test_metadata_csv_is_applied(client: FlaskClient, pi: AuthActions, project: Project) -> None:
    metadata = (
        "\ufefffilename,province,city,level,year,value,kind,batch\n"
        'zh_embedded_font.pdf,上海,上海市,provincial,2019,"1,280,000.50",tender,B7\n'
        "gbk.txt,甘肃,,county,2020,36000,contract,\n"
    )
    response = upload(pi, [fixture("zh_embedded_font.pdf"), fixture("gbk.txt")], metadata)
    assert response.status_code == 200
    pdf = db.session.scalar(db.select(Document).where(Document.filename == "zh_embedded_font.pdf"))
    assert pdf is not None
    assert (pdf.province, pdf.city, pdf.level, pdf.year, pdf.kind) == (
        "上海",
        "上海市",
        "provincial",
        2019,
        "tender",
    )
    assert pdf.value == Decimal("1280000.50")
    assert pdf.extra == {"batch": "B7"}
    text = db.session.scalar(db.select(Document).where(Document.filename == "gbk.txt"))
    assert text is not None and (text.province, text.year, text.city) == ("甘肃", 2020, None)
    html = client.get("/documents/").get_data(as_text=True)
    assert "<td>上海</td><td>上海市</td><td>provincial</td><td>2019</td><td>tender</td>" in html


def test_metadata_rows_that_match_no_upload_are_named(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    metadata = (
        "filename,province\n"
        "gbk.txt,甘肃\n"
        "gbk .txt,上海\n"  # a typo
        "<b>later.pdf</b>,北京\n"  # a file of another batch, and markup stays text
    )
    response = upload(pi, [fixture("gbk.txt")], metadata)
    assert response.status_code == 200
    notice = re.search(
        r'<p class="flash flash-warning" id="unmatched-metadata">(.*?)</p>', response.text
    )
    assert notice, response.text
    assert notice.group(1).endswith(": &lt;b&gt;later.pdf&lt;/b&gt;, gbk .txt")
    assert "<b>later.pdf" not in response.text
    document = db.session.scalar(db.select(Document).where(Document.filename == "gbk.txt"))
    assert document is not None and document.province == "甘肃"
    # Every row matched: nothing to say.
    response = upload(
        pi, [fixture("zh_embedded_font.pdf")], "filename,year\nzh_embedded_font.pdf,2019\n"
    )
    assert response.status_code == 200
    assert 'id="unmatched-metadata"' not in response.text


def test_bad_metadata_csv_imports_nothing(app: Flask, pi: AuthActions, project: Project) -> None:
    before = document_hashes()
    metadata = "filename,year,value\nzh_embedded_font.pdf,soon,-5\n"
    response = upload(pi, [fixture("zh_embedded_font.pdf")], metadata)
    assert response.status_code == 422
    html = unescape(response.get_data(as_text=True))
    assert "The metadata CSV was not used: " in html
    assert "metadata.csv:2: year 'soon' is not a year" in html
    assert "metadata.csv:2: value '-5' is not a non-negative amount" in html
    assert document_hashes() == before
    assert stored_files(app) == before


def test_document_text_is_shown_as_text(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    # A document is data, never markup: its text cannot add script or style to the page.
    hostile = '<script>alert("x")</script><b style="color:red" onclick="steal()">bold</b>'
    response = upload(pi, [(hostile.encode(), "hostile.txt")])
    assert response.status_code == 200
    document = db.session.scalar(db.select(Document).where(Document.filename == "hostile.txt"))
    assert document is not None
    html = client.get(f"/documents/{document.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<script" not in html
    assert "onclick=" not in html.replace("onclick=&#34;", "")


# --- serving files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mimetype", "disposition"),
    [
        ("zh_cid_font.pdf", "application/pdf", "inline"),
        ("en_two_pages.pdf", "application/pdf", "inline"),
        # Never text/html: the document's own markup must not run as a page of this site.
        ("report.html", "application/octet-stream", "attachment"),
        ("notes.md", "application/octet-stream", "attachment"),
    ],
)
def test_files_are_served_safely(
    client: FlaskClient,
    pi: AuthActions,
    project: Project,
    name: str,
    mimetype: str,
    disposition: str,
) -> None:
    response = client.get(f"/documents/{project.document_ids[name]}/file")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert parse_options_header(response.headers["Content-Disposition"]) == (
        disposition,
        {"filename": name},
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response.get_data() == (FIXTURES / name).read_bytes()


def test_coder_downloads_an_assigned_file(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    auth.login("bob")
    response = client.get(f"/documents/{project.document_ids['report.html']}/file")
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_missing_stored_file_is_410(
    app: Flask, client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    document = db.session.get(Document, project.document_ids["notes.md"])
    (Path(app.config["DATA_DIR"]) / document.storage_name).unlink()
    response = client.get(f"/documents/{document.id}/file")
    assert response.status_code == 410
    assert "missing from the data directory" in response.get_data(as_text=True)
