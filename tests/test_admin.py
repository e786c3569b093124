"""The PI's pages: overview, codebook files, people and assignments."""

from __future__ import annotations

import hashlib
import io
import re
from collections import Counter
from html import unescape
from typing import Any

import pytest
from flask.testing import FlaskClient

from annotator.extensions import db
from annotator.extraction import DocumentFormat
from annotator.models import Assignment, AssignmentBatch, Codebook, CodebookVersion, Document, User

from .conftest import ROOT, AuthActions, Project, csrf_token

CLIMATE = ROOT / "codebook" / "climate_adaptation_news.yaml"
STUDY = "wechat_policing"
BROKEN = """\
id: broken
title: A broken codebook
variables:
  - id: kind
    label: Kind
    type: single
    options:
      - {code: a, label: A}
      - {code: a, label: A again}
  - id: size
    label: Size
    type: colour
  - id: kind
    label: Kind again
    type: text
"""


def flashes(client: FlaskClient, url: str) -> list[str]:
    """The messages a page shows (and so takes out of the session)."""
    html = client.get(url).get_data(as_text=True)
    return [unescape(m) for m in re.findall(r'<li class="flash flash-\w+">(.*?)</li>', html, re.S)]


def session_data(client: FlaskClient, cookie: str) -> Any:
    """What a session cookie holds, as anyone who has the cookie can read it."""
    app = client.application
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return serializer.loads(cookie)


def field_errors(html: str, field_id: str) -> list[str]:
    """The error messages shown under one form field."""
    block = re.search(rf'<div class="field">\s*<label for="{field_id}">.*?</div>', html, re.DOTALL)
    assert block, f"no field {field_id}"
    return [
        unescape(e) for e in re.findall(r'<p class="field-error"[^>]*>(.*?)</p>', block.group(0))
    ]


def count(model: Any) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model)) or 0


# --- overview -----------------------------------------------------------------------------


def test_overview_counts_and_progress(client: FlaskClient, pi: AuthActions) -> None:
    html = client.get("/admin/").get_data(as_text=True)
    assert "4 documents · 1 codebook · 3 coders" in html
    rows = re.findall(r"<tr>\s*<td>(\w+) <span.*?<td>(\d+)</td><td>(\d+)</td>", html, re.S)
    assert rows == [("alice", "2", "0"), ("bob", "2", "0"), ("carol", "0", "0")]


# --- codebooks ----------------------------------------------------------------------------


def upload_codebook(pi: AuthActions, content: bytes, name: str) -> Any:
    return pi.post(
        "/admin/codebooks",
        {"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_codebook_upload_makes_a_version_once(client: FlaskClient, pi: AuthActions) -> None:
    content = CLIMATE.read_bytes()
    response = upload_codebook(pi, content, CLIMATE.name)
    assert response.status_code == 302
    assert flashes(client, "/admin/codebooks") == [
        "codebook 'climate_adaptation_news': loaded as version 1"
    ]
    # The same codebook again, even with other comments: no second version.
    response = upload_codebook(pi, b"# re-saved\n" + content, "copy.yaml")
    assert response.status_code == 302
    assert flashes(client, "/admin/codebooks") == [
        "codebook 'climate_adaptation_news': unchanged, still version 1"
    ]
    changed = content.replace(b"Local news coverage", b"Regional news coverage")
    assert changed != content
    upload_codebook(pi, changed, CLIMATE.name)
    assert flashes(client, "/admin/codebooks") == [
        "codebook 'climate_adaptation_news': loaded as version 2"
    ]
    numbers = db.session.scalars(
        db.select(CodebookVersion.number)
        .join(Codebook)
        .where(Codebook.slug == "climate_adaptation_news")
        .order_by(CodebookVersion.number)
    ).all()
    assert numbers == [1, 2]
    html = client.get("/admin/codebooks").get_data(as_text=True)
    assert "Regional news coverage of climate adaptation" in html
    assert "<code>wechat_policing</code>" in html


def test_invalid_codebook_is_422_listing_every_problem(
    client: FlaskClient, pi: AuthActions
) -> None:
    response = upload_codebook(pi, BROKEN.encode(), "broken.yaml")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The codebook was not loaded: 3 problems" in html
    problems = [unescape(p) for p in re.findall(r"<li><code>(.*?)</code></li>", html)]
    assert problems == [
        "broken.yaml:9: variable 'kind': duplicate option code 'a' (first used on line 8)",
        "broken.yaml:12: variable 'size': unknown type 'colour'; "
        "allowed types: single, ordinal, multiple, number, yesno, text",
        "broken.yaml:13: duplicate variable id 'kind' (first used on line 4)",
    ]
    assert db.session.scalars(db.select(Codebook.slug)).all() == [STUDY]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"id: x\ntitle: [unclosed\n", "x.yaml:3: invalid YAML at column 1"),
        ("标题：无效".encode("gb18030"), "x.yaml: not UTF-8 text"),
        (b"", "x.yaml: the codebook is empty: it needs 'id', 'title' and 'variables'"),
    ],
)
def test_unreadable_codebook_is_422(pi: AuthActions, content: bytes, problem: str) -> None:
    response = upload_codebook(pi, content, "x.yaml")
    assert response.status_code == 422
    assert problem in unescape(response.get_data(as_text=True))
    assert count(Codebook) == 1


def test_codebook_form_without_a_file_is_422(client: FlaskClient, pi: AuthActions) -> None:
    response = pi.post("/admin/codebooks")
    assert response.status_code == 422
    assert field_errors(response.get_data(as_text=True), "file") == ["This field is required."]


# --- people -------------------------------------------------------------------------------


def add_person(pi: AuthActions, **fields: str) -> Any:
    return pi.post("/admin/users", {"role": "coder", "display_name": "", "password": "", **fields})


def test_new_coder_gets_a_password_shown_once(
    client: FlaskClient, auth: AuthActions, pi: AuthActions
) -> None:
    response = add_person(pi, username="dana", display_name="Dana Li")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    notice = re.search(
        r'<li class="flash flash-success" id="new-password">([^<]*)</li>', response.text
    )
    assert notice, response.text
    match = re.fullmatch(
        r"Added coder &#39;dana&#39;\. Password \(shown once\): ([a-z2-9-]{19})", notice.group(1)
    )
    assert match, notice.group(1)
    password = match.group(1)
    # Only in that answer: not in the session cookie (signed, not encrypted), not on the
    # next page, and the form is empty again.
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert password not in str(session_data(client, cookie.value))
    assert flashes(client, "/admin/users") == []
    html = client.get("/admin/users").get_data(as_text=True)
    assert password not in html
    assert 'name="username" required type="text" value=""' in response.text
    assert "<td>dana</td><td>Dana Li</td><td>coder</td>" in html
    user = db.session.scalar(db.select(User).where(User.username == "dana"))
    assert user is not None and password not in user.password_hash
    auth.logout()
    assert auth.login("dana", password).status_code == 302
    assert client.get("/").headers["Location"] == "/code/"


def test_chosen_password_is_not_shown(client: FlaskClient, pi: AuthActions) -> None:
    response = add_person(pi, username="erin", role="pi", password="a long password")
    assert response.status_code == 302
    assert flashes(client, "/admin/users") == ["Added pi 'erin'."]
    user = db.session.scalar(db.select(User).where(User.username == "erin"))
    assert user is not None and user.role.can_administer()
    assert user.check_password("a long password")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "alice"}, "username", "a user named 'alice' already exists"),
        ({"username": "  bob "}, "username", "a user named 'bob' already exists"),
        ({"username": "two words"}, "username", "'two words' is not a valid user name"),
        ({"username": ""}, "username", "This field is required."),
        ({"username": "dana", "role": "admin"}, "role", "Not a valid choice."),
    ],
)
def test_bad_person_is_refused_at_the_field(
    client: FlaskClient, pi: AuthActions, fields: dict[str, str], field: str, message: str
) -> None:
    response = add_person(pi, **fields, password="a typed secret")
    assert response.status_code == 422
    errors = field_errors(response.get_data(as_text=True), field)
    assert any(error.startswith(message) for error in errors), errors
    assert count(User) == 4
    # The form comes back with what was typed, but not with the password.
    assert "a typed secret" not in response.text


# --- assignments --------------------------------------------------------------------------


def add_documents(n: int) -> list[int]:
    """Documents without files: the assignment rule needs only their rows."""
    documents = [
        Document(
            sha256=hashlib.sha256(f"synthetic {i}".encode()).hexdigest(),
            filename=f"synthetic-{i:02}.txt",
            format=DocumentFormat.TEXT,
            size_bytes=10,
            page_count=1,
            has_text=True,
        )
        for i in range(n)
    ]
    db.session.add_all(documents)
    db.session.commit()
    return [document.id for document in documents]


def assign_by_rule(pi: AuthActions, **fields: str) -> Any:
    data = {"rule-codebook": STUDY, "rule-sample": "50%", "rule-coders_per_document": "2"}
    return pi.post(
        "/admin/assignments/rule", {**data, **{f"rule-{k}": v for k, v in fields.items()}}
    )


def test_rule_assigns_a_sample_evenly_with_the_seed_recorded(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    # notes.md is still unassigned; with nine more that makes ten for the rule.
    new = [project.document_ids["notes.md"], *add_documents(9)]
    response = assign_by_rule(pi, seed="7")
    assert response.status_code == 302
    messages = flashes(client, "/admin/assignments")
    assert messages[0] == (
        "assigned 10 documents (15 assignments); reliability sample: 5 documents; seed 7"
    )
    batch = db.session.scalar(db.select(AssignmentBatch))
    assert batch is not None
    assert batch.seed == 7
    assert batch.parameters["reliability_share"] == 0.5
    assert batch.parameters["coders"] == ["alice", "bob", "carol"]
    rows = db.session.scalars(db.select(Assignment).where(Assignment.batch_id == batch.id)).all()
    coders_of = Counter(row.document_id for row in rows)
    assert set(coders_of) == set(new)
    assert sorted(coders_of.values()) == [1] * 5 + [2] * 5
    assert {row.document_id for row in rows if row.reliability} == {
        document for document, n in coders_of.items() if n == 2
    }
    assert set(batch.parameters["reliability_documents"]) == {
        document for document, n in coders_of.items() if n == 2
    }
    # Even: alice and bob already had two documents each, carol none; now all are level.
    load = Counter(row.coder_id for row in db.session.scalars(db.select(Assignment)))
    assert max(load.values()) - min(load.values()) <= 1
    assert sum(load.values()) == 19
    html = client.get("/admin/assignments").get_data(as_text=True)
    assert html.count("<td>yes</td>") == 2 + 10  # the fixture's overlap and the new sample


def test_rule_without_a_seed_draws_one_and_records_it(client: FlaskClient, pi: AuthActions) -> None:
    add_documents(4)
    assert assign_by_rule(pi, sample="1", seed="").status_code == 302
    batch = db.session.scalar(db.select(AssignmentBatch))
    assert batch is not None
    assert flashes(client, "/admin/assignments")[0].endswith(f"seed {batch.seed}")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"sample": "lots"}, "rule-sample", "'lots' is neither a percentage (like 20%)"),
        ({"sample": "150%"}, "rule-sample", "the reliability share must lie between 0 % and 100 %"),
        ({"sample": "-1"}, "rule-sample", "the reliability sample cannot be negative"),
        ({"sample": "99"}, "rule-sample", "a reliability sample of 99 needs 99 documents"),
        (
            {"coders_per_document": "4"},
            "rule-sample",
            "4 coders per reliability document, but only 3",
        ),
        ({"coders_per_document": "1"}, "rule-coders_per_document", "Number must be at least 2."),
        ({"seed": "twelve"}, "rule-seed", "Not a valid integer value."),
        # The seed is stored in an integer column: refused here, not a crash on PostgreSQL.
        ({"seed": str(2**40)}, "rule-seed", "Number must be between 0 and 2147483647."),
        ({"codebook": "other"}, "rule-codebook", "Not a valid choice."),
    ],
)
def test_bad_rule_is_refused_at_the_field(
    client: FlaskClient, pi: AuthActions, fields: dict[str, str], field: str, message: str
) -> None:
    add_documents(3)
    before = count(Assignment)
    response = assign_by_rule(pi, **fields)
    assert response.status_code == 422
    errors = field_errors(response.get_data(as_text=True), field)
    assert any(error.startswith(message) for error in errors), errors
    assert (count(Assignment), count(AssignmentBatch)) == (before, 0)


def test_rule_with_nothing_left_to_assign_is_refused(pi: AuthActions, project: Project) -> None:
    pi.post(
        "/admin/assignments/manual",
        {
            "manual-codebook": STUDY,
            "manual-document": str(project.document_ids["notes.md"]),
            "manual-coder": str(project.users["carol"]),
        },
    )
    response = assign_by_rule(pi)
    assert response.status_code == 422
    assert "every document is already assigned for codebook 'wechat_policing'" in unescape(
        response.get_data(as_text=True)
    )


def test_assign_by_hand(client: FlaskClient, pi: AuthActions, project: Project) -> None:
    notes, carol = project.document_ids["notes.md"], project.users["carol"]
    form = {"manual-codebook": STUDY, "manual-document": str(notes), "manual-coder": str(carol)}
    response = pi.post("/admin/assignments/manual", form)
    assert response.status_code == 302
    html = client.get("/admin/assignments").get_data(as_text=True)
    assert f"Assigned document {notes} to carol." in html
    assert re.search(
        rf"{notes}: notes\.md</a></td>\s*<td>carol</td>.*?<td>by hand</td>", html, re.S
    )
    # Again: no second assignment.
    assert pi.post("/admin/assignments/manual", form).status_code == 302
    assignments = db.session.scalars(
        db.select(Assignment).where(Assignment.document_id == notes)
    ).all()
    assert [(a.coder_id, a.batch_id, a.reliability) for a in assignments] == [(carol, None, False)]
    # Carol now has the document to code.
    pi.logout()
    pi.login("carol")
    assert client.get(f"/code/{notes}").status_code == 200


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"manual-coder": "{pi}"}, "manual-coder"),  # the PI codes nothing
        ({"manual-coder": "999"}, "manual-coder"),
        ({"manual-document": "999"}, "manual-document"),
        ({"manual-codebook": "other"}, "manual-codebook"),
    ],
)
def test_bad_assignment_by_hand_is_refused(
    client: FlaskClient, pi: AuthActions, project: Project, fields: dict[str, str], field: str
) -> None:
    form = {
        "manual-codebook": STUDY,
        "manual-document": str(project.document_ids["notes.md"]),
        "manual-coder": str(project.users["carol"]),
    }
    form.update({k: v.format(pi=project.users["pi"]) for k, v in fields.items()})
    before = count(Assignment)
    response = pi.post("/admin/assignments/manual", form)
    assert response.status_code == 422
    assert field_errors(response.get_data(as_text=True), field) == ["Not a valid choice."]
    assert count(Assignment) == before


def test_assignment_forms_need_the_csrf_token_of_the_session(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    # The forms carry a prefix ("rule-csrf_token"); a token from another session still fails.
    other = client.application.test_client()
    token = csrf_token(other)
    assert token != csrf_token(client)
    response = client.post("/admin/assignments/rule", data={"rule-csrf_token": token})
    assert response.status_code == 400
    assert count(AssignmentBatch) == 0
