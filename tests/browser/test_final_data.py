"""Adjudication, the analysis page and a download, in a real browser, as the PI does them."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import PASSWORD, Project
from ..test_reliability_pages import ALICE_QUOTE, BOB_QUOTE, SHARED, SOLO, VALUES, code_shared
from .conftest import PageProblems, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def coded(project: Project) -> Project:
    """Alice and bob differ on the kind of the shared document; alice alone codes another."""
    return code_shared(project, {"document_kind": "award"}, solo={"alice": VALUES})


def test_the_pi_decides_analyses_and_downloads(
    live_server: str, page: Any, problems: PageProblems, coded: Project
) -> None:
    log_in(page, live_server, "pi", PASSWORD)
    page.click("nav >> text=Adjudication")
    page.click(f"text={SHARED}")
    row = page.locator("#v-document_kind")
    expect(row.locator(".marker-disagree")).to_be_visible()
    # Both coders' quotes side by side.
    expect(row.locator(".coder-cell blockquote")).to_have_text(
        [f"“{ALICE_QUOTE}”", f"“{BOB_QUOTE}”"]
    )
    row.locator("label.choice", has_text="bob").locator("input").check()
    row.locator("textarea").fill("The notice announces the winning bid.")
    with page.expect_navigation():
        row.locator("button[type=submit]").click()
    row = page.locator("#v-document_kind")
    expect(row.locator(".final-cell .value")).to_have_text("Award notice")
    expect(row.locator(".final-note")).to_have_text("The notice announces the winning bid.")

    # The final values: bob's award for the shared document, alice's tender for hers.
    page.click("nav >> text=Analysis")
    page.select_option("select[name=variable]", "document_kind")
    page.click("form >> text=Show")
    table = page.locator("table.analysis-table")
    expect(table.locator("tr", has_text="Award notice").locator("td.num").first).to_have_text("1")
    expect(table.locator("tr", has_text="Tender notice").locator("td.num").first).to_have_text("1")
    expect(page.locator("svg.analysis-chart-svg .analysis-bar")).to_have_count(5)

    page.click("nav >> text=Exports")
    page.select_option("select[name=format]", "csv")
    page.select_option("select[name=layout]", "wide")
    with page.expect_download() as download:
        page.click("text=Download")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["unit"]: row["document_kind"] for row in rows} == {
        SHARED: "award",
        SOLO: "tender",
    }
    assert problems.errors == []
