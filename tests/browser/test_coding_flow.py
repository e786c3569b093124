"""Coding a document in a real browser: select a passage, attach it as evidence, save,
reload, submit; for a PDF (pdf.js text layer) and an HTML report (its sanitised rendering)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from annotator.extensions import db
from annotator.models import User

from ..conftest import PASSWORD, Project
from .conftest import SELECT_PASSAGE, PageProblems, attach, log_in

pytestmark = pytest.mark.browser

VALUES = {
    "v_service_type": ["emergency_alarm", "identity_verification"],
    "v_integration_depth": "deep_data",
    "v_data_collected": ["real_name", "photo_face"],
    "v_document_kind": "tender",
    "v_province": "fujian",
    "v_admin_level": "provincial",
    "v_year": "2019",
}


def fill_values(page: Any) -> None:
    for name, value in VALUES.items():
        for one in value if isinstance(value, list) else [value]:
            options = page.locator(f"#label-form [name={name}][value='{one}']")
            if options.count():
                options.check()
                continue
            field = page.locator(f"#label-form [name={name}]")
            if field.evaluate("element => element.tagName") == "SELECT":
                field.select_option(one)
            else:
                field.fill(one)


def test_pdf_selection_becomes_evidence_and_survives_reload(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    document_id = project.document_ids["zh_cid_font.pdf"]
    page.goto(f"{live_server}/code/{document_id}")
    page.wait_for_selector("[data-pdf-viewer][data-rendered-pages~='1']", state="attached")
    layer = ".pdf-page[data-page='1'] .textLayer"
    assert "福建省公安厅" in "".join(page.inner_text(layer).split())

    attach(page, layer + " span", "福建省公安厅", "province")
    expect(page.locator("#variable-province ul.evidence")).to_contain_text("福建省公安厅")
    # Drawn at once in the extracted text (which the quote was located in).
    expect(page.locator(".page[data-page='1'] mark.evidence")).to_have_text("福建省公安厅")

    fill_values(page)
    page.click("#label-form button[value=save]")
    page.wait_for_selector(".flash")
    page.reload()
    expect(page.locator("#variable-province ul.evidence")).to_contain_text("福建省公安厅")
    expect(page.locator(".page[data-page='1'] mark.evidence")).to_have_text("福建省公安厅")
    assert page.locator("#v_year").input_value() == "2019"

    page.click("#label-form button[value=submit]")
    page.wait_for_selector(".flash")
    assert page.url == f"{live_server}/code/{project.document_ids['en_two_pages.pdf']}", (
        page.locator(".flash, .field-error, .has-error").all_inner_texts()
    )
    assert problems.errors == []
    assert problems.dialogs == []


def test_attaching_evidence_speaks_the_coders_language(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    alice = db.session.get(User, project.users["alice"])
    assert alice is not None
    alice.locale = "zh_Hans"
    db.session.commit()
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server}/code/{project.document_ids['zh_cid_font.pdf']}")
    page.wait_for_selector("[data-pdf-viewer][data-rendered-pages~='1']", state="attached")
    layer = ".pdf-page[data-page='1'] .textLayer"
    assert page.evaluate(SELECT_PASSAGE, [layer + " span", "福建省公安厅"])
    expect(page.locator(".attach-menu p")).to_have_text("附加到…")
    page.click(".attach-menu button[data-variable='province']")
    expect(page.locator(".attach-message")).to_have_text("证据已添加。")
    expect(page.locator("#variable-province ul.evidence li")).to_have_text(
        "第 1 页: “福建省公安厅”"
    )
    assert problems.errors == []


def test_html_report_selection_is_highlighted_and_runs_no_script(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "bob", PASSWORD)
    page.goto(f"{live_server}/code/{project.document_ids['report.html']}")
    page.wait_for_selector(".document-html")
    # The report's script, inline handlers and document.write never ran.
    assert page.evaluate("() => typeof window.tracker") == "undefined"
    assert "injected" not in page.inner_text(".document-pane")

    # Selected in the sanitised rendering, highlighted there and in the extracted text.
    attach(page, ".document-html", "微信报警、线索举报", "service_type")
    # A quote is marked piece by piece where keyword highlights split its text.
    mark = page.locator(".document-html mark.evidence")
    expect(mark.first).to_be_attached()
    assert "".join(mark.all_text_contents()) == "微信报警、线索举报"
    expect(page.locator(".page[data-page='1'] mark.evidence")).to_have_text("微信报警、线索举报")

    fill_values(page)
    page.click("#label-form button[value=save]")
    page.wait_for_selector(".flash")
    page.reload()
    expect(mark.first).to_be_attached()
    assert "".join(mark.all_text_contents()) == "微信报警、线索举报"
    page.click("#variable-service_type .evidence-link")
    expect(page.locator(".document-html mark.evidence.is-target")).to_have_count(mark.count())

    page.click("#label-form button[value=submit]")
    page.wait_for_url(f"{live_server}/code/{project.document_ids['zh_cid_font.pdf']}")
    assert page.evaluate("() => typeof window.tracker") == "undefined"
    assert problems.errors == []
    assert problems.dialogs == []


def test_keyboard_shortcuts(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    first, second = (
        project.document_ids["zh_cid_font.pdf"],
        project.document_ids["en_two_pages.pdf"],
    )
    page.goto(f"{live_server}/code/{first}")
    page.focus("#label-form [name=v_document_kind] >> nth=0")
    page.keyboard.press("2")
    second_option = page.locator("#label-form [name=v_document_kind] >> nth=1")
    expect(second_option).to_be_checked()
    # Ctrl+S posts the form and comes back; wait for that page, not for any flash message
    # (autosave may have shown one already), or the next key lands mid-navigation.
    with page.expect_navigation():
        page.keyboard.press("Control+s")
    page.wait_for_selector(".flash")
    assert page.url == f"{live_server}/code/{first}"
    expect(second_option).to_be_checked()  # saved, and shown again after the redirect

    page.keyboard.press("Alt+ArrowRight")
    page.wait_for_url(f"{live_server}/code/{second}")
    page.keyboard.press("Alt+ArrowLeft")
    page.wait_for_url(f"{live_server}/code/{first}")
    page.keyboard.press("Control+Enter")  # required values missing: refused, with messages
    page.wait_for_selector(".field-error")
    assert problems.dialogs == []
