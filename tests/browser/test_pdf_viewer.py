"""The PDF viewer of the coding page, in a real browser: pdf.js draws the pages, its text
layer holds the text, the page's CSP is kept, and a hostile PDF runs no script."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import FIXTURES, PASSWORD, Project
from ..fixtures.make_fixtures import CID_FONT_PAGES
from .conftest import ARTIFACTS, PageProblems, log_in

pytestmark = pytest.mark.browser


# Waits use selectors, not wait_for_function: Playwright compiles a function's source with
# eval in the page, which the page's CSP (rightly) refuses.


def wait_for_drawn_page(page: Any, number: int) -> None:
    """Wait until the viewer lists a page as drawn."""
    page.wait_for_selector(f"[data-pdf-viewer][data-rendered-pages~='{number}']", state="attached")


def open_coding_page(page: Any, base_url: str, document_id: int) -> None:
    """Open a document's coding page and wait until pdf.js has drawn its first page."""
    page.goto(f"{base_url}/code/{document_id}")
    wait_for_drawn_page(page, 1)


def non_white_share(page: Any, number: int) -> float:
    """The share of a drawn page's canvas pixels that are not white."""
    return page.evaluate(
        """(number) => {
            const canvas = document.querySelector(`.pdf-page[data-page="${number}"] canvas`);
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let marked = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (data[i + 3] > 0 && (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200)) marked++;
            }
            return marked / (data.length / 4);
        }""",
        number,
    )


def test_chinese_pdf_with_cid_font_is_drawn_with_selectable_text(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_coding_page(page, live_server, project.document_ids["zh_cid_font.pdf"])

    # STSong-Light is not embedded: without the CMaps there would be no text at all.
    text = "".join(page.inner_text(".pdf-page[data-page='1'] .textLayer").split())
    for line in CID_FONT_PAGES[0]:
        assert "".join(line.split()) in text
    span = page.locator(".pdf-page[data-page='1'] .textLayer span").first
    assert span.evaluate("element => getComputedStyle(element).userSelect") == "text"
    # Drawn glyphs, not a blank page: the title line alone covers well over 0.1 %.
    assert non_white_share(page, 1) > 0.001

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pdf-viewer-cid-font.png"))

    # The extracted text, which evidence is checked against, is still on the page.
    page.click("details.extracted-text > summary")
    assert CID_FONT_PAGES[1][0] in page.inner_text("details.extracted-text")
    assert problems.errors == []
    assert problems.dialogs == []


def test_page_navigation_and_zoom(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_coding_page(page, live_server, project.document_ids["zh_cid_font.pdf"])
    viewer = page.locator("[data-pdf-viewer]")
    width = page.locator(".pdf-page[data-page='1']").bounding_box()["width"]

    page.click("[data-action=zoom-in]")
    wait_for_drawn_page(page, 1)
    assert page.locator(".pdf-page[data-page='1']").bounding_box()["width"] > width * 1.1
    assert page.inner_text("[data-role=zoom]") == "150%"

    page.click("[data-action=next]")
    wait_for_drawn_page(page, 2)
    expect(page.locator("[data-role=page-number]")).to_have_value("2")
    assert "本文件为合成测试文件" in page.inner_text(".pdf-page[data-page='2'] .textLayer")
    page.fill("[data-role=page-number]", "1")
    page.press("[data-role=page-number]", "Enter")
    expect(page.locator("[data-role=page-number]")).to_have_value("1")
    assert page.locator(".pdf-page[data-page='1']").bounding_box()["y"] < 300
    assert viewer.get_attribute("data-page-count") == "2"
    assert problems.errors == []


def pdf_with_font_matrix_payload(payload: bytes) -> bytes:
    """A one-page PDF whose Type1 font has a /FontMatrix holding a script string.

    Built like the public proof of concept of CVE-2024-4367, where pdf.js before 4.2.67
    compiled the font matrix into JavaScript and ran it. The text is drawn with a clipping
    render mode too, which makes pdf.js draw glyphs as paths: the code path of that bug.
    """
    stream = b"BT /F1 24 Tf 72 700 Td (Hello) Tj 7 Tr 72 650 Td (Hello) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
        b" /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FontDescriptor 6 0 R"
        b" /FontMatrix [1 2 3 4 5 (" + payload + b")] >>",
        b"<< /Type /FontDescriptor /FontName /Helvetica /Flags 32"
        b" /FontBBox [0 0 1000 1000] /ItalicAngle 0 /Ascent 800 /Descent -200"
        b" /CapHeight 700 /StemV 80 >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_font_matrix_payload_runs_no_script(
    app: Any, page: Any, problems: PageProblems, live_server: str, project: Project, tmp_path: Any
) -> None:
    from annotator.extensions import db
    from annotator.models import Assignment, Codebook, Document, User
    from annotator.services import assignments as assignment_service
    from annotator.services.documents import import_files

    path = tmp_path / "font_matrix_payload.pdf"
    path.write_bytes(pdf_with_font_matrix_payload(rb"0\); window.__pwned = 1; alert\('pwned'"))
    report = import_files(db.session, [path], data_dir=app.config["DATA_DIR"], max_bytes=10_000_000)
    assert not report.refused, report.summary_lines()
    document_id = report.outcomes[0].document_id
    assignment_service.assign_by_hand(
        db.session,
        db.session.get(Document, document_id),
        db.session.get(User, project.users["alice"]),
        db.session.get(Codebook, project.codebook_id),
        False,
    )
    db.session.commit()
    assert db.session.query(Assignment).filter_by(document_id=document_id).count() == 1

    log_in(page, live_server, "alice", PASSWORD)
    open_coding_page(page, live_server, document_id)
    page.wait_for_timeout(500)  # let any deferred glyph drawing happen
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert problems.dialogs == []
    assert problems.errors == []


def test_fixture_is_the_one_imported() -> None:
    # The Chinese test above relies on this file's font not being embedded.
    assert b"/STSong-Light" in (FIXTURES / "zh_cid_font.pdf").read_bytes()


def test_pi_document_page_shows_the_viewer(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "pi", PASSWORD)
    page.goto(f"{live_server}/documents/{project.document_ids['en_two_pages.pdf']}")
    wait_for_drawn_page(page, 1)
    assert "WeChat policing" in page.inner_text(".pdf-page[data-page='1'] .textLayer")
    assert problems.errors == []
