"""The document pane in a real browser: find in the document (Chinese, across lines and
pages), the codebook's keywords marked in the text, and evidence highlighted in the pdf.js
text layer and in the HTML rendering, also after a reload and a zoom."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import PASSWORD, Project
from ..fixtures.make_fixtures import CID_FONT_PAGES
from .conftest import PageProblems, attach, log_in

pytestmark = pytest.mark.browser

# Waits use selectors and expect, not wait_for_function: Playwright compiles a function's
# source with eval in the page, which the page's CSP refuses.


def layer(number: int) -> str:
    return f".pdf-page[data-page='{number}'] .textLayer"


def open_pdf(page: Any, base_url: str, document_id: int) -> None:
    page.goto(f"{base_url}/code/{document_id}")
    wait_for_drawn_page(page, 1)


def wait_for_drawn_page(page: Any, number: int) -> None:
    page.wait_for_selector(f"[data-pdf-viewer][data-rendered-pages~='{number}']", state="attached")


def marked_text(page: Any, selector: str) -> str:
    """The text of the marks a selector finds, joined (a match spans a mark per text node)."""
    return "".join(page.locator(selector).all_text_contents())


def wait_for_find(page: Any) -> None:
    """Wait until the find bar's module (loaded after the form's) has started."""
    page.wait_for_selector(".find-bar.is-ready", state="attached")


def find(page: Any, query: str) -> None:
    wait_for_find(page)
    page.fill("#find-query", query)
    page.press("#find-query", "Enter")


def test_chinese_find_counts_the_whole_pdf_and_marks_the_text_layer(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_pdf(page, live_server, project.document_ids["zh_cid_font.pdf"])
    count = page.locator("[data-role=find-count]")

    find(page, "福建省公安厅")
    expect(count).to_have_text("1 of 1")
    current = f"{layer(1)} mark.find-current"
    expect(page.locator(current).first).to_be_attached()
    assert marked_text(page, current) == "福建省公安厅"

    # Counted over both pages, from the extracted text, though page 2 is not drawn.
    occurrences = sum("".join(lines).count("微信") for lines in CID_FONT_PAGES)
    assert occurrences == 2
    find(page, "微信")
    expect(count).to_have_text(f"1 of {occurrences}")

    # A query across a line break: the text layer has the lines in separate spans.
    find(page, "招标公告采购人")
    expect(count).to_have_text("1 of 1")
    expect(page.locator(current).first).to_be_attached()
    assert marked_text(page, current) == "招标公告采购人"
    assert page.locator(current).count() >= 2

    # Full-width brackets and the yuan sign match their ASCII forms; Latin ignores case.
    find(page, "(¥12,800,000.00)")
    expect(count).to_have_text("1 of 1")

    page.press("#find-query", "Escape")
    expect(page.locator("#find-query")).to_have_value("")
    expect(count).to_have_text("")
    expect(page.locator(f"{layer(1)} mark.find-hit")).to_have_count(0)
    find(page, "不在文件里")
    expect(count).to_have_text("No matches")
    assert problems.errors == []


def test_find_goes_to_the_page_of_the_match(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_pdf(page, live_server, project.document_ids["zh_cid_font.pdf"])
    page_number = page.locator("[data-role=page-number]")
    count = page.locator("[data-role=find-count]")

    expect(page.locator("[data-pdf-viewer]")).not_to_have_attribute(
        "data-rendered-pages", re.compile(r"\b2\b")
    )
    # Ctrl+F reaches the bar (the browser's own find cannot see undrawn pages).
    wait_for_find(page)
    page.click(".document-pane h1")
    page.keyboard.press("Control+f")
    expect(page.locator("#find-query")).to_be_focused()
    page.keyboard.type("微信报警")
    expect(count).to_have_text("1 of 1")  # typed: found without Enter
    wait_for_drawn_page(page, 2)
    # The viewer went to page 2. (Its page number names the page at the top of the pane:
    # with the match, on page 2's first line, below the sticky bars, that may still be 1.)
    current = page.locator(f"{layer(2)} mark.find-current").first
    expect(current).to_be_in_viewport()
    assert marked_text(page, f"{layer(2)} mark.find-current") == "微信报警"

    find(page, "微信")
    expect(count).to_have_text("1 of 2")  # from the page the viewer names, 1
    page.press("#find-query", "Enter")
    expect(count).to_have_text("2 of 2")
    expect(page.locator(f"{layer(2)} mark.find-current").first).to_be_in_viewport()
    expect(page.locator(f"{layer(1)} mark.find-current")).to_have_count(0)
    page.press("#find-query", "Shift+Enter")
    expect(count).to_have_text("1 of 2")
    expect(page_number).to_have_value("1")
    expect(page.locator(f"{layer(1)} mark.find-current").first).to_be_in_viewport()
    page.click("[data-find=previous]")
    expect(count).to_have_text("2 of 2")
    assert problems.errors == []


def test_keywords_are_marked_in_the_text_layer_and_can_be_turned_off(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_pdf(page, live_server, project.document_ids["zh_cid_font.pdf"])
    keyword = page.locator(f"{layer(1)} mark.keyword", has_text="招标公告")
    expect(keyword).to_have_count(1)
    assert keyword.get_attribute("title") == "Document kind: Tender notice"

    toggle = page.get_by_label("Highlight keywords")
    toggle.uncheck()
    expect(page.locator("mark.keyword")).to_have_count(0)
    # The text layer is whole again: one text node per span, the text unchanged.
    assert "招标公告" in page.inner_text(layer(1))

    page.reload()  # the choice is remembered
    wait_for_drawn_page(page, 1)
    expect(toggle).not_to_be_checked()
    expect(page.locator("mark.keyword")).to_have_count(0)

    toggle.check()
    expect(keyword).to_have_count(1)
    page.click("[data-action=next]")
    wait_for_drawn_page(page, 2)
    # Pages are marked as they are drawn; the longer keyword wins (人脸识别, not 人脸).
    marks = page.locator(f"{layer(2)} mark.keyword")
    expect(marks.filter(has_text="人脸识别")).to_have_count(1)
    for word in ("微信报警", "实名认证", "警务云"):
        expect(marks.filter(has_text=word)).to_have_count(1)
    assert problems.errors == []


def test_pdf_evidence_is_highlighted_in_the_text_layer_after_reload_and_zoom(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_pdf(page, live_server, project.document_ids["zh_cid_font.pdf"])
    evidence = f"{layer(1)} mark.evidence"

    attach(page, layer(1), "福建省公安厅", "province")
    expect(page.locator(evidence).first).to_be_attached()  # at once
    assert marked_text(page, evidence) == "福建省公安厅"
    expect(page.locator(".page[data-page='1'] mark.evidence")).to_have_text("福建省公安厅")

    page.reload()
    wait_for_drawn_page(page, 1)
    expect(page.locator(evidence).first).to_be_attached()
    assert marked_text(page, evidence) == "福建省公安厅"

    page.click("[data-action=zoom-in]")  # every page is drawn again
    wait_for_drawn_page(page, 1)
    expect(page.locator("[data-role=zoom]")).to_have_text("150%")
    expect(page.locator(evidence).first).to_be_attached()
    assert marked_text(page, evidence) == "福建省公安厅"

    # Away on page 2, a click on the evidence item comes back to the highlight.
    page.click("[data-action=next]")
    wait_for_drawn_page(page, 2)
    expect(page.locator("[data-role=page-number]")).to_have_value("2")
    expect(page.locator(evidence).first).not_to_be_in_viewport()
    page.click("#variable-province .evidence-link")
    expect(page.locator(evidence).first).to_have_class("evidence is-target")
    expect(page.locator(evidence).first).to_be_in_viewport()
    expect(page.locator("[data-role=page-number]")).to_have_value("1")
    assert problems.errors == []


def test_evidence_clicked_before_its_page_is_drawn_is_scrolled_to_once_drawn(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_pdf(page, live_server, project.document_ids["zh_cid_font.pdf"])
    page.click("[data-action=next]")
    wait_for_drawn_page(page, 2)
    attach(page, layer(2), "人脸识别", "service_type")

    page.reload()  # page 2 is not drawn until the viewer goes there
    wait_for_drawn_page(page, 1)
    page.click("#variable-service_type .evidence-link")
    wait_for_drawn_page(page, 2)
    mark = page.locator(f"{layer(2)} mark.evidence").first
    expect(mark).to_have_class("evidence is-target")
    expect(mark).to_be_in_viewport()
    assert marked_text(page, f"{layer(2)} mark.evidence") == "人脸识别"
    assert problems.errors == []


def test_html_report_find_keywords_and_evidence_in_the_rendering(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "bob", PASSWORD)
    page.goto(f"{live_server}/code/{project.document_ids['report.html']}")
    html = page.locator(".document-html")
    expect(html).to_be_visible()
    count = page.locator("[data-role=find-count]")

    find(page, "微信报警")  # in the paragraph and again in the list below it
    expect(count).to_have_text("1 of 2")
    expect(html.locator("mark.find-hit")).to_have_count(2)
    expect(html.locator("p mark.find-current")).to_have_text("微信报警")
    page.press("#find-query", "Enter")
    expect(count).to_have_text("2 of 2")
    expect(html.locator("li mark.find-current")).to_have_text("微信报警")
    page.press("#find-query", "Escape")
    expect(html.locator("mark.find-hit")).to_have_count(0)

    expect(html.locator("mark.keyword", has_text="线索举报")).to_have_count(1)

    # The second 微信报警, selected in the list, is stored as that occurrence and drawn there.
    attach(page, ".document-html li", "微信报警", "service_type")
    evidence = html.locator("mark.evidence")
    expect(evidence).to_have_count(1)
    expect(html.locator("li mark.evidence")).to_have_text("微信报警")
    page.reload()
    expect(html.locator("li mark.evidence")).to_have_text("微信报警")
    expect(evidence).to_have_count(1)
    page.click("#variable-service_type .evidence-link")
    expect(evidence).to_have_class("evidence is-target")
    expect(evidence).to_be_in_viewport()
    assert page.evaluate("() => typeof window.tracker") == "undefined"
    assert problems.errors == []
    assert problems.dialogs == []
