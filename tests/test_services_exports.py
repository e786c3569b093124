"""Exports of the project's database, read back with pandas, pyreadstat and openpyxl."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
import yaml
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select

from annotator.codebook import Codebook as CodebookDefinition
from annotator.exports import ExportError, option_number
from annotator.extensions import db
from annotator.models import Codebook, Document, LabelSet, LabelStatus, Page, User, utcnow
from annotator.ratings import read_ratings
from annotator.services import labels as label_service
from annotator.services.adjudication import final_values, iter_final_values
from annotator.services.exports import coded_sets, final_sets, find_version
from annotator.services.reliability import ratings_for

from .conftest import Project

SHARED = "zh_cid_font.pdf"


def code(
    project: Project,
    coder: str,
    document: str,
    values: dict[str, Any],
    *,
    submit: bool = True,
    quote: bool = False,
) -> LabelSet:
    """Give values (and a quote from the first page) as ``coder``, and submit."""
    user = db.session.get(User, project.users[coder])
    doc = db.session.get(Document, project.document_ids[document])
    version = db.session.get(Codebook, project.codebook_id).latest
    label_set = label_service.label_set_for(db.session, doc, user, version, create=True)
    assert label_set is not None and user is not None and doc is not None
    label_service.save_labels(db.session, label_set, user, values)
    if quote:
        page = db.session.scalar(select(Page).where(Page.document_id == doc.id, Page.number == 1))
        assert page is not None
        label_service.add_evidence(
            db.session, label_set, user, variable="city", page=1, quote=page.text.strip()[:8]
        )
    if submit:
        # Set directly: submitting through the service needs every required value.
        label_set.status = LabelStatus.SUBMITTED
        label_set.submitted_at = utcnow()
    db.session.commit()
    return label_set


@pytest.fixture
def coded(project: Project) -> Project:
    """alice and bob code the shared document, alice another; carol's is in progress."""
    code(
        project,
        "alice",
        SHARED,
        {
            "document_kind": "tender",
            "service_type": ["emergency_alarm", "public_relations"],
            "integration_depth": "operational",
            "year": 2019,
            "procurement_value_cny": 1250000.5,
            "vendor_is_tencent": True,
            "city": "福州市，鼓楼区",
        },
        quote=True,
    )
    code(
        project,
        "bob",
        SHARED,
        {"document_kind": "award", "integration_depth": "symbolic", "vendor_is_tencent": False},
    )
    code(project, "alice", "en_two_pages.pdf", {"document_kind": "media_report", "year": 2020})
    code(project, "carol", "notes.md", {"document_kind": "contract"}, submit=False)
    return project


def definition(project: Project) -> CodebookDefinition:
    version = db.session.get(Codebook, project.codebook_id).latest
    assert version is not None
    return version.parsed()


def label_sets(*, include_in_progress: bool = False) -> list[LabelSet]:
    query = select(LabelSet).order_by(LabelSet.id)
    if not include_in_progress:
        query = query.where(LabelSet.status == LabelStatus.SUBMITTED)
    return list(db.session.scalars(query))


def run(runner: Any, *args: str) -> str:
    result = runner.invoke(args=["export", *args])
    assert result.exit_code == 0, result.output
    return str(result.output)


# --- the service ---------------------------------------------------------------------


def test_coded_sets_stream_in_batches_with_the_same_result(coded: Project) -> None:
    version = find_version(db.session, None, None)
    whole = list(coded_sets(db.session, version))
    assert [s.coder for s in whole] == ["alice", "alice", "bob"]  # by file name, then coder
    assert [s.unit for s in whole] == ["en_two_pages.pdf", SHARED, SHARED]
    one_by_one = list(coded_sets(db.session, version, batch=1))
    assert [(s.unit, s.coder, dict(s.values)) for s in one_by_one] == [
        (s.unit, s.coder, dict(s.values)) for s in whole
    ]
    assert len(whole[1].evidence) == 1 and whole[1].evidence[0].variable == "city"
    everyone = list(coded_sets(db.session, version, include_in_progress=True))
    assert len(everyone) == 4 and {s.status for s in everyone} == {"submitted", "in_progress"}


def test_find_version_errors(coded: Project) -> None:
    with pytest.raises(ExportError, match="no version 9"):
        find_version(db.session, None, 9)
    with pytest.raises(ExportError, match="no codebook 'nope'"):
        find_version(db.session, "nope", None)


@pytest.mark.parametrize("agreement_is_final", [False, True])
def test_final_values(coded: Project, agreement_is_final: bool) -> None:
    version = find_version(db.session, None, None)
    finals = list(final_sets(db.session, version, agreement_is_final=agreement_is_final))
    expected = final_values(db.session, version, agreement_is_final=agreement_is_final)
    assert {item.document_id: dict(item.values) for item in finals} == expected
    assert [item.unit for item in finals] == sorted(item.unit for item in finals)


@pytest.mark.parametrize("agreement_is_final", [False, True])
def test_final_values_stream_in_batches_in_document_order(
    coded: Project, agreement_is_final: bool
) -> None:
    version = find_version(db.session, None, None)
    expected = final_values(db.session, version, agreement_is_final=agreement_is_final)
    for batch in (1, 2, 500):
        streamed = list(
            iter_final_values(
                db.session, version, agreement_is_final=agreement_is_final, batch=batch
            )
        )
        assert dict(streamed) == expected
        names = [db.session.get(Document, id).filename for id, _ in streamed]
        assert names == sorted(names)


@pytest.mark.parametrize("fmt", ["csv", "sav"])
def test_wide_final_values(
    coded: Project, runner: Any, app: Flask, tmp_path: Path, fmt: str
) -> None:
    # The export follows the project's setting: agreed values are final only when it says so.
    version = find_version(db.session, None, None)
    expected = final_values(
        db.session, version, agreement_is_final=app.config["AGREEMENT_IS_FINAL"]
    )
    out = tmp_path / f"final.{fmt}"
    run(runner, "--format", fmt, "--out", str(out))
    frame = pd.read_csv(out) if fmt == "csv" else pyreadstat.read_sav(str(out))[0]
    assert sorted(frame["document_id"].astype(int)) == sorted(expected)
    kind = definition(coded).variable("document_kind")
    for document_id, values in expected.items():
        row = frame[frame.document_id == document_id]
        cell = row["document_kind"].item()
        if "document_kind" not in values:
            assert pd.isna(cell)
        elif fmt == "csv":
            assert cell == values["document_kind"]
        else:
            assert cell == option_number(kind, values["document_kind"])
    english = frame[frame.unit == "en_two_pages.pdf"]
    assert english["year"].item() == 2020


# --- long ----------------------------------------------------------------------------


def test_long_csv_equals_the_database_and_is_a_ratings_file(
    coded: Project, runner: Any, tmp_path: Path
) -> None:
    out = tmp_path / "long.csv"
    run(runner, "--layout", "long", "--out", str(out))
    text = out.read_text(encoding="utf-8")
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    codebook = definition(coded)
    expected = []
    for label_set in label_sets():
        for variable in codebook.variables:
            value = label_set.values().get(variable.id)
            if value is None and not any(e.variable == variable.id for e in label_set.evidence):
                continue
            if isinstance(value, list):
                value = "|".join(value)
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            expected.append(
                (
                    label_set.document.filename,
                    label_set.coder.username,
                    variable.id,
                    "" if value is None else str(value),
                )
            )
    got = list(frame[["unit", "coder", "variable", "value"]].itertuples(index=False, name=None))
    assert sorted(got) == sorted(expected)
    city = frame[(frame.variable == "city") & (frame.coder == "alice") & (frame.unit == SHARED)]
    assert city["value"].item() == "福州市，鼓楼区"
    evidence = db.session.scalars(select(LabelSet).where(LabelSet.id == 1)).one().evidence
    assert city["evidence"].item() == evidence[0].quote
    assert city["evidence_pages"].item() == "1"
    assert city["status"].item() == "submitted" and city["submitted_at"].item()
    # The long CSV is a ratings file: the same ratings as the reliability engine reads.
    version = db.session.get(Codebook, coded.codebook_id).latest
    assert version is not None
    _, ratings = ratings_for(db.session, version)
    levels = {v.id: v.level for v in codebook.variables}
    from_file = read_ratings(text, levels=levels)
    assert {k: v for k, v in from_file.items() if k in ratings} == {
        k: v for k, v in ratings.items() if v
    }


def test_long_xlsx_and_in_progress(coded: Project, runner: Any, tmp_path: Path) -> None:
    out = tmp_path / "long.xlsx"
    run(runner, "--layout", "long", "--format", "xlsx", "--include-in-progress", "--out", str(out))
    rows = list(load_workbook(out, read_only=True)["data"].values)
    header, data = rows[0], rows[1:]
    assert header[:5] == ("document_id", "unit", "coder", "variable", "value")
    assert ("notes.md", "carol", "document_kind", "contract", "in_progress") in {
        (r[1], r[2], r[3], r[4], r[7]) for r in data
    }
    assert any(r[4] == "福州市，鼓楼区" for r in data)
    assert any(r[4] == 1250000.5 and r[3] == "procurement_value_cny" for r in data)


# --- wide ----------------------------------------------------------------------------


def test_wide_coders_csv_with_bom_equals_the_database(
    coded: Project, runner: Any, tmp_path: Path
) -> None:
    out = tmp_path / "wide.csv"
    run(runner, "--layout", "wide-coders", "--bom", "--out", str(out))
    assert out.read_bytes().startswith(b"\xef\xbb\xbfdocument_id,")
    frame = pd.read_csv(out, encoding="utf-8-sig")
    codebook = definition(coded)
    assert len(frame) == 3
    for label_set in label_sets():
        row = frame[
            (frame.document_id == label_set.document_id) & (frame.coder == label_set.coder.username)
        ]
        assert len(row) == 1
        values = label_set.values()
        for variable in codebook.variables:
            value = values.get(variable.id)
            if variable.type.value == "multiple":
                for option in variable.options:
                    cell = row[f"{variable.id}__{option.code}"].item()
                    if value is None:
                        assert math.isnan(cell)
                    else:
                        assert cell == int(option.code in value)
            elif value is None:
                assert pd.isna(row[variable.id].item())
            elif variable.type.value == "yesno":
                assert row[variable.id].item() == int(value)
            else:
                assert row[variable.id].item() == value


def test_wide_json_to_standard_output(coded: Project, runner: Any) -> None:
    items = json.loads(run(runner, "--layout", "wide-coders", "--format", "json"))
    alice = next(i for i in items if i["coder"] == "alice" and i["unit"] == SHARED)
    assert alice["city"] == "福州市，鼓楼区"
    assert alice["service_type__emergency_alarm"] == 1
    assert alice["service_type__other"] == 0
    assert alice["document_kind"] == "tender"


@pytest.mark.parametrize(("fmt", "lang"), [("sav", "zh"), ("dta", "en")])
def test_spss_and_stata_with_labels(
    coded: Project, runner: Any, tmp_path: Path, fmt: str, lang: str
) -> None:
    out = tmp_path / f"wide.{fmt}"
    run(runner, "--layout", "wide-coders", "--format", fmt, "--lang", lang, "--out", str(out))
    read = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    frame, meta = read(str(out))
    codebook = definition(coded)
    kind = codebook.variable("document_kind")
    depth = codebook.variable("integration_depth")
    assert len(frame) == 3
    for label_set in label_sets():
        row = frame[
            (frame.document_id == label_set.document_id) & (frame.coder == label_set.coder.username)
        ]
        values = label_set.values()
        assert row["document_kind"].item() == option_number(kind, values["document_kind"])
        if "integration_depth" in values:
            assert row["integration_depth"].item() == option_number(
                depth, values["integration_depth"]
            )
    labels = {float(k): v for k, v in meta.variable_value_labels["document_kind"].items()}
    assert labels == {float(i): o.label.get(lang) for i, o in enumerate(kind.options, start=1)}
    assert meta.column_names_to_labels["document_kind"].startswith(kind.label.get(lang))
    assert "福州市，鼓楼区" in frame["city"].tolist()
    assert meta.variable_value_labels["vendor_is_tencent"] == (
        {0: "否", 1: "是"} if lang == "zh" else {0: "no", 1: "yes"}
    )


# --- matrices ------------------------------------------------------------------------


def test_matrix_layouts(coded: Project, runner: Any) -> None:
    kind = definition(coded).variable("document_kind")
    tender, award, media = (option_number(kind, c) for c in ("tender", "award", "media_report"))
    irr = pd.read_csv(
        io.StringIO(run(runner, "--layout", "matrix-irr", "--variable", "document_kind"))
    )
    assert list(irr.columns) == ["unit", "alice", "bob"]
    assert irr.set_index("unit").loc[SHARED].tolist() == [tender, award]
    recal = run(runner, "--layout", "matrix-recal", "--variable", "document_kind")
    assert recal.splitlines() == [f"{media},", f"{tender},{award}"]
    kripp = run(runner, "--layout", "matrix-krippendorff", "--variable", "document_kind")
    assert kripp.splitlines() == [f"{media},{tender}", f"nan,{award}"]
    option = run(runner, "--layout", "matrix-irr", "--variable", "service_type__emergency_alarm")
    assert option.splitlines() == ["unit,alice", f"{SHARED},1"]


# --- the codebook and errors ---------------------------------------------------------


def test_codebook_formats(coded: Project, runner: Any) -> None:
    codebook = definition(coded)
    assert (
        CodebookDefinition.from_dict(yaml.safe_load(run(runner, "--format", "codebook-yaml")))
        == codebook
    )
    assert (
        CodebookDefinition.from_dict(json.loads(run(runner, "--format", "codebook-json")))
        == codebook
    )
    page = run(runner, "--format", "codebook-html")
    for variable in codebook.variables:
        assert f'id="{variable.id}"' in page
    assert "中国微信警务" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "sav"], "give --out FILE"),
        (["--layout", "matrix-irr"], "needs --variable"),
        (["--variable", "year"], "for the matrix layouts"),
        (["--format", "json", "--bom"], "--bom is for --format csv"),
        (["--layout", "matrix-irr", "--variable", "city"], "free text"),
        (["--version", "7"], "no version 7"),
        (["--include-in-progress"], "final values come from submitted label sets"),
    ],
)
def test_export_errors(coded: Project, runner: Any, args: list[str], message: str) -> None:
    result = runner.invoke(args=["export", *args])
    assert result.exit_code != 0
    assert message in result.output
