"""The PI's reliability pages: dashboard, disagreements, report (HTML and CSV) and planner."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from annotator.extensions import db
from annotator.models import Codebook, Document, User
from annotator.reliability import NO_PAIRABLE_UNIT, VariableReliability
from annotator.reliability_views import chart
from annotator.sample_size import required_units
from annotator.services import labels as label_service

from .conftest import AuthActions, Project

SHARED = "zh_cid_font.pdf"
SOLO = "en_two_pages.pdf"

VALUES = {
    "service_type": ["emergency_alarm"],
    "service_count": 3,
    "integration_depth": "deep_data",
    "data_collected": ["geolocation"],
    "document_kind": "tender",
    "province": "fujian",
    "admin_level": "provincial",
    "year": 2019,
    "procurement_value_cny": 12800000,
    "city": "福州",
    "vendor": "Acme",
    "vendor_is_tencent": True,
    "account_name": "平安福建",
}
ALICE_QUOTE = "福建省公安厅"
BOB_QUOTE = "预算金额：人民币壹仟贰佰捌拾万元整"


def code(
    project: Project,
    coder: str,
    document: str,
    values: dict[str, Any],
    *,
    quotes: tuple[tuple[str, str], ...] = (),
    submit: bool = True,
) -> None:
    """A coder codes a document through the services, with quotes, and (by default) submits."""
    user = db.session.get(User, project.users[coder])
    doc = db.session.get(Document, project.document_ids[document])
    version = db.session.get(Codebook, project.codebook_id).latest
    label_set = label_service.label_set_for(db.session, doc, user, version, create=True)
    assert label_set is not None and user is not None
    label_service.save_labels(db.session, label_set, user, values)
    for variable, quote in quotes:
        label_service.add_evidence(
            db.session, label_set, user, variable=variable, page=1, quote=quote
        )
    if submit:
        label_service.save_labels(db.session, label_set, user, {}, submit=True)
    db.session.commit()


def code_shared(
    project: Project,
    bob_differs: dict[str, Any],
    solo: dict[str, dict[str, Any]] | None = None,
) -> Project:
    """Alice and bob code the shared document, each quoting for its kind, and submit.

    Bob's values are alice's (``VALUES``) changed by ``bob_differs``; then each coder
    named in ``solo`` codes the other document with the values given.
    """
    code(project, "alice", SHARED, VALUES, quotes=(("document_kind", ALICE_QUOTE),))
    code(project, "bob", SHARED, {**VALUES, **bob_differs}, quotes=(("document_kind", BOB_QUOTE),))
    for coder, values in (solo or {}).items():
        code(project, coder, SOLO, values)
    return project


@pytest.fixture
def coded(project: Project) -> Project:
    """Alice and bob code the shared document; they differ on the kind and the depth."""
    return code_shared(
        project,
        {"document_kind": "award", "integration_depth": "symbolic"},
        solo={"alice": VALUES},
    )


def page(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:800]
    return response.get_data(as_text=True)


# --- the dashboard --------------------------------------------------------------------------


def test_dashboard_without_coding_explains_and_plans(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    body = page(client, "/reliability/")
    assert "Nothing to analyse yet" in body
    assert 'id="planner"' in body
    assert "documents twice" in body


def test_dashboard_shows_chart_table_and_pairs(
    client: FlaskClient, pi: AuthActions, coded: Project
) -> None:
    body = page(client, "/reliability/")
    assert "<svg" in body and "0.667" in body and "0.800" in body
    # One document coded twice: alpha is undefined for variables on which they agree.
    assert "undefined" in body
    assert "no variation" in body
    # A row per option of a multiple-choice variable, and the coder pair.
    assert "Emergency" in body or "emergency" in body
    assert "alice–bob" in body
    assert 'class="data pair-matrix"' in body
    assert "random seed 1" in body
    # Links to the report and the disagreements keep the filters.
    assert "/reliability/report.html?" in body and "/reliability/report.csv?" in body


def test_dashboard_filters_by_coder_and_metadata(
    client: FlaskClient, pi: AuthActions, coded: Project
) -> None:
    only_alice = page(client, "/reliability/?coder=alice")
    assert "0 documents coded by two or more" in only_alice
    assert "No document has been coded by two coders" in only_alice
    # A date range that excludes everything, and bad input that falls back to the defaults.
    assert "0 documents" in page(client, "/reliability/?submitted_to=2000-01-01")
    assert "1 document coded" in page(
        client, "/reliability/?samples=-5&seed=x&submitted_from=nonsense"
    )


def test_dashboard_alpha_values_are_numbers_not_zero_for_undefined(
    client: FlaskClient, pi: AuthActions, coded: Project
) -> None:
    body = page(client, "/reliability/?samples=0")
    assert "No bootstrap" in body
    assert 'class="alpha verdict-undefined"' in body


# --- the disagreements ----------------------------------------------------------------------


def test_disagreements_show_both_coders_values_and_quotes(
    client: FlaskClient, pi: AuthActions, coded: Project
) -> None:
    body = page(client, "/reliability/disagreements?variable=document_kind")
    assert f"/documents/{coded.document_ids[SHARED]}" in body
    assert body.count('class="coder-value"') == 2
    assert f"“{ALICE_QUOTE}”" in body and f"“{BOB_QUOTE}”" in body
    # Values are shown with the codebook's labels, not their codes.
    assert "Tender" in body or "招标" in body
    assert SOLO not in body  # coded by alice alone


def test_disagreements_none_where_coders_agree(
    client: FlaskClient, pi: AuthActions, coded: Project
) -> None:
    body = page(client, "/reliability/disagreements?variable=year")
    assert "No disagreement on this variable" in body


def test_disagreements_unknown_variable_is_404(
    client: FlaskClient, pi: AuthActions, coded: Project
) -> None:
    assert client.get("/reliability/disagreements?variable=nope").status_code == 404


# --- the report -----------------------------------------------------------------------------


def test_report_html_is_printable_with_methods(
    client: FlaskClient, pi: AuthActions, coded: Project
) -> None:
    body = page(client, "/reliability/report.html?seed=7&samples=200")
    assert 'class="topbar"' not in body  # no navigation
    assert "Inter-coder reliability was assessed on 1 document" in body
    assert "random seed 7" in body
    assert "<svg" in body
    assert "Krippendorff, K. (2004)" in body


def test_report_csv_is_an_attachment_with_a_bom(
    client: FlaskClient, pi: AuthActions, coded: Project
) -> None:
    response = client.get("/reliability/report.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    kinds = [row for row in rows if row["variable"] == "document_kind" and not row["option"]]
    assert kinds and kinds[0]["n_units"] == "1"
    assert any(row["option"] for row in rows if row["variable"] == "service_type")


def test_report_and_dashboard_give_the_same_interval(
    client: FlaskClient, pi: AuthActions, coded: Project
) -> None:
    code(coded, "bob", SOLO, {**VALUES, "document_kind": "award"})
    rows = list(csv.DictReader(io.StringIO(client.get("/reliability/report.csv").text[1:])))
    kind = next(r for r in rows if r["variable"] == "document_kind" and not r["option"])
    assert kind["ci95_low"] != ""
    body = page(client, "/reliability/")
    assert f"{float(kind['ci95_low']):.3f} – {float(kind['ci95_high']):.3f}" in body


def test_report_without_coding(client: FlaskClient, pi: AuthActions, project: Project) -> None:
    assert "Nothing to analyse yet" in page(client, "/reliability/report.html")
    assert client.get("/reliability/report.csv").status_code == 404


# --- the planner ----------------------------------------------------------------------------


def test_planner_on_the_assignments_page(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    body = page(client, "/admin/assignments")
    assert 'id="planner-form"' in body and 'form="planner-form"' in body
    assert "documents twice" in body
    # By default the planner plans for the codebook's first categorical variable, the
    # service type with its 10 options; another variable can be chosen.
    assert "Assumes the rarest value of Service type is 1/9 of its values" in body
    province = page(client, "/admin/assignments?plan-variable=province")
    assert "Assumes the rarest value of Province is 1/33 of its values" in province

    def required(body: str) -> int:
        start = body.index("Code <strong>") + len("Code <strong>")
        return int(body[start : body.index("</strong>", start)])

    # Krippendorff's formula with alpha_min 0.8, significance 0.05 (the defaults).
    assert required(body) == required_units(0.8, 0.05, 1 / 9)
    assert required(province) == required_units(0.8, 0.05, 1 / 33)
    assert "The reliability sample holds 1 document;" in body


def test_planner_takes_its_inputs_from_the_query(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    strict = page(client, "/admin/assignments?plan-alpha_min=0.9&plan-significance=0.01")
    loose = page(client, "/admin/assignments?plan-alpha_min=0.667&plan-significance=0.1")

    def required(body: str) -> int:
        start = body.index("Code <strong>") + len("Code <strong>")
        return int(body[start : body.index("</strong>", start)])

    assert required(strict) > required(loose)
    bad = page(client, "/admin/assignments?plan-alpha_min=2")
    assert 'class="field-error"' in bad
    assert "Enter numbers" in page(client, "/reliability/?plan-alpha_min=abc")


# --- the chart ------------------------------------------------------------------------------


def result(name: str, alpha: float | None, ci95: tuple[float, float] | None) -> VariableReliability:
    return VariableReliability(
        variable=name,
        level="nominal",
        alpha=alpha,
        ci95=ci95,
        q_below=None,
        n_units=3,
        n_coders=2,
        n_pairable=6,
        percent_agreement=None,
        cohen_kappa={},
        fleiss_kappa=None,
        gwet_ac1=None,
        undefined_reason=None if alpha is not None else NO_PAIRABLE_UNIT,
    )


def test_chart_axis_starts_at_zero_or_below_the_lowest_value(project: Project) -> None:
    codebook = db.session.get(Codebook, project.codebook_id).latest.parsed()
    positive = chart(codebook, [result("year", 0.9, (0.8, 0.95))], "en")
    assert positive.ticks[0] == (0.0, positive.plot_left)
    assert positive.ticks[-1] == (1.0, positive.plot_right)
    negative = chart(codebook, [result("year", -0.1, (-0.35, 0.2))], "en")
    assert negative.ticks[0][0] == -0.4
    row = negative.rows[0]
    assert negative.plot_left < row.x_low < row.x_alpha < row.x_high  # type: ignore[operator]
    # 0.667 and 0.8 are marked, in order, inside the plot.
    (low, x_low), (high, x_high) = negative.minimums
    assert (low, high) == (0.667, 0.8) and negative.plot_left < x_low < x_high


def test_chart_undefined_row_has_no_dot(project: Project) -> None:
    codebook = db.session.get(Codebook, project.codebook_id).latest.parsed()
    drawn = chart(codebook, [result("year", None, None)], "en")
    assert drawn.rows[0].x_alpha is None and drawn.rows[0].verdict == "undefined"
    assert "undefined" in drawn.rows[0].description


def test_pages_in_chinese(client: FlaskClient, pi: AuthActions, coded: Project) -> None:
    pi_user = db.session.get(User, coded.users["pi"])
    assert pi_user is not None
    pi_user.locale = "zh_Hans"
    db.session.commit()
    body = page(client, "/reliability/")
    assert "各变量的 alpha" in body and "无定义" in body
    # Codebook labels in Chinese too, where the codebook has them.
    assert "分歧" in page(client, "/reliability/disagreements?variable=document_kind")
    assert "信度报告" in page(client, "/reliability/report.html")


def test_coders_never_see_the_reliability_pages(
    client: FlaskClient, auth: AuthActions, coded: Project
) -> None:
    auth.login("alice")
    for url in ["/reliability/", "/reliability/disagreements", "/reliability/report.csv"]:
        assert client.get(url).status_code == 403
    assert "/reliability/" not in page(client, "/code/")  # no link in the navigation
