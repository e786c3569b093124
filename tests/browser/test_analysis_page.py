"""The analysis page in a real browser: a filtered cross-table by a metadata field, as the PI."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from annotator.extensions import db
from annotator.models import Document

from ..conftest import PASSWORD, Project
from ..test_analysis_pages import OTHER, decide
from ..test_reliability_pages import SHARED, SOLO, VALUES, code
from .conftest import ARTIFACTS, PageProblems, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def coded(project: Project) -> Project:
    """Documents in two provinces; alice, bob and the PI's decision give the final depths.

    广东: SOLO, alice's deep data integration. 福建: SHARED, coded by alice and bob and
    decided by the PI as operational; OTHER, bob's symbolic use.
    """
    for name, province in ((SOLO, "广东"), (SHARED, "福建"), (OTHER, "福建")):
        db.session.get(Document, project.document_ids[name]).province = province
    db.session.commit()
    code(project, "alice", SOLO, {**VALUES, "integration_depth": "deep_data"})
    code(project, "alice", SHARED, {**VALUES, "integration_depth": "deep_data"})
    code(project, "bob", SHARED, {**VALUES, "integration_depth": "symbolic"})
    code(project, "bob", OTHER, {**VALUES, "integration_depth": "symbolic"})
    decide(project, SHARED, "integration_depth", "operational")
    return project


def test_the_pi_cross_tabulates_by_province_and_downloads(
    live_server: str, page: Any, problems: PageProblems, coded: Project
) -> None:
    log_in(page, live_server, "pi", PASSWORD)
    page.click("nav >> text=Analysis")
    page.select_option("select[name=variable]", "integration_depth")
    page.select_option("select[name=by]", "field:province")
    # The final values of the documents bob coded: both in 福建.
    page.check("input[name=coder][value=bob]")
    page.click("form >> text=Show")

    chart = page.locator("svg.analysis-crosstab-svg")
    expect(chart).to_be_visible()
    bars = chart.locator("g.crosstab-bar")
    expect(bars).to_have_count(1)
    expect(bars.first.locator("text.crosstab-bar-label")).to_have_text("福建")
    expect(bars.first.locator("text.crosstab-total")).to_have_text("n = 2")
    segments = bars.first.locator("g.crosstab-segment")
    expect(segments).to_have_count(2)
    assert [segments.nth(i).get_attribute("data-value") for i in range(2)] == [
        "Symbolic or public-relations use",
        "Operational integration",
    ]
    expect(segments.first.locator("text")).to_have_text("50 %")
    expect(chart.locator("g.crosstab-legend-item")).to_have_count(5)
    # The Chinese label is drawn with a CJK font: two glyphs about an em wide each.
    box = bars.first.locator("text.crosstab-bar-label").bounding_box()
    assert box is not None and box["width"] > 18

    table = page.locator("table.crosstab")
    expect(table.locator("thead th")).to_have_text(
        ["Integration depth \\ Province", "福建", "Total"]
    )
    expect(table.locator("tr", has_text="Operational integration").locator("td")).to_have_text(
        ["1", "1"]
    )
    expect(table.locator("tr", has_text="Deep data integration").locator("td")).to_have_text(
        ["0", "0"]
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "analysis-crosstab.png"), full_page=True)

    with page.expect_download() as download:
        page.click("text=Table (CSV)")
    assert download.value.suggested_filename == "integration_depth-by-field-province.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Integration depth \\ Province", "福建", "total"]
    assert rows[-1] == ["total", "2", "2"]
    table_rows = {row[0]: row[1:] for row in rows[1:-1]}
    assert table_rows["Operational integration"] == ["1", "1"]
    assert table_rows["Symbolic or public-relations use"] == ["1", "1"]
    assert table_rows["Deep data integration"] == ["0", "0"]  # alice's 广东 is filtered out
    assert problems.errors == []
