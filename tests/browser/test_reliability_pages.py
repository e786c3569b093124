"""The PI's reliability pages in a real browser: the chart, the printed report, the explorer."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import PASSWORD, Project
from ..test_reliability_pages import ALICE_QUOTE, BOB_QUOTE, SHARED, VALUES, code_shared
from .conftest import ARTIFACTS, PageProblems, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def coded(project: Project) -> Project:
    """Alice and bob code two documents alike except the kind of the first: alpha is defined."""
    solo = {**VALUES, "document_kind": "award", "year": 2020}
    return code_shared(project, {"document_kind": "award"}, solo={"alice": solo, "bob": solo})


def test_dashboard_chart_marks_the_minimums_and_draws_intervals(
    live_server: str, page: Any, problems: PageProblems, coded: Project
) -> None:
    log_in(page, live_server, "pi", PASSWORD)
    page.click("nav >> text=Reliability")
    chart = page.locator("svg.alpha-chart-svg")
    expect(chart).to_be_visible()
    expect(chart.locator(".chart-minimum text")).to_have_text(["0.667", "0.800"])
    # The year is coded alike on both documents: reliable, with a dot and an interval.
    year = chart.locator(".chart-row[aria-label^='Year: alpha']")
    expect(year).to_have_count(1)
    expect(year.locator("circle.chart-alpha")).to_have_count(1)
    expect(year.locator("line.chart-interval")).to_have_count(1)
    # The minimum lines are drawn inside the plot, 0.667 left of 0.8.
    lines = chart.locator(".chart-minimum line")
    first, second = (lines.nth(i).bounding_box() for i in range(2))
    assert first is not None and second is not None and first["x"] < second["x"]
    # A variable nobody varied on says "undefined", never a number.
    expect(chart.locator(".chart-row.verdict-undefined .chart-undefined").first).to_have_text(
        "undefined"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reliability-dashboard.png"), full_page=True)
    assert problems.errors == []


def test_report_prints_without_navigation(
    live_server: str, page: Any, problems: PageProblems, coded: Project
) -> None:
    log_in(page, live_server, "pi", PASSWORD)
    page.goto(live_server + "/reliability/report.html?seed=5")
    expect(page.locator(".methods")).to_contain_text("random seed 5")
    expect(page.locator(".topbar")).to_have_count(0)
    expect(page.locator(".screen-only")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator(".screen-only")).to_be_hidden()
    expect(page.locator("svg.alpha-chart-svg")).to_be_visible()
    assert page.pdf(format="A4")[:4] == b"%PDF"
    assert problems.errors == []


def test_disagreements_show_two_coders_side_by_side(
    live_server: str, page: Any, problems: PageProblems, coded: Project
) -> None:
    log_in(page, live_server, "pi", PASSWORD)
    page.goto(live_server + "/reliability/")
    page.click("tr.variable-row:has(code:text-is('document_kind')) >> text=Disagreements")
    values = page.locator(".disagreement .coder-value")
    expect(values).to_have_count(2)
    expect(values.nth(0)).to_contain_text("alice")
    expect(values.nth(0)).to_contain_text(ALICE_QUOTE)
    expect(values.nth(1)).to_contain_text("bob")
    expect(values.nth(1)).to_contain_text(BOB_QUOTE)
    # Both boxes in one layout, once the fonts are in (a late font moves what is below it).
    left, right = page.evaluate(
        """async () => {
            await document.fonts.ready;
            return [...document.querySelectorAll(".disagreement .coder-value")].map((e) => {
                const box = e.getBoundingClientRect();
                return {x: box.x, y: box.y, width: box.width};
            });
        }"""
    )
    assert abs(left["y"] - right["y"]) < 2 and left["x"] + left["width"] <= right["x"], (
        left,
        right,
    )
    page.click(f".disagreement h3 a:text-is('{SHARED}')")
    page.wait_for_url(f"**/documents/{coded.document_ids[SHARED]}")
    assert problems.errors == []
