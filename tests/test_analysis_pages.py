"""The analysis page: frequencies and cross-tabulations of final or one coder's values."""

from __future__ import annotations

import csv
import io

from flask.testing import FlaskClient

from annotator.analysis_views import heat
from annotator.extensions import db
from annotator.models import Codebook, Document, User
from annotator.services.adjudication import set_final

from .conftest import AuthActions, Project
from .test_reliability_pages import SHARED, SOLO, VALUES, code, page


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
