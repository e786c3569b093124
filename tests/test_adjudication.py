"""Adjudication: final values decided from the coders' values, their history, and the pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.exc import IntegrityError

from annotator.extensions import db
from annotator.models import (
    Assignment,
    Codebook,
    CodebookVersion,
    Document,
    FinalEvent,
    FinalValue,
    HistoryIsAppendOnly,
    LabelSet,
    LabelStatus,
    User,
    utcnow,
)
from annotator.services import adjudication
from annotator.services import labels as label_service
from annotator.services.adjudication import AdjudicationError, NotAllowed

from .conftest import AuthActions, Project, csrf_token

SHARED = "zh_cid_font.pdf"  # alice and bob
ALICE_ALONE = "en_two_pages.pdf"

ALICE = {
    "document_kind": "tender",
    "year": 2019,
    "service_type": ["crime_reporting", "emergency_alarm"],
    "city": "福州",
    "vendor_is_tencent": True,
}
BOB = {
    "document_kind": "award",
    "year": 2019,
    "service_type": ["crime_reporting", "emergency_alarm"],
    "city": "福州市",
    "vendor_is_tencent": False,
}


def user(project: Project, name: str) -> User:
    found = db.session.get(User, project.users[name])
    assert found is not None
    return found


def document(project: Project, name: str = SHARED) -> Document:
    found = db.session.get(Document, project.document_ids[name])
    assert found is not None
    return found


def version(project: Project) -> CodebookVersion:
    codebook = db.session.get(Codebook, project.codebook_id)
    assert codebook is not None and codebook.latest is not None
    return codebook.latest


def code(
    project: Project, coder: str, values: dict[str, Any], *, name: str = SHARED, submit: bool = True
) -> LabelSet:
    """A coder's label set on a document, submitted by default."""
    who = user(project, coder)
    label_set = label_service.label_set_for(
        db.session, document(project, name), who, version(project), create=True
    )
    assert label_set is not None
    label_service.save_labels(db.session, label_set, who, values)
    if submit:
        # Set directly: submitting through the service needs every required value.
        label_set.status = LabelStatus.SUBMITTED
    db.session.commit()
    return label_set


def both_code(project: Project) -> None:
    code(project, "alice", ALICE)
    code(project, "bob", BOB)


def grant(project: Project, name: str) -> User:
    who = user(project, name)
    who.can_adjudicate = True
    db.session.commit()
    return who


# --- the service ----------------------------------------------------------------------------


def test_comparison_shows_every_coder_and_marks_disagreements(project: Project) -> None:
    code(project, "alice", ALICE)
    bob = code(project, "bob", BOB, submit=False)
    label_service.add_evidence(
        db.session, bob, user(project, "bob"), variable="province", page=1, quote="福建省公安厅"
    )
    bob.status = LabelStatus.SUBMITTED
    db.session.commit()
    compared = adjudication.comparison(db.session, document(project), version(project))
    assert [c.username for c in compared.coders] == ["alice", "bob"]
    rows = {row.variable.id: row for row in compared.rows}
    assert rows["document_kind"].disagree and not rows["document_kind"].agree
    assert [e.value for e in rows["document_kind"].entries] == ["tender", "award"]
    # Equal once normalised: the codes in another order.
    assert rows["service_type"].agree and not rows["service_type"].disagree
    assert rows["year"].agreed == 2019
    # Free text is shown, never a disagreement.
    assert not rows["city"].disagree and not rows["city"].agree
    assert [e.quotes for e in rows["province"].entries][1][0].quote == "福建省公安厅"
    assert compared.n_disagreements == 2  # document_kind, vendor_is_tencent


def test_documents_to_adjudicate_lists_multi_coded_documents(project: Project) -> None:
    both_code(project)
    code(project, "alice", ALICE, name=ALICE_ALONE)
    statuses = adjudication.documents_to_adjudicate(db.session, version(project))
    assert [(s.unit, s.coders, s.n_disagreements, s.n_decided) for s in statuses] == [
        (SHARED, ("alice", "bob"), 2, 0)
    ]
    adjudication.set_final(
        db.session,
        document(project),
        version(project),
        "document_kind",
        user=user(project, "pi"),
        value="tender",
    )
    (status,) = adjudication.documents_to_adjudicate(db.session, version(project))
    assert (status.n_undecided, status.n_decided, status.done) == (1, 1, False)
    # In progress label sets count only on request.
    code(project, "carol", ALICE, name=ALICE_ALONE, submit=False)
    assert len(adjudication.documents_to_adjudicate(db.session, version(project))) == 1
    assert (
        len(
            adjudication.documents_to_adjudicate(db.session, version(project), submitted_only=False)
        )
        == 2
    )


def test_set_final_from_a_coder_records_who_and_the_history(project: Project) -> None:
    both_code(project)
    pi = user(project, "pi")
    final = adjudication.set_final(
        db.session,
        document(project),
        version(project),
        "document_kind",
        user=pi,
        source_coder=user(project, "bob"),
        note="the award notice",
    )
    db.session.commit()
    assert (final.value, final.source_coder_id, final.decided_by_id, final.note) == (
        "award",
        project.users["bob"],
        pi.id,
        "the award notice",
    )
    assert final.decided_at <= utcnow()
    # Changing it writes a second event; the same decision again writes nothing.
    for _ in range(2):
        adjudication.set_final(
            db.session,
            document(project),
            version(project),
            "document_kind",
            user=pi,
            value="tender",
        )
    events = adjudication.history(db.session, document(project), version(project))
    assert [(e.action, e.before, e.after, e.source_coder_id) for e in events] == [
        ("set", None, "award", project.users["bob"]),
        ("set", "award", "tender", None),
    ]
    # The coders' labels are untouched.
    assert {ls.values()["document_kind"] for ls in db.session.scalars(db.select(LabelSet))} == {
        "tender",
        "award",
    }


@pytest.mark.parametrize(
    ("variable", "typed", "stored"),
    [
        ("year", "2020", 2020),
        (
            "service_type",
            ["emergency_alarm", "crime_reporting"],
            ["crime_reporting", "emergency_alarm"],
        ),
        ("vendor_is_tencent", "yes", True),
        ("city", "  福州  ", "福州"),
        ("document_kind", None, None),  # decided: missing
    ],
)
def test_typed_value_is_normalised(
    project: Project, variable: str, typed: Any, stored: Any
) -> None:
    both_code(project)
    final = adjudication.set_final(
        db.session,
        document(project),
        version(project),
        variable,
        user=user(project, "pi"),
        value=typed,
    )
    assert final.value == stored


@pytest.mark.parametrize(
    ("variable", "typed", "field"),
    [
        ("year", 1990, "value"),
        ("document_kind", "no_such_code", "value"),
        ("no_such_variable", "x", "variable"),
    ],
)
def test_typed_value_is_checked(project: Project, variable: str, typed: Any, field: str) -> None:
    both_code(project)
    with pytest.raises(AdjudicationError) as raised:
        adjudication.set_final(
            db.session,
            document(project),
            version(project),
            variable,
            user=user(project, "pi"),
            value=typed,
        )
    assert field in raised.value.errors
    assert db.session.scalar(db.select(db.func.count()).select_from(FinalEvent)) == 0


def test_source_coder_must_have_submitted(project: Project) -> None:
    both_code(project)
    with pytest.raises(AdjudicationError, match="carol has no submitted coding"):
        adjudication.set_final(
            db.session,
            document(project),
            version(project),
            "year",
            user=user(project, "pi"),
            source_coder=user(project, "carol"),
        )


def test_accept_agreed_sets_only_agreed_undecided_variables(project: Project) -> None:
    both_code(project)
    pi = user(project, "pi")
    adjudication.set_final(
        db.session, document(project), version(project), "year", user=pi, value=2018
    )
    accepted = adjudication.accept_agreed(db.session, document(project), version(project), pi)
    assert accepted == ["service_type"]
    finals = {f.variable: f.value for f in db.session.scalars(db.select(FinalValue))}
    assert finals == {"year": 2018, "service_type": ["crime_reporting", "emergency_alarm"]}
    assert [
        e.action for e in adjudication.history(db.session, document(project), version(project))
    ] == [
        "set",
        "accept_agreed",
    ]
    assert adjudication.accept_agreed(db.session, document(project), version(project), pi) == []


def test_clear_removes_the_final_value_and_keeps_the_history(project: Project) -> None:
    both_code(project)
    pi = user(project, "pi")
    adjudication.set_final(
        db.session, document(project), version(project), "year", user=pi, value=2018
    )
    assert adjudication.clear_final(
        db.session, document(project), version(project), "year", user=pi
    )
    assert not adjudication.clear_final(
        db.session, document(project), version(project), "year", user=pi
    )
    assert db.session.scalar(db.select(FinalValue)) is None
    events = adjudication.history(db.session, document(project), version(project))
    assert [(e.action, e.before, e.after) for e in events] == [
        ("set", None, 2018),
        ("clear", 2018, None),
    ]


@pytest.mark.parametrize("agreement_is_final", [False, True])
def test_final_values(project: Project, agreement_is_final: bool) -> None:
    both_code(project)
    code(project, "alice", {"document_kind": "tender", "year": 2020}, name=ALICE_ALONE)
    code(project, "bob", {"document_kind": "award"}, name="report.html", submit=False)
    pi = user(project, "pi")
    shared, alone = project.document_ids[SHARED], project.document_ids[ALICE_ALONE]
    adjudication.set_final(
        db.session, document(project), version(project), "document_kind", user=pi, value="award"
    )
    adjudication.set_final(
        db.session,
        document(project, ALICE_ALONE),
        version(project),
        "year",
        user=pi,
        value=2021,
    )
    finals = adjudication.final_values(
        db.session, version(project), agreement_is_final=agreement_is_final
    )
    # A single coder's values are final unless changed; bob's in-progress set counts not.
    assert finals[alone] == {"document_kind": "tender", "year": 2021}
    assert project.document_ids["report.html"] not in finals
    expected: dict[str, Any] = {"document_kind": "award"}
    if agreement_is_final:
        expected |= {"year": 2019, "service_type": ["crime_reporting", "emergency_alarm"]}
    assert finals[shared] == expected


def test_final_history_is_append_only(project: Project) -> None:
    both_code(project)
    adjudication.set_final(
        db.session,
        document(project),
        version(project),
        "year",
        user=user(project, "pi"),
        value=2018,
    )
    db.session.commit()
    event = db.session.scalar(db.select(FinalEvent))
    assert event is not None
    event.after = 1999
    with pytest.raises(HistoryIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.scalar(db.select(FinalEvent)))
    with pytest.raises(HistoryIsAppendOnly):
        db.session.flush()
    db.session.rollback()


def test_one_final_value_per_variable(project: Project) -> None:
    both_code(project)
    pi = user(project, "pi")
    for _ in range(2):
        db.session.add(
            FinalValue(
                document_id=project.document_ids[SHARED],
                codebook_version_id=version(project).id,
                variable="year",
                value=2019,
                decided_by_id=pi.id,
            )
        )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_who_may_adjudicate(project: Project) -> None:
    both_code(project)
    shared, doc_version = document(project), version(project)
    assert adjudication.may_adjudicate(db.session, user(project, "pi"), shared, doc_version)
    # A coder without the right may not; with it, only documents they do not code.
    assert not adjudication.may_adjudicate(db.session, user(project, "carol"), shared, doc_version)
    carol, alice = grant(project, "carol"), grant(project, "alice")
    assert adjudication.may_adjudicate(db.session, carol, shared, doc_version)
    assert not adjudication.may_adjudicate(db.session, alice, shared, doc_version)
    # Assigned counts as coding: bob's report.html, which he has not started.
    report = document(project, "report.html")
    assert adjudication.may_adjudicate(db.session, alice, report, doc_version)
    assert not adjudication.may_adjudicate(db.session, grant(project, "bob"), report, doc_version)
    with pytest.raises(NotAllowed):
        adjudication.set_final(db.session, shared, doc_version, "year", user=alice, value=2019)
    with pytest.raises(NotAllowed):
        adjudication.accept_agreed(db.session, shared, doc_version, alice)
    assert db.session.scalar(db.select(FinalValue)) is None
    adjudication.set_final(db.session, shared, doc_version, "year", user=carol, value=2019)
    assert [
        s.unit
        for s in adjudication.documents_to_adjudicate(db.session, doc_version, for_user=alice)
    ] == []
    assert [
        s.unit
        for s in adjudication.documents_to_adjudicate(db.session, doc_version, for_user=carol)
    ] == [SHARED]


# --- the pages ------------------------------------------------------------------------------


def test_pi_sees_the_list_and_the_side_by_side_page(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    both_code(project)
    listing = client.get("/adjudicate/").get_data(as_text=True)
    assert SHARED in listing and "alice, bob" in listing
    assert ALICE_ALONE not in listing  # one coder: nothing to adjudicate
    page = client.get(f"/adjudicate/{project.document_ids[SHARED]}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    # Both coders' values with their codebook labels; the disagreement marked in words.
    assert body.count('class="marker marker-disagree"') == 2
    assert 'id="v-document_kind" class="disagree"' in body
    assert "Disagreement" in body
    assert "Accept all agreed values (2)" in body  # service_type and year


def test_pi_decides_from_a_coder_and_by_typing(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    both_code(project)
    shared = project.document_ids[SHARED]
    response = pi.post(
        f"/adjudicate/{shared}/final",
        {
            "variable": "document_kind",
            "document_kind-source": str(project.users["bob"]),
            "document_kind-note": "an award notice",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/adjudicate/{shared}#v-document_kind"
    response = pi.post(
        f"/adjudicate/{shared}/final",
        {
            "variable": "service_type",
            "service_type-source": "typed",
            "service_type-value": ["crime_reporting", "emergency_alarm"],
        },
    )
    assert response.status_code == 302
    finals = {
        f.variable: (f.value, f.source_coder_id, f.note)
        for f in db.session.scalars(db.select(FinalValue))
    }
    assert finals == {
        "document_kind": ("award", project.users["bob"], "an award notice"),
        "service_type": (["crime_reporting", "emergency_alarm"], None, ""),
    }
    body = client.get(f"/adjudicate/{shared}").get_data(as_text=True)
    assert "an award notice" in body and "from bob" in body


def test_a_refused_value_is_shown_at_the_field_and_kept(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    both_code(project)
    shared = project.document_ids[SHARED]
    response = pi.post(
        f"/adjudicate/{shared}/final",
        {"variable": "year", "year-source": "typed", "year-value": "1990", "year-note": "my note"},
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'class="field-error"' in body and "below the minimum" in body
    assert 'value="1990"' in body and "my note" in body
    assert db.session.scalar(db.select(FinalValue)) is None


def test_accept_agreed_button(client: FlaskClient, pi: AuthActions, project: Project) -> None:
    both_code(project)
    shared = project.document_ids[SHARED]
    response = pi.post(f"/adjudicate/{shared}/accept-agreed")
    assert response.headers["Location"] == f"/adjudicate/{shared}"
    assert {f.variable for f in db.session.scalars(db.select(FinalValue))} == {
        "service_type",
        "year",
    }


def test_coders_without_the_right_are_refused(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    both_code(project)
    auth.login("carol")
    assert client.get("/adjudicate/").status_code == 403
    assert client.get(f"/adjudicate/{project.document_ids[SHARED]}").status_code == 403
    assert "/adjudicate/" not in client.get("/code/").get_data(as_text=True)


def test_an_adjudicator_sees_others_documents_but_never_their_own(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    both_code(project)
    grant(project, "alice")
    grant(project, "carol")
    shared = project.document_ids[SHARED]
    auth.login("alice")
    assert "/adjudicate/" in client.get("/code/").get_data(as_text=True)
    assert SHARED not in client.get("/adjudicate/").get_data(as_text=True)
    assert client.get(f"/adjudicate/{shared}").status_code == 403
    assert auth.post(f"/adjudicate/{shared}/accept-agreed").status_code == 403
    assert (
        auth.post(
            f"/adjudicate/{shared}/final",
            {"variable": "year", "year-source": "typed", "year-value": "2019"},
        ).status_code
        == 403
    )
    assert db.session.scalar(db.select(FinalValue)) is None
    auth.logout()
    auth.login("carol")
    assert SHARED in client.get("/adjudicate/").get_data(as_text=True)
    assert client.get(f"/adjudicate/{shared}").status_code == 200
    assert auth.post(f"/adjudicate/{shared}/accept-agreed").status_code == 302
    assert db.session.scalar(db.select(FinalValue.decided_by_id).limit(1)) == project.users["carol"]


def test_posts_without_the_csrf_token_are_refused(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    both_code(project)
    shared = project.document_ids[SHARED]
    for url in (f"/adjudicate/{shared}/final", f"/adjudicate/{shared}/accept-agreed"):
        response = client.post(
            url, data={"variable": "year", "year-source": "typed", "year-value": "2019"}
        )
        assert response.status_code == 400
    assert db.session.scalar(db.select(FinalValue)) is None
    assert csrf_token(client)


def test_the_chinese_interface_renders(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    both_code(project)
    pi.post("/language", {"locale": "zh_Hans"})
    listing = client.get("/adjudicate/")
    page = client.get(f"/adjudicate/{project.document_ids[SHARED]}")
    assert listing.status_code == page.status_code == 200
    body = page.get_data(as_text=True)
    # The interface and the codebook's labels in Chinese.
    assert "裁定" in body
    assert "招标（采购）公告" in body and "中标（成交）公告" in body


def test_agreement_is_final_is_said_on_the_page(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    both_code(project)
    client.application.config["AGREEMENT_IS_FINAL"] = True
    body = client.get(f"/adjudicate/{project.document_ids[SHARED]}").get_data(as_text=True)
    assert "ANNOTATOR_AGREEMENT_IS_FINAL" in body
    assert "final: all coders agree" in body


def test_the_pi_gives_and_takes_back_the_adjudicator_right_on_the_people_page(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    both_code(project)
    auth.login("pi")
    people = client.get("/admin/users").get_data(as_text=True)
    carol_cell = re.search(r'id="adjudicator-carol">(.*?)</td>', people, re.S)
    assert carol_cell is not None and "Give the right" in carol_cell.group(1)
    assert 'name="username" value="carol"' in carol_cell.group(1)
    # The adjudication list points there rather than having a control of its own.
    listing = client.get("/adjudicate/").get_data(as_text=True)
    assert "No coder has the adjudicator right." in listing and 'href="/admin/users"' in listing
    response = auth.post("/admin/users/adjudicator", {"username": "carol", "allowed": "1"})
    assert response.headers["Location"] == "/admin/users"
    people = client.get("/admin/users").get_data(as_text=True)
    assert "carol may now adjudicate." in people
    carol_cell = re.search(r'id="adjudicator-carol">(.*?)</td>', people, re.S)
    assert carol_cell is not None and "Take the right back" in carol_cell.group(1)
    assert "carol" in client.get("/adjudicate/").get_data(as_text=True).split("Adjudicators")[1]
    # The PI always may: no right to give or take.
    auth.post("/admin/users/adjudicator", {"username": "pi", "allowed": "0"})
    assert "pi may always adjudicate." in client.get("/admin/users").get_data(as_text=True)
    # Not a person, or no choice: refused, nothing changed.
    auth.post("/admin/users/adjudicator", {"username": "nobody", "allowed": "1"})
    auth.post("/admin/users/adjudicator", {"username": "bob", "allowed": "maybe"})
    assert "Choose a coder." in client.get("/admin/users").get_data(as_text=True)
    db.session.expire_all()
    assert user(project, "carol").can_adjudicate
    assert user(project, "pi").may_adjudicate
    assert not user(project, "bob").can_adjudicate
    auth.logout()
    auth.login("carol")
    assert client.get("/adjudicate/").status_code == 200
    assert (
        auth.post("/admin/users/adjudicator", {"username": "bob", "allowed": "1"}).status_code
        == 403
    )
    # Without the CSRF token, refused before anything is looked at.
    auth.logout()
    auth.login("pi")
    response = client.post("/admin/users/adjudicator", data={"username": "carol", "allowed": "0"})
    assert response.status_code == 400
    db.session.expire_all()
    assert user(project, "carol").can_adjudicate
    auth.post("/admin/users/adjudicator", {"username": "carol", "allowed": "0"})
    db.session.expire_all()
    assert not user(project, "carol").can_adjudicate
    assert not user(project, "bob").can_adjudicate
    auth.logout()
    auth.login("carol")
    assert client.get("/adjudicate/").status_code == 403


# --- the document beside the comparison ------------------------------------------------------


def test_the_adjudicator_sees_the_document_beside_the_comparison(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    code(project, "alice", ALICE)
    bob = code(project, "bob", BOB, submit=False)
    quote = label_service.add_evidence(
        db.session, bob, user(project, "bob"), variable="province", page=1, quote="福建省公安厅"
    )
    bob.status = LabelStatus.SUBMITTED
    db.session.commit()
    grant(project, "carol")
    shared = project.document_ids[SHARED]
    auth.login("carol")
    body = client.get(f"/adjudicate/{shared}").get_data(as_text=True)
    # The PDF viewer, fed by the file route, and the extracted text, beside the table.
    assert f'data-pdf-url="/documents/{shared}/file"' in body
    assert body.index('class="document-pane"') < body.index('class="adjudication"')
    assert 'id="page-1"' in body and "福建省公安厅" in body
    # Bob's quote, located so that the page's script highlights it on a click.
    assert (
        f'<li data-evidence-id="{quote.id}" data-page="1" data-start="{quote.start}" '
        f'data-end="{quote.end}"><a href="#page-1" class="evidence-link"'
    ) in body
    assert "/static/adjudication.js" in body
    # The PI's document page stays the PI's.
    assert f'href="/documents/{shared}"' not in body
    pdf = client.get(f"/documents/{shared}/file")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert client.get(f"/documents/{shared}").status_code == 403
    assert client.get(f"/code/{shared}").status_code == 404


def test_an_html_document_is_rendered_beside_the_comparison(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    code(project, "bob", BOB, name="report.html")
    grant(project, "carol")
    auth.login("carol")
    body = client.get(f"/adjudicate/{project.document_ids['report.html']}").get_data(as_text=True)
    assert 'class="document-html" data-role="document-html"' in body
    assert "data-pdf-viewer" not in body


def test_the_document_stays_hidden_from_those_who_may_not_adjudicate_it(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    both_code(project)
    shared = project.document_ids[SHARED]
    alice = grant(project, "alice")
    # Coded by her, though no longer assigned: still hers, so neither the page nor the file.
    db.session.execute(
        db.delete(Assignment).where(
            Assignment.coder_id == alice.id, Assignment.document_id == shared
        )
    )
    db.session.commit()
    assert not adjudication.may_read(db.session, alice, document(project))
    assert adjudication.may_read(db.session, grant(project, "carol"), document(project))
    auth.login("alice")
    assert client.get(f"/adjudicate/{shared}").status_code == 403
    assert client.get(f"/documents/{shared}/file").status_code == 404
    auth.logout()
    # A coder without the right: 404, as for a document that does not exist.
    code(project, "alice", ALICE, name=ALICE_ALONE)
    auth.login("bob")
    assert client.get(f"/documents/{project.document_ids[ALICE_ALONE]}/file").status_code == 404
    auth.logout()
    grant(project, "bob")
    auth.login("bob")
    assert client.get(f"/documents/{project.document_ids[ALICE_ALONE]}/file").status_code == 200


# --- typed final values in the variable's own field -----------------------------------------


def test_typed_values_use_the_variables_own_fields(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    both_code(project)
    body = client.get(f"/adjudicate/{project.document_ids[SHARED]}").get_data(as_text=True)
    rows = {
        name: re.search(rf'<tr id="v-{name}".*?</tr>', body, re.S).group(0)  # type: ignore[union-attr]
        for name in ("document_kind", "service_type", "year", "vendor_is_tencent", "city")
    }
    assert 'name="document_kind-value" type="radio" value="award"' in rows["document_kind"]
    assert (
        'name="service_type-value" type="checkbox" value="crime_reporting"' in rows["service_type"]
    )
    assert re.search(r'<input[^>]*name="year-value"[^>]*type="number"', rows["year"])
    assert 'name="vendor_is_tencent-value" type="radio" value="yes"' in rows["vendor_is_tencent"]
    assert re.search(r'<textarea[^>]*name="city-value"', rows["city"])
    # No typing of codes any more.
    assert "separate codes with commas" not in body


@pytest.mark.parametrize(
    ("variable", "posted", "stored"),
    [
        ("document_kind", "award", "award"),  # one choice: a radio button
        (
            "service_type",
            ["emergency_alarm", "crime_reporting"],  # several: check boxes
            ["crime_reporting", "emergency_alarm"],
        ),
        ("service_type", [], None),  # none ticked: decided missing
        ("year", "2020", 2020),  # a number field
        ("procurement_value_cny", "1280.5", 1280.5),
        ("vendor_is_tencent", "no", False),  # yes/no
        ("city", "  福州市鼓楼区 ", "福州市鼓楼区"),  # free text
    ],
)
def test_a_typed_value_is_posted_in_its_own_field(
    client: FlaskClient,
    pi: AuthActions,
    project: Project,
    variable: str,
    posted: Any,
    stored: Any,
) -> None:
    both_code(project)
    shared = project.document_ids[SHARED]
    response = pi.post(
        f"/adjudicate/{shared}/final",
        {
            "variable": variable,
            f"{variable}-source": "typed",
            f"{variable}-value": posted,
            f"{variable}-note": "typed by the PI",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    final = db.session.scalar(db.select(FinalValue))
    assert final is not None
    assert (final.variable, final.value, final.source_coder_id, final.note) == (
        variable,
        stored,
        None,
        "typed by the PI",
    )
    # The form shows the decision again in the same field.
    body = client.get(f"/adjudicate/{shared}").get_data(as_text=True)
    row = re.search(rf'<tr id="v-{variable}".*?</tr>', body, re.S)
    assert row is not None
    if isinstance(stored, list):
        for code_ in stored:
            assert re.search(rf'<input checked[^>]*value="{code_}"', row.group(0))
    elif isinstance(stored, str) and variable == "document_kind":
        assert re.search(rf'<input checked[^>]*value="{stored}"', row.group(0))


@pytest.mark.parametrize(
    ("variable", "posted", "message", "kept"),
    [
        ("year", "twenty", "Not a valid decimal value", 'value="twenty"'),
        ("year", "1990", "below the minimum", 'value="1990"'),
        ("document_kind", "no_such_code", "Not a valid choice", None),
        ("service_type", ["crime_reporting", "no_such_code"], "not a valid choice", None),
    ],
)
def test_a_refused_typed_value_says_why_and_keeps_what_was_typed(
    client: FlaskClient,
    pi: AuthActions,
    project: Project,
    variable: str,
    posted: Any,
    message: str,
    kept: str | None,
) -> None:
    both_code(project)
    response = pi.post(
        f"/adjudicate/{project.document_ids[SHARED]}/final",
        {
            "variable": variable,
            f"{variable}-source": "typed",
            f"{variable}-value": posted,
            f"{variable}-note": "my reasons",
        },
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    row = re.search(rf'<tr id="v-{variable}".*?</tr>', body, re.S)
    assert row is not None
    errors = re.findall(r'<p class="field-error" role="alert">(.*?)</p>', row.group(0))
    assert len(errors) == 1 and message in errors[0]
    assert "my reasons" in row.group(0)
    assert re.search(r'<input checked[^>]*value="typed"', row.group(0))
    if kept:
        assert kept in row.group(0)
    if variable == "service_type":
        assert re.search(r'<input checked[^>]*value="crime_reporting"', row.group(0))
    assert db.session.scalar(db.select(FinalValue)) is None


def test_a_coders_value_ignores_the_typed_field(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    both_code(project)
    response = pi.post(
        f"/adjudicate/{project.document_ids[SHARED]}/final",
        {"variable": "year", "year-source": str(project.users["alice"]), "year-value": "x"},
    )
    assert response.status_code == 302
    final = db.session.scalar(db.select(FinalValue))
    assert final is not None and (final.value, final.source_coder_id) == (
        2019,
        project.users["alice"],
    )
