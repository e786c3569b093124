"""Who may open what: every route for every role, and blind coding between coders.

The table ROUTES lists each route of the app with what an anonymous visitor, alice (assigned
the shared document), carol (assigned nothing) and the PI get. A test fails when the app has
a route the table lacks, so a new route cannot ship without its permissions being stated.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from annotator.extensions import db
from annotator.models import Codebook, Document, Evidence, LabelSet, LabelStatus, User
from annotator.services import labels as label_service

from .conftest import AuthActions, Project, csrf_token

SHARED = "zh_cid_font.pdf"  # alice and bob both code it; carol does not
LOGIN = "login"  # expected: a redirect to the login page that comes back here afterwards
ROLES = ("anonymous", "alice", "carol", "pi")


@dataclass(frozen=True)
class Route:
    """One route, a request to send to it, and what each role gets back.

    An expectation is a status code, LOGIN, or the path a 302 redirects to. ``data`` is the
    form (or, with ``json``, the JSON body) a person allowed to use the route would send.
    """

    endpoint: str
    method: str
    url: str
    expect: dict[str, int | str]
    data: dict[str, Any] = field(default_factory=dict)
    json: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


def route(endpoint: str, method: str, url: str, *expected: int | str, **kwargs: Any) -> Route:
    """A Route with expectations given in ROLES order: anonymous, alice, carol, PI."""
    return Route(endpoint, method, url, dict(zip(ROLES, expected, strict=True)), **kwargs)


ADMIN = (LOGIN, 403, 403, 200)

ROUTES = [
    route("static", "GET", "/static/app.css", 200, 200, 200, 200),
    route("index", "GET", "/", "/login", "/code/", "/code/", "/admin/"),
    route("auth.login", "GET", "/login", 200, 200, 200, 200),
    route(
        "auth.login",
        "POST",
        "/login",
        401,
        401,
        401,
        401,
        data={"username": "pi", "password": "wrong"},
    ),
    route("auth.logout", "POST", "/logout", LOGIN, "/login", "/login", "/login"),
    # Anyone may choose the interface language: before logging in it is kept in the session.
    route("auth.set_language", "POST", "/language", "/", "/", "/", "/", data={"locale": "en"}),
    route("documents.index", "GET", "/documents/", *ADMIN),
    route("documents.upload", "GET", "/documents/upload", *ADMIN),
    # No file chosen: the PI gets the form back with the error.
    route("documents.upload", "POST", "/documents/upload", LOGIN, 403, 403, 422),
    # The PI's view of a document shows every coder's labels: never to a coder, assigned or not.
    route("documents.show", "GET", "/documents/{shared}", *ADMIN),
    route("documents.file", "GET", "/documents/{shared}/file", LOGIN, 200, 404, 200),
    route("coding.queue", "GET", "/code/", LOGIN, 200, 200, 200),
    route("coding.next_uncoded", "GET", "/code/next", LOGIN, "/code/{shared}", "/code/", "/code/"),
    # The PI codes nothing, so has no coding page: 404 like any coder without the assignment.
    route("coding.code", "GET", "/code/{shared}", LOGIN, 200, 404, 404),
    route(
        "coding.code",
        "POST",
        "/code/{shared}",
        LOGIN,
        "/code/{shared}",
        404,
        404,
        data={"v_city": "alice's city", "action": "save", "revision": "0"},
    ),
    # A fresh CSRF token for a page kept open across a new login: only for a logged-in person.
    route("coding.csrf_token_json", "GET", "/code/csrf-token.json", 401, 200, 200, 200),
    route(
        "coding.save_json",
        "POST",
        "/code/{shared}/labels.json",
        401,  # a script's request: 401 JSON, not a redirect to the login page
        200,
        404,
        404,
        data={"values": {"city": "alice's city"}},
        json=True,
    ),
    route(
        "coding.add_evidence_json",
        "POST",
        "/code/{shared}/evidence.json",
        401,
        200,
        404,
        404,
        data={"variable": "province", "page": 1, "quote": "福建省公安厅"},
        json=True,
    ),
    # An empty evidence form goes back to the coding page with a message.
    route(
        "coding.add_evidence", "POST", "/code/{shared}/evidence", LOGIN, "/code/{shared}", 404, 404
    ),
    # Bob's quote: alice, on the same document, has no label set holding it.
    route(
        "coding.remove_evidence",
        "POST",
        "/code/{shared}/evidence/{evidence}/delete",
        LOGIN,
        404,
        404,
        404,
    ),
    route("coding.reopen", "POST", "/code/{shared}/reopen", LOGIN, 404, 404, 404),
    route("admin.overview", "GET", "/admin/", *ADMIN),
    route("admin.codebooks", "GET", "/admin/codebooks", *ADMIN),
    route("admin.codebooks", "POST", "/admin/codebooks", LOGIN, 403, 403, 422),
    route("admin.users", "GET", "/admin/users", *ADMIN),
    route("admin.users", "POST", "/admin/users", LOGIN, 403, 403, 422),
    route("admin.assignments", "GET", "/admin/assignments", *ADMIN),
    route("admin.assign_rule", "POST", "/admin/assignments/rule", LOGIN, 403, 403, 422),
    route("admin.assign_manual", "POST", "/admin/assignments/manual", LOGIN, 403, 403, 422),
    # Every coder's values side by side: the PI's alone, so that coders stay blind.
    route("reliability.dashboard", "GET", "/reliability/", *ADMIN),
    route(
        "reliability.disagreements",
        "GET",
        "/reliability/disagreements?variable=document_kind",
        *ADMIN,
    ),
    route("reliability.report_html", "GET", "/reliability/report.html", *ADMIN),
    route("reliability.report_csv", "GET", "/reliability/report.csv", *ADMIN),
    # The analysis tabulates final or any coder's values: the PI's alone.
    route("analysis.index", "GET", "/analysis/?source=alice", *ADMIN),
    route("analysis.table_csv", "GET", "/analysis/table.csv?source=alice", *ADMIN),
    route("exports.index", "GET", "/exports/", *ADMIN),
    route("exports.download", "GET", "/exports/download?format=codebook-json", *ADMIN),
    # Adjudication shows every coder's values: the PI's, and adjudicators' who did not code
    # the document (tests/test_adjudication.py); alice and carol lack the right here.
    route("adjudication.index", "GET", "/adjudicate/", *ADMIN),
    route("adjudication.document", "GET", "/adjudicate/{shared}", *ADMIN),
    # No choice made: the PI gets the page back with the error.
    route(
        "adjudication.set_value",
        "POST",
        "/adjudicate/{shared}/final",
        LOGIN,
        403,
        403,
        422,
        data={"variable": "year"},
    ),
    route(
        "adjudication.accept_agreed",
        "POST",
        "/adjudicate/{shared}/accept-agreed",
        LOGIN,
        403,
        403,
        "/adjudicate/{shared}",
    ),
    # Giving a coder the adjudicator right, on the People page: the PI's alone.
    route(
        "admin.adjudicator",
        "POST",
        "/admin/users/adjudicator",
        LOGIN,
        403,
        403,
        "/admin/users",
        data={"username": "carol", "allowed": "1"},
    ),
]

# What bob codes on the shared document: values no page of alice's may show.
BOB_VALUES = {
    "service_type": ["emergency_alarm"],
    "service_count": 4711,
    "integration_depth": "deep_data",
    "data_collected": ["geolocation"],
    "document_kind": "tender",
    "province": "fujian",
    "admin_level": "provincial",
    "year": 2019,
    "procurement_value_cny": 98765432,
    "city": "BOB-CITY-鲍勃市",
    "vendor": "BOB-VENDOR-Acme",
    "vendor_is_tencent": True,
    "account_name": "BOB-ACCOUNT-平安",
}
BOB_NOTE = "BOB-NOTE: unsure between operational and deep_data"
BOB_QUOTE = "预算金额：人民币壹仟贰佰捌拾万元整"
BOB_MARKERS = ["BOB-", "鲍勃", "4711", "98765432", "unsure between"]


def bob_codes_the_shared_document(project: Project) -> int:
    """Bob saves values, a note and a quote on the shared document and submits; his quote's id.

    Through the services rather than his pages: it runs before every test of the matrix.
    test_bobs_coding_through_his_pages_is_the_same checks that his pages store the same.
    """
    bob = db.session.get(User, project.users["bob"])
    document = db.session.get(Document, project.document_ids[SHARED])
    version = db.session.get(Codebook, project.codebook_id).latest
    label_set = label_service.label_set_for(db.session, document, bob, version, create=True)
    assert label_set is not None
    label_service.save_labels(db.session, label_set, bob, BOB_VALUES, note=BOB_NOTE)
    evidence = label_service.add_evidence(
        db.session, label_set, bob, variable="procurement_value_cny", page=1, quote=BOB_QUOTE
    )
    label_service.save_labels(db.session, label_set, bob, {}, submit=True)
    db.session.commit()
    return evidence.id


def route_names(project: Project) -> dict[str, int]:
    """The values of the routes' placeholders, once bob has coded the shared document."""
    return {
        "shared": project.document_ids[SHARED],
        "evidence": bob_codes_the_shared_document(project),
    }


def bob_codes_through_his_pages(auth: AuthActions, project: Project) -> int:
    """The same as bob_codes_the_shared_document, through the coding page and JSON endpoint."""
    shared = project.document_ids[SHARED]
    auth.login("bob")
    saved = auth.post_json(
        f"/code/{shared}/labels.json", {"values": BOB_VALUES, "note": BOB_NOTE, "revision": 0}
    )
    assert saved.status_code == 200, saved.get_json()
    added = auth.post(
        f"/code/{shared}/evidence",
        {
            "evidence-variable": "procurement_value_cny",
            "evidence-page": "1",
            "evidence-quote": BOB_QUOTE,
        },
    )
    assert added.status_code == 302
    submitted = auth.post_json(f"/code/{shared}/labels.json", {"submit": True})
    assert submitted.get_json()["status"] == "submitted"
    auth.logout()
    evidence = db.session.scalar(db.select(Evidence).where(Evidence.quote == BOB_QUOTE))
    assert evidence is not None
    return evidence.id


def bobs_label_set(project: Project) -> LabelSet:
    """Bob's label set on the shared document, as stored now."""
    db.session.expire_all()
    label_set = db.session.scalar(
        db.select(LabelSet).where(LabelSet.coder_id == project.users["bob"])
    )
    assert label_set is not None
    return label_set


def test_bobs_coding_through_his_pages_is_the_same(auth: AuthActions, project: Project) -> None:
    bob_codes_through_his_pages(auth, project)
    bob = bobs_label_set(project)
    assert (bob.values(), bob.note, bob.status) == (BOB_VALUES, BOB_NOTE, LabelStatus.SUBMITTED)
    assert [(e.variable, e.page, e.quote) for e in bob.evidence] == [
        ("procurement_value_cny", 1, BOB_QUOTE)
    ]


def test_table_covers_every_route(app: Flask) -> None:
    in_app = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    in_table = {(r.endpoint, r.method) for r in ROUTES}
    assert in_app - in_table == set(), "add these routes to ROUTES with each role's expectation"
    assert in_table - in_app == set(), "these routes are gone from the app"


def send(client: FlaskClient, entry: Route, url: str, *, token: str | None) -> Any:
    """Send the route's request as a browser (or the page's script) would."""
    if entry.method == "GET":
        return client.get(url)
    if entry.json:
        headers = {"X-CSRFToken": token} if token else {}
        return client.post(url, json=entry.data, headers=headers)
    data = {**entry.data, **({"csrf_token": token} if token else {})}
    return client.post(url, data=data)


def check(response: Any, expected: int | str, url: str) -> None:
    """Whether a response is what the table expects."""
    if expected == LOGIN:
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith("/login?next=")
    elif isinstance(expected, str):
        assert response.status_code == 302
        assert response.headers["Location"] == expected
    else:
        assert response.status_code == expected, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize(
    ("entry", "role"), list(itertools.product(ROUTES, ROLES)), ids=lambda value: str(value)
)
def test_permissions(
    client: FlaskClient, auth: AuthActions, project: Project, entry: Route, role: str
) -> None:
    names = route_names(project)
    url = entry.url.format(**names)
    expected = entry.expect[role]
    expected = expected.format(**names) if isinstance(expected, str) else expected
    if role != "anonymous":
        assert auth.login(role).status_code == 302
    elif entry.method == "POST":
        # Without a token, refused before anything else is looked at.
        assert send(client, entry, url, token=None).status_code == 400
    check(send(client, entry, url, token=csrf_token(client)), expected, url)
    # Whatever anyone did, bob's submitted labels and his quote are untouched.
    bob = bobs_label_set(project)
    assert bob.status is LabelStatus.SUBMITTED
    assert bob.values() == BOB_VALUES
    assert [e.quote for e in bob.evidence] == [BOB_QUOTE]


# --- blind coding -------------------------------------------------------------------------


def assert_nothing_of_bobs(body: str, where: str) -> None:
    """No value, note or evidence entry of bob's in a response body."""
    for marker in BOB_MARKERS:
        assert marker not in body, f"{where} shows bob's {marker!r}"
    # The quote is text of the document, which alice reads too; as evidence it is listed
    # in quotation marks.
    assert f"“{BOB_QUOTE}”" not in body, f"{where} lists bob's evidence"
    assert 'class="evidence"' not in body, f"{where} lists evidence"


def test_alice_never_sees_bobs_labels(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    shared = project.document_ids[SHARED]
    bob_codes_the_shared_document(project)
    auth.login("alice")
    bodies: dict[str, str] = {}
    for url in ["/", "/code/", f"/code/{shared}", f"/documents/{shared}/file"]:
        response = client.get(url, follow_redirects=True)
        assert response.status_code == 200, url
        # The file is a PDF: decoded loosely, only to look for bob's text in it.
        bodies[url] = response.get_data().decode("utf-8", "replace")
    # Nothing of bob's is pre-filled: alice starts from an empty form, with bob's submission
    # invisible in her queue and next-uncoded link.
    assert not re.search(r"<input[^>]*\schecked", bodies[f"/code/{shared}"])
    assert bodies["/code/"].count('class="status-new"') == 2
    assert "status-submitted" not in bodies["/code/"]
    assert client.get("/code/next").headers["Location"] == f"/code/{shared}"

    json_url = f"/code/{shared}/labels.json"
    responses = {
        "JSON save": auth.post_json(json_url, {"values": {"city": "福州"}, "revision": 0}),
        "JSON stale": auth.post_json(json_url, {"values": {"city": "x"}, "revision": 0}),
        "JSON invalid": auth.post_json(json_url, {"values": {"year": 1990}}),
        "JSON submit incomplete": auth.post_json(json_url, {"submit": True}),
        "form stale": auth.post(
            f"/code/{shared}", {"v_city": "y", "revision": "0", "action": "save"}
        ),
        "form submit incomplete": auth.post(
            f"/code/{shared}", {"revision": "1", "action": "submit"}
        ),
    }
    assert [r.status_code for r in responses.values()] == [200, 409, 422, 422, 409, 422]
    # Her own values come back, and only hers.
    assert responses["JSON save"].get_json()["values"] == {"city": "福州"}
    assert responses["JSON stale"].get_json()["values"] == {"city": "福州"}
    for name, response in responses.items():
        bodies[name] = response.get_data(as_text=True)
    for where, body in bodies.items():
        assert_nothing_of_bobs(body, where)


def test_alice_cannot_change_bobs_evidence_or_status(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    shared = project.document_ids[SHARED]
    evidence = bob_codes_the_shared_document(project)
    auth.login("alice")
    assert (
        auth.post_json(f"/code/{shared}/labels.json", {"values": {"city": "福州"}}).status_code
        == 200
    )
    # Now alice has a label set on the document: bob's quote is still not hers to remove,
    # and the refusal does not say whose it is.
    response = auth.post(f"/code/{shared}/evidence/{evidence}/delete", follow_redirects=True)
    assert response.status_code == 200
    assert_nothing_of_bobs(response.get_data(as_text=True), "refusal")
    assert auth.post(f"/code/{shared}/reopen").status_code == 302
    bob = bobs_label_set(project)
    assert [e.id for e in bob.evidence] == [evidence]
    assert bob.status is LabelStatus.SUBMITTED


@pytest.mark.parametrize(
    ("coder", "document"),
    [
        ("carol", SHARED),
        ("alice", "report.html"),  # bob's alone
        ("bob", "en_two_pages.pdf"),  # alice's alone
        ("alice", "notes.md"),  # nobody's
    ],
)
@pytest.mark.parametrize("page", ["/code/{id}", "/documents/{id}/file"])
def test_unassigned_document_looks_like_no_document(
    client: FlaskClient, auth: AuthActions, project: Project, coder: str, document: str, page: str
) -> None:
    # 404, the same answer as for a document that does not exist: not 403, which would
    # confirm that it does.
    auth.login(coder)
    unassigned = client.get(page.format(id=project.document_ids[document]))
    missing = client.get(page.format(id=999_999))
    assert unassigned.status_code == missing.status_code == 404
    assert unassigned.get_data() == missing.get_data()


@pytest.mark.parametrize(
    ("coder", "document", "expected"),
    [
        ("carol", SHARED, 200),  # bob submitted it; carol codes it not
        ("carol", "report.html", 404),  # bob's, not submitted: nothing to adjudicate
        ("carol", "notes.md", 404),  # nobody's
        ("alice", "report.html", 404),
    ],
)
@pytest.mark.parametrize("page", ["/documents/{id}/file", "/code/{id}", "/documents/{id}"])
def test_the_adjudicator_right_opens_only_documents_to_adjudicate(
    client: FlaskClient,
    auth: AuthActions,
    project: Project,
    coder: str,
    document: str,
    expected: int,
    page: str,
) -> None:
    # The right opens the stored file, for the adjudication page's viewer, and nothing else:
    # never the coding page, nor the PI's document page.
    bob_codes_the_shared_document(project)
    person = db.session.get(User, project.users[coder])
    assert person is not None
    person.can_adjudicate = True
    db.session.commit()
    auth.login(coder)
    status = client.get(page.format(id=project.document_ids[document])).status_code
    if page == "/documents/{id}/file":
        assert status == expected
    elif page == "/code/{id}":
        assert status == 404
    else:
        assert status == 403


def test_pi_sees_both_coders_label_sets(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    shared = project.document_ids[SHARED]
    bob_codes_the_shared_document(project)
    auth.login("alice")
    auth.post_json(
        f"/code/{shared}/labels.json",
        {"values": {"city": "ALICE-CITY", "integration_depth": "symbolic"}, "note": "ALICE-NOTE"},
    )
    auth.logout()
    auth.login("pi")
    body = client.get(f"/documents/{shared}").get_data(as_text=True)
    for text in ["ALICE-CITY", "ALICE-NOTE", "symbolic", "in progress"]:
        assert text in body
    for text in [BOB_NOTE, "BOB-CITY-鲍勃市", "deep_data", "4711", f"“{BOB_QUOTE}”", "submitted"]:
        assert text in body
    assert body.count('<section class="card">') == 2


# --- an adjudicator, and blindness on every page -------------------------------------------

# What carol gets with the adjudicator right (she codes nothing; bob submitted the shared
# document): the adjudication pages and the shared document's file, nothing else of the
# PI's. Every route not named here answers her as it answers carol without the right.
ADJUDICATOR = {
    ("documents.file", "GET"): 200,
    ("adjudication.index", "GET"): 200,
    ("adjudication.document", "GET"): 200,
    ("adjudication.set_value", "POST"): 422,  # no choice made, as for the PI
    ("adjudication.accept_agreed", "POST"): "/adjudicate/{shared}",
}


def test_adjudicator_table_names_only_routes_of_the_app() -> None:
    assert set(ADJUDICATOR) <= {(r.endpoint, r.method) for r in ROUTES}


@pytest.mark.parametrize("entry", ROUTES, ids=str)
def test_permissions_of_an_adjudicator(
    client: FlaskClient, auth: AuthActions, project: Project, entry: Route
) -> None:
    names = route_names(project)
    carol = db.session.get(User, project.users["carol"])
    assert carol is not None
    carol.can_adjudicate = True
    db.session.commit()
    expected = ADJUDICATOR.get((entry.endpoint, entry.method), entry.expect["carol"])
    expected = expected.format(**names) if isinstance(expected, str) else expected
    assert auth.login("carol").status_code == 302
    url = entry.url.format(**names)
    check(send(client, entry, url, token=csrf_token(client)), expected, url)
    bob = bobs_label_set(project)
    assert bob.status is LabelStatus.SUBMITTED
    assert bob.values() == BOB_VALUES
    assert [e.quote for e in bob.evidence] == [BOB_QUOTE]


@pytest.mark.parametrize("submitted", [True, False], ids=["submitted", "draft"])
@pytest.mark.parametrize("coder", ["alice", "carol"])
def test_no_get_route_shows_a_coder_anothers_labels(
    client: FlaskClient, auth: AuthActions, project: Project, coder: str, submitted: bool
) -> None:
    # Every GET route of the table, pages, JSON and downloads alike, with bob's labels
    # submitted or still a draft: nothing of his reaches alice (who codes the same
    # document) or carol (who codes nothing).
    names = route_names(project)
    if not submitted:
        label_set = bobs_label_set(project)
        bob = db.session.get(User, project.users["bob"])
        label_service.reopen(db.session, label_set, bob)
        db.session.commit()
    auth.login(coder)
    checked = 0
    for entry in ROUTES:
        if entry.method != "GET" or entry.endpoint == "static":
            continue
        url = entry.url.format(**names)
        response = client.get(url, follow_redirects=True)
        body = response.get_data().decode("utf-8", "replace")
        if "/login" in response.request.path:
            continue  # logged out by the route (none of the GET routes does)
        assert_nothing_of_bobs(body, f"{coder}: GET {url}")
        checked += 1
    assert checked >= 20
