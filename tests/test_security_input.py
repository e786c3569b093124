"""Hostile input: paths, files that lie about their type, bombs, script in text, SQL in filters.

The hostile files are made here, small, rather than committed.
"""

from __future__ import annotations

import io
import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from annotator import sanitize
from annotator.extensions import db
from annotator.extraction import (
    DocumentFormat,
    ExtractionLimits,
    RefusedFile,
    extract,
    html_nesting_depth,
)
from annotator.models import Document, LabelEvent, LabelSet, LoginAttempt, User
from annotator.services.documents import stored_path

from .conftest import FIXTURES, STUDY_CODEBOOK, AuthActions, Project
from .test_auth import ScriptAndStyleFinder

SHARED = "zh_cid_font.pdf"


# --- paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/documents/..%2f..%2fetc%2fpasswd/file",
        "/documents/%2e%2e/file",
        "/documents/%2e%2e%2f%2e%2e%2fannotator.sqlite3/file",
        "/documents/..%5c..%5cwin.ini/file",
        "/documents//etc/passwd/file",
        "/documents/%2fetc%2fpasswd/file",
        "/documents/1%00/file",
        "/documents/1%00.pdf/file",
        "/documents/-1/file",
        "/documents/1.5/file",
        "/documents/0x1/file",
        "/documents/99999999999999999999999999/file",
        "/documents/2147483648/file",
        "/documents/" + "9" * 5000 + "/file",
        "/documents/99999999999999999999999999",
        "/code/99999999999999999999999999",
        "/adjudicate/99999999999999999999999999",
        "/code/1/evidence/99999999999999999999999999/delete",
        "/static/..%2f..%2fconfig.py",
        "/static/%2e%2e/%2e%2e/annotator/config.py",
        "/static/../__init__.py",
    ],
)
def test_no_path_reaches_a_file_outside_its_folder(
    client: FlaskClient, pi: AuthActions, project: Project, path: str
) -> None:
    response = client.get(path)
    # No route (404), or a refused method (405 for the delete); never a file, never a 500.
    assert response.status_code in (404, 405), path
    body = response.get_data()
    assert b"SECRET_KEY" not in body and b"root:" not in body and b"SQLite format" not in body


@pytest.mark.parametrize(
    "sha256", ["../../etc/passwd", "/etc/passwd", "ab\x00cd", "a" * 65, "AB" * 32, ""]
)
def test_stored_path_takes_only_a_sha256(tmp_path: Path, sha256: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        stored_path(tmp_path, sha256)


def test_stored_path_of_a_sha256_stays_in_the_data_folder(tmp_path: Path) -> None:
    digest = "0123456789abcdef" * 4
    assert stored_path(tmp_path, digest) == tmp_path / "01" / digest


# --- uploads: content, not name -----------------------------------------------------------


def upload(pi: AuthActions, files: list[tuple[bytes, str]]) -> Any:
    data: dict[str, Any] = {"files": [(io.BytesIO(content), name) for content, name in files]}
    return pi.post("/documents/upload", data, content_type="multipart/form-data")


def only_document() -> Document | None:
    return db.session.scalar(db.select(Document).order_by(Document.id.desc()))


PDF = (FIXTURES / "en_two_pages.pdf").read_bytes()
HTML = b"<!doctype html><html><head><title>t</title></head><body><p>Hello</p></body></html>"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 200 + b"This program cannot be run"
ZIP = b"PK\x03\x04" + b"\x00" * 100


@pytest.mark.parametrize(
    ("content", "name", "outcome"),
    [
        (PDF, "report.html", DocumentFormat.PDF),  # a PDF is read as a PDF, whatever its name
        (PDF, "report.txt", DocumentFormat.PDF),
        (HTML + b"\n%PDF-1.4 polyglot", "page.html", "refused"),  # a PDF header must be a PDF
        (HTML, "page.pdf", "not a PDF"),
        (ELF, "program.pdf", "not a PDF"),
        (WINDOWS_EXE, "setup.pdf", "not a PDF"),
        (WINDOWS_EXE, "setup.txt", "not text (the file is a Windows program"),
        (ELF, "program.html", "not text (the file is a Linux program"),
        (ZIP, "archive.md", "ZIP archive"),
        (b"<svg onload=alert(1)></svg>", "image.svg", "unsupported file type"),
        (PDF, "report.exe", "unsupported file type"),
    ],
)
def test_uploads_are_judged_by_content(
    client: FlaskClient, pi: AuthActions, project: Project, content: bytes, name: str, outcome: Any
) -> None:
    before = db.session.scalar(db.select(db.func.count()).select_from(Document))
    response = upload(pi, [(content, name)])
    body = response.get_data(as_text=True)
    db.session.expire_all()
    count = db.session.scalar(db.select(db.func.count()).select_from(Document))
    if isinstance(outcome, DocumentFormat):
        if count == before:  # the fixture is already in the project: a duplicate
            assert "duplicate" in body.lower()
        else:
            document = only_document()
            assert document is not None and document.format is outcome
        return
    assert response.status_code == 422
    assert count == before
    if outcome != "refused":
        assert outcome in body


def test_a_pdf_is_served_as_a_pdf_in_a_sandbox_whatever_its_name(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    # A PDF renamed .html must never be served as a page of this site.
    pdf = (FIXTURES / "zh_embedded_font.pdf").read_bytes()
    assert upload(pi, [(pdf, "<b>page</b>.html")]).status_code == 200
    document = only_document()
    assert document is not None
    response = client.get(f"/documents/{document.id}/file")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_text_documents_download_and_never_render(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    response = client.get(f"/documents/{project.document_ids['report.html']}/file")
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Content-Security-Policy"].startswith("sandbox")


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("a" * 600 + ".txt", "a" * 495 + "….txt"),  # PostgreSQL refused it, SQL and all
        ("../../etc/passwd.txt", "passwd.txt"),  # the browser's name, never a path
        ("report\u202etxt.exe.txt", "reporttxt.exe.txt"),  # no right-to-left override
        ("tab\there.txt", "tabhere.txt"),
    ],
)
def test_hostile_file_names_are_kept_harmless(
    client: FlaskClient, pi: AuthActions, project: Project, name: str, kept: str
) -> None:
    response = upload(pi, [(b"hello " + name[-12:].encode(), name)])
    assert response.status_code == 200, response.get_data(as_text=True)[-800:]
    document = only_document()
    assert document is not None and document.filename == kept
    assert "INSERT INTO" not in response.get_data(as_text=True)


def test_a_database_error_while_storing_shows_no_sql(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import DataError

    from annotator.services.documents import import_file

    def fail(*args: Any, **kwargs: Any) -> None:
        raise DataError("INSERT INTO document VALUES (%(secret)s)", {"secret": "x"}, Exception())

    monkeypatch.setattr(db.session, "commit", fail)
    outcome = import_file(
        db.session,
        FIXTURES / "notes.md",
        data_dir=app.config["DATA_DIR"],
        max_bytes=app.config["MAX_DOCUMENT_BYTES"],
    )
    assert outcome.reason == "could not be stored: database error (Exception)"


# --- bombs --------------------------------------------------------------------------------


def pdf_with_contents(content: bytes, *, pages: int = 1, mediabox: str = "0 0 612 792") -> bytes:
    """A minimal PDF whose every page draws ``content`` (compressed with FlateDecode)."""
    stream = zlib.compress(content, 9)
    font = 3 + 2 * pages
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{3 + 2 * i} 0 R' for i in range(pages))}] /Count {pages} >>".encode(),
    ]
    for i in range(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [{mediabox}] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(
            f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
            + stream
            + b"\nendstream"
        )
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def text_objects(count: int, text: bytes = b"A" * 90) -> bytes:
    return b"BT /F1 1 Tf 0 0 Td " + (b"(" + text + b") Tj ") * count + b"ET"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_plain_generated_pdf_is_read(tmp_path: Path) -> None:
    # The generator itself works: the refusals below are the limits, not broken files.
    path = write(tmp_path, "ok.pdf", pdf_with_contents(b"BT /F1 12 Tf 72 700 Td (Hello) Tj ET"))
    assert extract(path).full_text == "Hello"


@pytest.mark.parametrize(
    ("content", "limits", "reason"),
    [
        # 165 KB that PDFium would spend half a minute laying out: 500,000 text objects.
        (text_objects(500_000), ExtractionLimits(), "too complex to read (500,000 drawing"),
        # A page of text far beyond any real page, under a small text limit.
        (text_objects(2_000), ExtractionLimits(max_text_chars=100_000), "too much text"),
    ],
)
def test_pdf_bombs_are_refused(
    tmp_path: Path, content: bytes, limits: ExtractionLimits, reason: str
) -> None:
    path = write(tmp_path, "bomb.pdf", pdf_with_contents(content))
    assert path.stat().st_size < 200_000
    with pytest.raises(RefusedFile, match=re.escape(reason)):
        extract(path, limits=limits)


def test_a_slow_pdf_is_refused_after_the_time_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "slow.pdf", pdf_with_contents(text_objects(20_000), pages=3))
    with pytest.raises(RefusedFile, match=r"took too long \(over 0 s, at page 1 of 3\)"):
        extract(path, limits=ExtractionLimits(max_seconds=0))


def test_a_compressed_stream_of_nothing_and_a_huge_page_are_harmless(tmp_path: Path) -> None:
    # 200 MB of spaces in 200 KB, on a page the size of a country: no text, no problem.
    path = write(
        tmp_path,
        "empty.pdf",
        pdf_with_contents(b" " * 200_000_000, mediabox="0 0 14400000 14400000"),
    )
    assert path.stat().st_size < 300_000
    document = extract(path)
    assert document.page_count == 1 and not document.has_text


def test_too_many_pages_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "many.pdf", pdf_with_contents(b"", pages=30))
    with pytest.raises(RefusedFile, match=r"too many pages \(30 > 20\)"):
        extract(path, max_pages=20)


@pytest.mark.parametrize(
    ("source", "suffix"),
    [
        (b"<html><body>" + b"<div>" * 200_000 + b"x" + b"</div>" * 200_000, ".html"),
        (b"<div/>" * 200_000, ".html"),  # a browser opens a <div> at each
        (b"<" + b"x" * 100 + b">" * 1, ".html"),
        (b"# Title\n\n" + b"<section>" * 100_000, ".md"),  # raw HTML in Markdown
    ],
)
def test_html_nested_too_deep_is_refused_quickly(
    tmp_path: Path, source: bytes, suffix: str
) -> None:
    import time

    path = write(tmp_path, "deep" + suffix, source)
    started = time.monotonic()
    if html_nesting_depth(source.decode()) <= 1000:
        extract(path)
        return
    with pytest.raises(RefusedFile, match="nested too deep"):
        extract(path)
    # And the page of a document stored before the limit shows its text alone, at once.
    with pytest.raises(RefusedFile, match="nested too deep"):
        sanitize.document_html(source, DocumentFormat.HTML)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("source", "depth"),
    [
        ("<html><body><p>a<p>b<ul><li>x<li>y</ul><br><img src=x></body></html>", 3),
        ("<div/>" * 5, 5),
        ("<svg>" + "<path/>" * 50 + "</svg>" * 1, 1),
        ("<div>" * 3 + "</div>" * 3 + "<div>" * 2, 3),
        ("<" + "a" * 60 + ">" + "<" + "a" * 60 + ">", 2),
    ],
)
def test_html_nesting_depth(source: str, depth: int) -> None:
    assert html_nesting_depth(source) == depth


def test_real_documents_are_far_below_the_limits() -> None:
    for path in sorted(FIXTURES.glob("*")):
        if path.suffix in (".html", ".md"):
            assert html_nesting_depth(path.read_text(encoding="utf-8")) < 50, path


def test_an_upload_over_the_request_limit_is_413(
    app: Flask, client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 100_000
    response = upload(pi, [(b"x" * 200_000, "big.txt")])
    assert response.status_code == 413


def test_a_file_over_the_document_limit_is_refused_with_the_sizes(
    app: Flask, client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    app.config["MAX_DOCUMENT_BYTES"] = 10_000
    response = upload(pi, [(b"word " * 5_000, "long.txt")])
    assert response.status_code == 422
    assert "over the size limit" in response.get_data(as_text=True)


# --- script in text: rendered inert everywhere --------------------------------------------

PAYLOAD = "<script>alert('xss')</script><img src=x onerror=alert(1)>"
ESCAPED = "&lt;script&gt;alert("  # how the payload must look on a page


def hostile_project(app: Flask, project: Project, auth: AuthActions) -> dict[str, int]:
    """Put the payload in a codebook, a document's name, title and text, a note, a quote, a name."""
    from annotator.services.codebooks import load_codebook_text
    from annotator.services.documents import import_file

    source = STUDY_CODEBOOK.read_text(encoding="utf-8")
    quoted = '"' + PAYLOAD + '"'
    for plain in ["Service type", "Public relations and content"]:
        source = source.replace(plain, quoted, 1)
    source = source.replace(
        "          en: >-\n            Publishing content",
        "          en: >-\n            " + PAYLOAD + " Publishing content",
        1,
    )
    source = source.replace(
        "- 每周推送原创图文不少于3篇", "- " + PAYLOAD + " 每周推送原创图文不少于3篇", 1
    )
    assert source.count(PAYLOAD) == 4
    load_codebook_text(db.session, source, "hostile.yaml")
    db.session.commit()

    # Plain text, so that the payload is text of the document, which a quote can take.
    text = f"Quote me: {PAYLOAD}\n"
    path = Path(app.config["DATA_DIR"]).parent / "hostile.txt"
    path.write_text(text, encoding="utf-8")
    outcome = import_file(
        db.session,
        path,
        data_dir=app.config["DATA_DIR"],
        max_bytes=app.config["MAX_DOCUMENT_BYTES"],
        display_name=PAYLOAD + ".html",
    )
    assert outcome.document_id is not None, outcome.reason
    document = db.session.get(Document, outcome.document_id)
    assert document is not None
    document.title = PAYLOAD  # as a PDF's or a web page's title would give it
    document.province = PAYLOAD  # and the metadata CSV
    alice = db.session.get(User, project.users["alice"])
    assert alice is not None
    alice.display_name = PAYLOAD
    from annotator.models import Codebook
    from annotator.services import assignments as assignment_service

    codebook = db.session.get(Codebook, project.codebook_id)
    assert codebook is not None
    assignment_service.assign_by_hand(db.session, document, alice, codebook, False)
    db.session.commit()
    document_id = outcome.document_id
    auth.login("alice")
    saved = auth.post_json(
        f"/code/{document_id}/labels.json", {"values": {"city": PAYLOAD}, "note": PAYLOAD}
    )
    assert saved.status_code == 200, saved.get_json()
    quote = auth.post_json(
        f"/code/{document_id}/evidence.json",
        {"variable": "city", "page": 1, "quote": "Quote me: <script>alert('xss')</script>"},
    )
    assert quote.status_code == 200, quote.get_json()
    auth.logout()
    return {"hostile": document_id}


def assert_inert(body: str, where: str) -> None:
    assert "<script>alert(" not in body, where
    assert "<img src=x" not in body, where
    finder = ScriptAndStyleFinder()
    finder.feed(body)
    assert finder.inline == [], where


def test_script_in_every_text_is_rendered_inert(
    app: Flask, client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    ids = hostile_project(app, project, auth)
    hostile = ids["hostile"]
    pages = {
        "alice": ["/code/", f"/code/{hostile}"],
        "pi": [
            "/admin/",
            "/admin/codebooks",
            "/admin/users",
            "/admin/assignments",
            "/documents/",
            f"/documents/{hostile}",
            "/reliability/",
            "/adjudicate/",
            "/analysis/?source=alice&variable=service_type",
            "/exports/",
            "/exports/download?format=codebook-html",
        ],
    }
    shown = 0
    for who, urls in pages.items():
        auth.login(who)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            body = response.get_data(as_text=True)
            assert_inert(body, url)
            shown += ESCAPED in body
        auth.logout()
    # The payload is shown, escaped, on most of the pages: the check above was not vacuous.
    assert shown >= 6


# --- SQL in filters -----------------------------------------------------------------------

SQL_VALUES = [
    "' OR '1'='1",
    "1; DROP TABLE label_set; --",
    '" OR ""="',
    '1 UNION SELECT password_hash FROM "user" --',
    "%' AND 1=1 --",
    "\\'; DELETE FROM document; --",
    "99999999999999999999999999",
    "-1",
    "\x00",
    "ü" * 300,
]

FILTER_PAGES = [
    "/reliability/",
    "/reliability/disagreements",
    "/reliability/report.html",
    "/reliability/report.csv",
    "/analysis/",
    "/analysis/table.csv",
    "/exports/",
    "/exports/download",
    "/adjudicate/",
    "/adjudicate/{shared}",
    "/documents/",
    "/admin/assignments",
    "/code/",
]
FILTER_NAMES = [
    "version", "coder", "variable", "source", "by", "format", "layout", "codebook", "codebook_id",
    "province", "submitted_from", "submitted_to", "include_in_progress", "bootstrap", "seed",
    "lang", "bom", "q", "page", "sort", "plan-alpha_min", "plan-significance", "field:province",
]  # fmt: skip


def form_names(html: str) -> set[str]:
    """The names of a page's form fields: the filters it takes."""
    return set(re.findall(r'<(?:input|select|textarea)[^>]*\sname="([^"]+)"', html))


def counts() -> dict[str, int]:
    db.session.expire_all()
    return {
        model.__tablename__: db.session.scalar(db.select(db.func.count()).select_from(model))
        for model in (Document, LabelSet, LabelEvent, User, LoginAttempt)
    }


@pytest.mark.parametrize("page", FILTER_PAGES)
def test_sql_in_filters_is_harmless(
    client: FlaskClient, pi: AuthActions, project: Project, page: str
) -> None:
    from .test_access import bob_codes_the_shared_document

    bob_codes_the_shared_document(project)
    url = page.format(shared=project.document_ids[SHARED])
    names = set(FILTER_NAMES) | form_names(client.get(url).get_data(as_text=True))
    names.discard("csrf_token")
    before = counts()
    for value in SQL_VALUES:
        for name in sorted(names):
            response = client.get(url, query_string={name: value})
            assert response.status_code in (200, 400, 404, 422), (url, name, value)
        # All at once, too: every filter hostile in one request.
        response = client.get(url, query_string={name: value for name in names})
        assert response.status_code in (200, 400, 404, 422), (url, value)
    assert counts() == before
