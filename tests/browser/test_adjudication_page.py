"""Adjudication by a coder given the right on the People page, in a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import PASSWORD, Project
from ..test_reliability_pages import BOB_QUOTE, SHARED, code_shared
from .conftest import ARTIFACTS, PageProblems, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def coded(project: Project) -> Project:
    """Alice and bob code the shared document: they differ on its kind and its services."""
    return code_shared(project, {"document_kind": "award", "service_type": ["crime_reporting"]})


def test_a_coder_given_the_right_adjudicates_beside_the_document(
    live_server: str, page: Any, problems: PageProblems, coded: Project
) -> None:
    # The PI gives carol, who codes nothing, the adjudicator right on the People page.
    log_in(page, live_server, "pi", PASSWORD)
    page.click("nav >> text=People")
    carol = page.locator("#adjudicator-carol")
    expect(carol).to_contain_text("no")
    with page.expect_navigation():
        carol.locator("button", has_text="Give the right").click()
    expect(page.locator("text=carol may now adjudicate.")).to_be_visible()
    expect(page.locator("#adjudicator-carol button")).to_have_text("Take the right back")
    with page.expect_navigation():
        page.click("header >> text=Log out")

    log_in(page, live_server, "carol", PASSWORD)
    page.click("nav >> text=Adjudication")
    page.click(f"text={SHARED}")

    # The PDF drawn by the viewer on the left, the comparison on the right.
    pane = page.locator(".document-pane")
    expect(pane.locator(".pdf-page[data-page='1'] canvas")).to_be_visible()
    expect(pane.locator(".pdf-page[data-page='1'] .textLayer")).to_contain_text("福建省公安厅")
    table = page.locator(".form-pane table.adjudication")
    expect(table).to_be_visible()
    document_box, table_box = pane.bounding_box(), table.bounding_box()
    assert document_box["x"] + document_box["width"] <= table_box["x"]

    # A click on bob's quote highlights it in the PDF's text layer.
    row = page.locator("#v-document_kind")
    row.locator(".coder-cell .evidence-link", has_text=BOB_QUOTE).click()
    target = pane.locator(".textLayer mark.evidence.is-target")
    expect(target.first).to_be_visible()
    assert "".join(target.all_inner_texts()) == BOB_QUOTE
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "adjudication-page.png"))

    # A multiple-choice final value typed with check boxes, and a note.
    row = page.locator("#v-service_type")
    expect(row.locator(".marker-disagree")).to_be_visible()
    typed = row.locator("fieldset.typed-value")
    expect(typed).to_be_hidden()  # the typed value's fields wait until it is chosen
    row.locator("label.choice", has_text="typed value").locator("input").check()
    expect(typed).to_be_visible()
    typed.locator("label", has_text="Crime and disturbance reporting").locator("input").check()
    typed.locator("label", has_text="Emergency alarm").locator("input").check()
    row.locator("textarea[name='service_type-note']").fill("The tender lists both services.")
    with page.expect_navigation():
        row.locator("button[type=submit]").click()
    row = page.locator("#v-service_type")
    expect(row.locator(".final-cell .value")).to_contain_text("Crime and disturbance reporting")
    expect(row.locator(".final-cell .value")).to_contain_text("Emergency alarm")
    expect(row.locator(".final-cell .final-note")).to_have_text("The tender lists both services.")
    expect(row.locator(".final-cell")).to_contain_text("typed · carol")
    checked = row.locator("fieldset.typed-value input:checked")
    expect(checked).to_have_count(2)

    # Every agreed value accepted in one step.
    accept = page.locator("form.accept-agreed button")
    expect(accept).to_be_enabled()
    with page.expect_navigation():
        accept.click()
    expect(page.locator(".flashes")).to_contain_text(re.compile(r"Accepted \d+ agreed values\."))
    expect(page.locator("form.accept-agreed button")).to_be_disabled()
    expect(page.locator("#v-year .final-cell .value")).to_have_text("2019")
    expect(page.locator("#v-document_kind .final-cell")).to_contain_text("not decided")
    assert problems.errors == []
