"""The PI's export page: every export of `annotator export` as a download."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from flask.testing import FlaskClient

from annotator import refi_qda

from .conftest import AuthActions, Project
from .test_reliability_pages import SHARED, SOLO, VALUES, code


@pytest.fixture
def coded(project: Project) -> Project:
    code(project, "alice", SHARED, VALUES, quotes=(("document_kind", "福建省公安厅"),))
    code(project, "bob", SHARED, {**VALUES, "document_kind": "award"})
    code(project, "alice", SOLO, VALUES)
    return project


def download(client: FlaskClient, query: str) -> tuple[str, bytes]:
    response = client.get(f"/exports/download?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    return disposition, response.get_data()


def test_the_page_offers_every_format(client: FlaskClient, pi: AuthActions, coded: Project) -> None:
    body = client.get("/exports/").get_data(as_text=True)
    for value in ("csv", "xlsx", "sav", "dta", "qdpx", "qdc", "codebook-html", "matrix-irr"):
        assert f'value="{value}"' in body
    assert 'value="service_type__emergency_alarm"' in body  # an option column, for matrices


def test_csv_per_coder_with_chinese(client: FlaskClient, pi: AuthActions, coded: Project) -> None:
    disposition, data = download(client, "format=csv&layout=wide-coders&bom=y")
    assert "wide-coders.csv" in disposition
    assert data.startswith("\ufeff".encode())
    frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert len(frame) == 3
    assert set(frame["coder"]) == {"alice", "bob"}
    assert (frame["city"] == "福州").all()


def test_spss_has_value_labels(
    client: FlaskClient, pi: AuthActions, coded: Project, tmp_path: Path
) -> None:
    _, data = download(client, "format=sav&layout=wide-coders")
    path = tmp_path / "data.sav"
    path.write_bytes(data)
    frame, meta = pyreadstat.read_sav(str(path))
    assert len(frame) == 3
    assert meta.variable_value_labels["document_kind"][1.0] == "Tender notice"


def test_qdpx_validates(client: FlaskClient, pi: AuthActions, coded: Project) -> None:
    disposition, data = download(client, "format=qdpx")
    assert disposition.endswith(".qdpx")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        refi_qda.validate(archive.read("project.qde"), which="project")


def test_codebook_html(client: FlaskClient, pi: AuthActions, coded: Project) -> None:
    _, data = download(client, "format=codebook-html&lang=zh")
    page = data.decode()
    # The readable codebook holds both languages, whatever the labels' language.
    assert "Integration depth" in page and "融合程度" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("format=csv&layout=matrix-irr", "the matrix-irr layout needs a variable"),
        ("format=xlsx&bom=y", "a byte-order mark is for CSV"),
        ("format=csv&layout=wide&in_progress=y", "final values come from submitted label sets"),
    ],
)
def test_bad_choices_are_explained(
    client: FlaskClient, pi: AuthActions, coded: Project, query: str, message: str
) -> None:
    response = client.get(f"/exports/download?{query}")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_nothing_to_export(client: FlaskClient, pi: AuthActions, project: Project) -> None:
    assert "Nothing to export yet" in client.get("/exports/").get_data(as_text=True)
    assert client.get("/exports/download?format=csv").status_code == 404
