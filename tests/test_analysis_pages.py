"""The analysis page: frequencies and cross-tabulations of final or one coder's values."""

from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from annotator.analysis_views import fit, heat, ink_on, stacked_bars, text_width
from annotator.extensions import db
from annotator.models import Codebook, Document, LabelSet, User
from annotator.services.adjudication import set_final
from annotator.tabulate import Scale, crosstab

from .conftest import AuthActions, Project
from .test_reliability_pages import SHARED, SOLO, VALUES, code, page

OTHER = "report.html"  # bob alone codes it


def cells(body: str) -> str:
    return " ".join(body.split())


def test_without_coding(client: FlaskClient, pi: AuthActions, project: Project) -> None:
    assert "Nothing to analyse yet" in page(client, "/analysis/")
    assert client.get("/analysis/table.csv").status_code == 404


def test_frequencies_of_one_coder(client: FlaskClient, pi: AuthActions, project: Project) -> None:
    code(project, "alice", SHARED, VALUES)
    code(project, "alice", SOLO, {**VALUES, "document_kind": "award"})
    code(project, "bob", SHARED, {**VALUES, "document_kind": "contract"})
    body = cells(page(client, "/analysis/?source=alice&variable=document_kind"))
    assert "2 documents with values." in body
    assert '<td>Tender notice</td><td class="num">1</td><td class="num">50.0 %</td>' in body
    assert '<td>Award notice</td><td class="num">1</td>' in body
    assert '<td>Contract</td><td class="num">0</td>' in body  # bob's value is not alice's
    assert "analysis-chart-svg" in body
    response = client.get("/analysis/table.csv?source=alice&variable=document_kind")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="document_kind.csv"'
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = {row[0]: row for row in csv.reader(io.StringIO(text.removeprefix("\ufeff")))}
    assert rows["tender"][2:] == ["1", "0.5000"] and rows["contract"][2] == "0"


def test_frequencies_of_final_values(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    # Alice and bob disagree on the shared document and the PI decides; alice alone codes
    # the other document, whose submitted values are final as they are.
    code(project, "alice", SHARED, VALUES)
    code(project, "bob", SHARED, {**VALUES, "document_kind": "award"})
    code(project, "alice", SOLO, VALUES)
    document = db.session.get(Document, project.document_ids[SHARED])
    version = db.session.get(Codebook, project.codebook_id).latest
    the_pi = db.session.get(User, project.users["pi"])
    set_final(db.session, document, version, "document_kind", user=the_pi, value="contract")
    db.session.commit()
    body = cells(page(client, "/analysis/?source=final&variable=document_kind"))
    assert "2 documents with values." in body
    assert '<td>Contract</td><td class="num">1</td>' in body
    assert '<td>Tender notice</td><td class="num">1</td>' in body
    assert '<td>Award notice</td><td class="num">0</td>' in body


def test_crosstab_by_a_metadata_field_and_by_a_variable(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    code(project, "alice", SHARED, VALUES)
    code(project, "alice", SOLO, {**VALUES, "integration_depth": "symbolic"})
    body = cells(page(client, "/analysis/?source=alice&variable=integration_depth&by=field:kind"))
    assert "<h2>Integration depth by Kind of document</h2>" in body
    body = cells(
        page(client, "/analysis/?source=alice&variable=integration_depth&by=document_kind")
    )
    assert "2 documents with a value on both." in body
    response = client.get(
        "/analysis/table.csv?source=alice&variable=integration_depth&by=document_kind"
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))
    header, total = rows[0], rows[-1]
    assert header[-1] == "total" and total[0] == "total" and total[-1] == "2"


def test_bad_choices_fall_back(client: FlaskClient, pi: AuthActions, project: Project) -> None:
    code(project, "alice", SHARED, VALUES)
    body = page(client, "/analysis/?source=mallory&variable=nope&by=field:password_hash&version=x")
    # An unknown coder, variable, field or version: the defaults (final values; the first
    # variable; frequencies; the newest version) instead of an error.
    assert "<h2>Service type</h2>" in cells(body)
    assert "Final values: adjudicated values" in body


def test_coders_may_not_see_it(client: FlaskClient, auth: AuthActions, project: Project) -> None:
    auth.login("alice")
    assert client.get("/analysis/").status_code == 403
    assert client.get("/analysis/table.csv").status_code == 403


def test_heat() -> None:
    assert [heat(count, 10) for count in (0, 1, 2, 5, 9, 10)] == [0, 1, 2, 3, 5, 5]
    assert heat(3, 0) == 0


# --- the dashboard's filters ------------------------------------------------------------------


def counts(body: str) -> dict[str, int]:
    """The frequency table of a page: {label: count}, without the missing row."""
    table = re.search(r'<table class="analysis-table">(.*?)</table>', body, re.S)
    assert table, "no frequency table"
    rows = re.findall(r'<tr><td>([^<]*)</td><td class="num">(\d+)</td>', table.group(1))
    return {html.unescape(label): int(n) for label, n in rows if int(n)}


def submitted_on(project: Project, coder: str, document: str, day: str) -> None:
    """Date a coder's label set of a document, as if submitted (or last changed) that day."""
    label_set = db.session.scalars(
        db.select(LabelSet).where(
            LabelSet.coder_id == project.users[coder],
            LabelSet.document_id == project.document_ids[document],
        )
    ).one()
    when = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
    label_set.updated_at = when
    if label_set.submitted_at is not None:
        label_set.submitted_at = when
    db.session.commit()


def decide(project: Project, document: str, variable: str, value: object) -> None:
    """The PI sets a final value."""
    version = db.session.get(Codebook, project.codebook_id).latest
    the_pi = db.session.get(User, project.users["pi"])
    doc = db.session.get(Document, project.document_ids[document])
    set_final(db.session, doc, version, variable, user=the_pi, value=value)
    db.session.commit()


@pytest.fixture
def dated(project: Project) -> Project:
    """Three documents, final values of the kind tender, award and contract, coded on three days.

    Alice alone codes SOLO (tender, 10 January); alice and bob both code SHARED (2 February),
    differ, and the PI decides award; bob alone codes OTHER (contract, 5 March).
    """
    code(project, "alice", SOLO, {**VALUES, "document_kind": "tender"})
    code(project, "alice", SHARED, {**VALUES, "document_kind": "tender"})
    code(project, "bob", SHARED, {**VALUES, "document_kind": "contract"})
    code(project, "bob", OTHER, {**VALUES, "document_kind": "contract"})
    decide(project, SHARED, "document_kind", "award")
    submitted_on(project, "alice", SOLO, "2026-01-10")
    submitted_on(project, "alice", SHARED, "2026-02-02")
    submitted_on(project, "bob", SHARED, "2026-02-02")
    submitted_on(project, "bob", OTHER, "2026-03-05")
    return project


TENDER, AWARD, CONTRACT = "Tender notice", "Award notice", "Contract"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {TENDER: 1, AWARD: 1, CONTRACT: 1}),
        # Final values of the documents coded by the coders ticked.
        ("coder=alice", {TENDER: 1, AWARD: 1}),
        ("coder=bob", {AWARD: 1, CONTRACT: 1}),
        ("coder=alice&coder=bob", {TENDER: 1, AWARD: 1, CONTRACT: 1}),
        # One coder's values are that coder's: the ticks do not narrow them.
        ("source=alice", {TENDER: 2}),
        ("source=alice&coder=bob", {TENDER: 2}),
        ("source=bob", {CONTRACT: 2}),
        # An unknown coder is no filter, as on the dashboard.
        ("coder=mallory", {TENDER: 1, AWARD: 1, CONTRACT: 1}),
    ],
)
def test_the_coder_filter(
    client: FlaskClient, pi: AuthActions, dated: Project, query: str, expected: dict[str, int]
) -> None:
    body = page(client, f"/analysis/?variable=document_kind&{query}")
    assert counts(body) == expected
    n = sum(expected.values())
    assert f"{n} documents with values." in cells(body)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("submitted_from=2026-03-01", {CONTRACT: 1}),
        ("submitted_to=2026-01-31", {TENDER: 1}),
        ("submitted_from=2026-02-02&submitted_to=2026-02-02", {AWARD: 1}),
        ("submitted_from=2026-02-01", {AWARD: 1, CONTRACT: 1}),
        ("submitted_from=2026-02-01&coder=alice", {AWARD: 1}),
        ("submitted_from=2026-04-01", {}),
        ("source=alice&submitted_to=2026-01-31", {TENDER: 1}),
        ("source=bob&submitted_from=2026-03-01", {CONTRACT: 1}),
        # A date that is no date is left out, and said so.
        ("submitted_from=nonsense", {TENDER: 1, AWARD: 1, CONTRACT: 1}),
    ],
)
def test_the_date_filter(
    client: FlaskClient, pi: AuthActions, dated: Project, query: str, expected: dict[str, int]
) -> None:
    body = page(client, f"/analysis/?variable=document_kind&{query}")
    assert counts(body) == expected
    if "nonsense" in query:
        assert 'class="field-error"' in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("source=alice", {TENDER: 1}),
        ("source=alice&in_progress=y", {TENDER: 1, CONTRACT: 1}),
        # A label set in progress gives no final value, nor makes a document alice's.
        ("", {TENDER: 1, AWARD: 1}),
        ("in_progress=y", {TENDER: 1, AWARD: 1}),
        ("coder=alice&in_progress=y", {TENDER: 1}),
        ("coder=bob&in_progress=y", {AWARD: 1}),
    ],
)
def test_label_sets_in_progress(
    client: FlaskClient, pi: AuthActions, project: Project, query: str, expected: dict[str, int]
) -> None:
    code(project, "alice", SOLO, {**VALUES, "document_kind": "tender"})
    code(project, "alice", SHARED, {**VALUES, "document_kind": "contract"}, submit=False)
    code(project, "bob", OTHER, {**VALUES, "document_kind": "award"})
    body = page(client, f"/analysis/?variable=document_kind&{query}")
    assert counts(body) == expected
    if "source=alice&in_progress" in query:
        assert "including label sets in progress" in body


def csv_link(body: str) -> str:
    """The href of the page's CSV download."""
    match = re.search(r'<a class="button" href="([^"]*table\.csv[^"]*)"', body)
    assert match, "no CSV link"
    return html.unescape(match.group(1))


def read_csv(client: FlaskClient, url: str) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"tender": "1", "award": "1", "contract": "1"}),
        ("coder=alice", {"tender": "1", "award": "1", "contract": "0"}),
        (
            "coder=alice&coder=bob&submitted_from=2026-02-01",
            {"tender": "0", "award": "1", "contract": "1"},
        ),
        ("source=bob&submitted_to=2026-02-28", {"tender": "0", "award": "0", "contract": "1"}),
    ],
)
def test_the_csv_has_the_filters_of_the_page(
    client: FlaskClient, pi: AuthActions, dated: Project, query: str, expected: dict[str, str]
) -> None:
    body = page(client, f"/analysis/?variable=document_kind&{query}")
    link = csv_link(body)
    for pair in filter(None, query.split("&")):
        assert pair in link  # every filter, a repeated coder too
    rows = {row[0]: row[2] for row in read_csv(client, link)[1:]}
    assert {code: rows[code] for code in expected} == expected


def test_the_csv_of_a_filtered_crosstab(
    client: FlaskClient, pi: AuthActions, dated: Project
) -> None:
    query = "variable=document_kind&by=field:province&coder=bob"
    for name, province in ((SOLO, "广东"), (SHARED, "福建"), (OTHER, "福建")):
        db.session.get(Document, dated.document_ids[name]).province = province
    db.session.commit()
    rows = read_csv(client, csv_link(page(client, f"/analysis/?{query}")))
    assert rows[0] == ["Document kind \\ Province", "福建", "total"]
    assert rows[-1] == ["total", "2", "2"]
    table = {row[0]: row[1:] for row in rows[1:-1]}
    assert table[AWARD] == ["1", "1"] and table[CONTRACT] == ["1", "1"]
    assert table[TENDER] == ["0", "0"]


# --- the cross-table's chart ------------------------------------------------------------------


def crosstab_svg(body: str) -> ET.Element:
    match = re.search(r'<svg class="analysis-crosstab-svg".*?</svg>', body, re.S)
    assert match, "no cross-table chart"
    return ET.fromstring(match.group(0))


def test_crosstab_chart_by_province(client: FlaskClient, pi: AuthActions, project: Project) -> None:
    # Integration depth by province: one bar per province, split by depth.
    for name, province in ((SOLO, "广东"), (SHARED, "福建"), (OTHER, "福建")):
        db.session.get(Document, project.document_ids[name]).province = province
    db.session.commit()
    code(project, "alice", SOLO, {**VALUES, "integration_depth": "deep_data"})
    code(project, "alice", SHARED, {**VALUES, "integration_depth": "deep_data"})
    code(project, "bob", OTHER, {**VALUES, "integration_depth": "symbolic"})
    body = page(client, "/analysis/?variable=integration_depth&by=field:province")
    svg = crosstab_svg(body)
    assert svg.get("role") == "img"
    title = svg.find("title")
    assert title is not None and title.text is not None
    assert title.text.startswith("Integration depth by Province")
    bars = {
        bar.get("data-label"): (
            bar.get("data-total"),
            [
                (s.get("data-value"), s.get("data-count"), s.get("data-share"))
                for s in bar.iter("g")
                if s.get("class") == "crosstab-segment"
            ],
        )
        for bar in svg.iter("g")
        if bar.get("class") == "crosstab-bar"
    }
    assert bars == {
        "广东": ("1", [("Deep data integration", "1", "1.0000")]),
        "福建": (
            "2",
            [
                ("Symbolic or public-relations use", "1", "0.5000"),
                ("Deep data integration", "1", "0.5000"),
            ],
        ),
    }
    labels = [t.text for t in svg.iter("text") if t.get("class") == "crosstab-bar-label"]
    assert labels == ["广东", "福建"]  # the province names are drawn, in Chinese
    assert [t.text for t in svg.iter("text") if t.get("class") == "crosstab-total"] == [
        "n = 1",
        "n = 2",
    ]
    legend = [
        g.get("data-value") for g in svg.iter("g") if g.get("class") == "crosstab-legend-item"
    ]
    assert legend == [
        "Zombie account",
        "Symbolic or public-relations use",
        "Front end for public services",
        "Operational integration",
        "Deep data integration",
    ]
    # The shaded table stays, shaded by the share of the column.
    assert 'class="analysis-table crosstab"' in body
    assert "Shading: the share of the column." in body
    assert '<td class="num heat-5">1</td>' in body and '<td class="num heat-3">1</td>' in body


def test_crosstab_chart_in_chinese(client: FlaskClient, pi: AuthActions, project: Project) -> None:
    code(project, "alice", SOLO, {**VALUES, "integration_depth": "deep_data"})
    response = client.get(
        "/analysis/?variable=integration_depth&by=document_kind",
        headers={"Accept-Language": "zh-CN"},
    )
    svg = crosstab_svg(response.get_data(as_text=True))
    legend = [
        g.get("data-value") for g in svg.iter("g") if g.get("class") == "crosstab-legend-item"
    ]
    assert legend[-1] == "深度数据融合"
    labels = [t.text for t in svg.iter("text") if t.get("class") == "crosstab-bar-label"]
    assert labels[0] == "招标（采购）公告"


def test_stacked_bars_layout() -> None:
    rows = {1: "a", 2: "a", 3: "b", 4: "a", 5: None}
    columns = {1: "x", 2: "y", 3: "y", 4: "y", 5: "x"}
    scale = Scale(keys=("a", "b"), labels={"a": "Alpha", "b": "Beta"})
    chart = stacked_bars(crosstab(rows, scale, columns, Scale.of_field()))
    assert [(bar.full_label, bar.total) for bar in chart.bars] == [("x", 1), ("y", 3)]
    x, y = chart.bars
    assert [(s.label, s.count, round(s.share, 3)) for s in y.segments] == [
        ("Alpha", 2, 0.667),
        ("Beta", 1, 0.333),
    ]
    # The parts fill the bar, one after the other.
    assert x.segments[0].width == chart.plot_width
    assert y.segments[0].x == chart.plot_left
    assert y.segments[1].x == pytest.approx(chart.plot_left + y.segments[0].width, abs=0.1)
    assert y.segments[0].width + y.segments[1].width == pytest.approx(chart.plot_width, abs=0.2)
    assert y.segments[0].text == "67 %"
    assert [item.full_label for item in chart.legend] == ["Alpha", "Beta"]
    assert chart.legend[0].colour != chart.legend[1].colour
    assert chart.height > chart.legend[-1].y


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("short", 100, "short"),
        ("a rather long label that will not fit", 60, "a rathe…"),
        ("深度数据融合", 48, "深度数…"),
        ("深度数据融合", 72, "深度数据融合"),
    ],
)
def test_fit(text: str, width: float, expected: str) -> None:
    assert fit(text, width) == expected
    assert text_width(fit(text, width)) <= width


@pytest.mark.parametrize(
    ("colour", "ink"), [("#4e79a7", "#ffffff"), ("#edc948", "#111827"), ("#ffffff", "#111827")]
)
def test_ink_on(colour: str, ink: str) -> None:
    assert ink_on(colour) == ink
