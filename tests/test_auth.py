"""Logging in and out, CSRF, session cookies and the security headers every page carries."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from annotator import models
from annotator.extensions import db
from annotator.models import LabelSet, Role, User
from annotator.services.users import add_user

from .conftest import PASSWORD, AuthActions, Project, csrf_token

TEMPLATES = Path(__file__).resolve().parent.parent / "annotator" / "templates"
WRONG_LOGIN = "Wrong user name or password."
SHARED = "zh_cid_font.pdf"


@pytest.fixture
def people(app: Flask) -> dict[str, int]:
    """A PI and two coders, without documents: enough for logging in and out, and cheaper."""
    roles = {"pi": Role.PI, "alice": Role.CODER, "carol": Role.CODER}
    users = {name: add_user(db.session, name, role, PASSWORD).id for name, role in roles.items()}
    db.session.commit()
    return users


def logged_in(client: FlaskClient) -> bool:
    """Whether the client's session is logged in (an admin or coder page, not the login)."""
    response = client.get("/code/")
    return response.status_code == 200


# --- logging in ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "landing"), [("pi", "/admin/"), ("alice", "/code/"), ("carol", "/code/")]
)
def test_login_lands_on_the_role_home(
    client: FlaskClient, auth: AuthActions, people: dict[str, int], username: str, landing: str
) -> None:
    response = auth.login(username)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == landing


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong password"),
        ("alice", PASSWORD.upper()),
        ("nobody", PASSWORD),  # the same answer as a wrong password: no user enumeration
        ("alice ", PASSWORD),
        ("ALICE", PASSWORD),
    ],
)
def test_login_failure_is_401_with_a_message(
    client: FlaskClient, auth: AuthActions, people: dict[str, int], username: str, password: str
) -> None:
    response = auth.login(username, password)
    assert response.status_code == 401
    assert WRONG_LOGIN in response.get_data(as_text=True)
    assert not logged_in(client)


def test_inactive_user_is_refused(
    client: FlaskClient, auth: AuthActions, people: dict[str, int]
) -> None:
    db.session.get(User, people["alice"]).active = False
    db.session.commit()
    response = auth.login("alice")
    assert response.status_code == 401
    assert WRONG_LOGIN in response.get_data(as_text=True)
    assert not logged_in(client)


def test_deactivation_ends_an_open_session(
    client: FlaskClient, auth: AuthActions, people: dict[str, int]
) -> None:
    auth.login("alice")
    assert logged_in(client)
    db.session.get(User, people["alice"]).active = False
    db.session.commit()
    response = client.get("/code/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_passwords_are_hashed(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real hashing, not the fixture's cheap one
    user = add_user(db.session, "dave", Role.CODER, PASSWORD)
    db.session.commit()
    stored = db.session.get(User, user.id).password_hash
    assert PASSWORD not in stored
    assert stored.startswith(("scrypt:", "pbkdf2:"))
    assert user.check_password(PASSWORD)
    assert not user.check_password(PASSWORD + "x")
    # Salted: the same password never gives the same hash twice.
    other = add_user(db.session, "erin", Role.CODER, PASSWORD)
    assert other.password_hash != stored


# --- where a login leads ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        ("/code/", "/code/"),
        ("/admin/users?page=2", "/admin/users?page=2"),
        # Anything that could leave the site goes to the index instead.
        ("//evil.example", "/"),
        ("///evil.example", "/"),
        ("https://evil.example", "/"),
        ("http://evil.example/code/", "/"),
        ("https:evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("/\\evil.example", "/"),  # browsers read "\" as "/"
        ("\\\\evil.example", "/"),
        ("/\t/evil.example", "/"),  # browsers drop tabs and newlines from URLs
        ("/\n/evil.example", "/"),
        (" //evil.example", "/"),
        ("", "/"),
    ],
)
def test_next_only_leads_to_local_paths(
    client: FlaskClient, people: dict[str, int], next_url: str, location: str
) -> None:
    response = client.post(
        "/login",
        query_string={"next": next_url},
        data={"username": "pi", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == location


def test_login_page_keeps_next_from_the_redirect(
    client: FlaskClient, people: dict[str, int]
) -> None:
    to_login = client.get("/admin/users")
    assert to_login.status_code == 302
    assert to_login.headers["Location"] == "/login?next=%2Fadmin%2Fusers"
    response = client.post(
        to_login.headers["Location"],
        data={"username": "pi", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.headers["Location"] == "/admin/users"


# --- logging out --------------------------------------------------------------------------


def test_logout_is_post_only(
    client: FlaskClient, auth: AuthActions, people: dict[str, int]
) -> None:
    auth.login("alice")
    assert client.get("/logout").status_code == 405
    assert logged_in(client)


def test_logout_needs_the_csrf_token(
    client: FlaskClient, auth: AuthActions, people: dict[str, int]
) -> None:
    auth.login("alice")
    # A link or form on another site cannot log a coder out.
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert logged_in(client)
    response = auth.logout()
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert not logged_in(client)


# --- CSRF ---------------------------------------------------------------------------------

# Every form a browser posts, with the person allowed to post it. {shared} is the document
# alice and bob both code; {evidence} a quote alice attached to it.
FORM_POSTS = [
    ("/login", None),
    ("/logout", "alice"),
    ("/language", None),
    ("/documents/upload", "pi"),
    ("/code/{shared}", "alice"),
    ("/code/{shared}/labels.json", "alice"),
    ("/code/{shared}/evidence", "alice"),
    ("/code/{shared}/evidence.json", "alice"),
    ("/code/{shared}/evidence/{evidence}/delete", "alice"),
    ("/code/{shared}/reopen", "alice"),
    ("/admin/codebooks", "pi"),
    ("/admin/users", "pi"),
    ("/admin/assignments/rule", "pi"),
    ("/admin/assignments/manual", "pi"),
    ("/adjudicate/{shared}/final", "pi"),
    ("/adjudicate/{shared}/accept-agreed", "pi"),
    ("/admin/users/adjudicator", "pi"),
]


def test_csrf_table_covers_every_post_route(app: Flask) -> None:
    posts = {
        re.sub(r"<(?:int:)?(\w+)>", "{\\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ())
    }
    table = {
        url.replace("{shared}", "{document_id}").replace("{evidence}", "{evidence_id}")
        for url, _ in FORM_POSTS
    }
    assert posts == table


def alice_evidence(auth: AuthActions, project: Project) -> int:
    """Alice's quote on the shared document, so the delete route has something to delete."""
    document_id = project.document_ids[SHARED]
    auth.login("alice")
    response = auth.post(
        f"/code/{document_id}/evidence",
        {"evidence-variable": "province", "evidence-page": "1", "evidence-quote": "福建省公安厅"},
    )
    assert response.status_code == 302
    label_set = db.session.scalar(
        db.select(LabelSet).where(LabelSet.coder_id == project.users["alice"])
    )
    assert label_set is not None and len(label_set.evidence) == 1
    return label_set.evidence[0].id


@pytest.mark.parametrize(("url", "who"), FORM_POSTS)
def test_every_form_post_without_a_valid_token_is_400(
    client: FlaskClient, auth: AuthActions, project: Project, url: str, who: str | None
) -> None:
    evidence = alice_evidence(auth, project)
    auth.logout()
    if who:
        auth.login(who)
    else:
        client.get("/login")  # a session, as a visitor who opened the page has
    url = url.format(shared=project.document_ids[SHARED], evidence=evidence)
    before = db.session.scalar(db.select(db.func.count()).select_from(models.LabelEvent))
    data = {"username": "pi", "password": PASSWORD, "v_city": "forged", "action": "save"}
    for token in ({}, {"csrf_token": "forged-token"}):
        response = client.post(url, data={**data, **token})
        assert response.status_code == 400
        assert "CSRF" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(models.LabelEvent)) == before
    # Still logged in as before (the refused /logout did not log out; /login did not log in).
    expected = {None: "/login", "alice": "/code/", "pi": "/admin/"}[who]
    assert client.get("/").headers["Location"] == expected


def test_token_of_another_session_is_400(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    auth.login("alice")
    other = client.application.test_client()
    token = csrf_token(other)
    assert token != csrf_token(client)
    url = f"/code/{project.document_ids[SHARED]}"
    response = client.post(url, data={"v_city": "forged", "action": "save", "csrf_token": token})
    assert response.status_code == 400
    assert db.session.scalar(db.select(LabelSet)) is None


def test_json_endpoint_needs_the_csrf_header(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    auth.login("alice")
    url = f"/code/{project.document_ids[SHARED]}/labels.json"
    payload = {"values": {"city": "福州"}}
    assert client.post(url, json=payload).status_code == 400
    assert client.post(url, json=payload, headers={"X-CSRFToken": "forged"}).status_code == 400
    assert db.session.scalar(db.select(LabelSet)) is None
    response = auth.post_json(url, payload)
    assert response.status_code == 200
    assert response.get_json()["values"] == {"city": "福州"}


# --- cookies and headers ------------------------------------------------------------------


def test_session_cookie_is_httponly_and_samesite_lax(
    auth: AuthActions, people: dict[str, int]
) -> None:
    response = auth.login("alice")
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1
    attributes = {part.strip().lower() for part in cookies[0].split(";")[1:]}
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: sources}."""
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} given twice"
        parsed[name] = sources
    return parsed


def page_urls(project: Project) -> dict[str | None, list[str]]:
    """Every page each kind of visitor can open, including error pages and redirects."""
    shared = project.document_ids[SHARED]
    return {
        None: ["/login", "/", "/admin/", "/no-such-page"],
        "alice": [
            "/code/",
            f"/code/{shared}",
            "/code/next",
            f"/code/{project.document_ids['report.html']}",  # 404: bob's
            "/admin/",  # 403
            "/reliability/",  # 403
            "/adjudicate/",  # 403
            "/analysis/",  # 403
            "/exports/",  # 403
        ],
        "pi": [
            "/admin/",
            "/admin/codebooks",
            "/admin/users",
            "/admin/assignments",
            "/documents/",
            "/documents/upload",
            *(f"/documents/{document_id}" for document_id in project.document_ids.values()),
            "/code/",
            "/reliability/",
            "/reliability/?coder=alice&province=none&submitted_from=2000-01-01",
            "/reliability/disagreements",
            "/reliability/report.html",
            "/adjudicate/",
            f"/adjudicate/{shared}",
            "/analysis/?source=alice&variable=document_kind",
            "/analysis/?source=alice&variable=integration_depth&by=field:province",
            "/exports/",
        ],
    }


def rendered_pages(client: FlaskClient, auth: AuthActions, project: Project) -> list[tuple]:
    """(url, response) for every page in page_urls, with labels, evidence and notes on them."""
    alice_evidence(auth, project)
    auth.post_json(
        f"/code/{project.document_ids[SHARED]}/labels.json",
        {"values": {"city": "福州"}, "note": 'a note <script>alert(1)</script> style="x"'},
    )
    auth.logout()
    pages = []
    for who, urls in page_urls(project).items():
        if who:
            auth.login(who)
        pages.extend((url, client.get(url)) for url in urls)
        if who:
            auth.logout()
    return pages


def test_security_headers_on_every_page(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    for url, response in rendered_pages(client, auth, project):
        policy = directives(response.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'self'"], url
        # WebAssembly only (pdf.js's image decoders), never eval of JavaScript.
        assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'"], url
        assert policy["style-src"] == ["'self'"], url
        assert policy["object-src"] == ["'none'"], url
        assert policy["frame-ancestors"] == ["'none'"], url
        sources = [source for values in policy.values() for source in values]
        assert not [s for s in sources if "unsafe" in s and s != "'wasm-unsafe-eval'"], url
        # Nothing from another origin: only keywords and local schemes, no hosts, no wildcard.
        assert set(sources) <= {"'self'", "'none'", "'wasm-unsafe-eval'", "data:", "blob:"}, url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["X-Frame-Options"] == "DENY", url


class ScriptAndStyleFinder(HTMLParser):
    """Collect inline <script> elements and style attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.inline.append(f"<script> without src: {attrs}")
        if "style" in names:
            self.inline.append(f"style= on <{tag}>")
        if any(name.startswith("on") for name in names):
            self.inline.append(f"event handler on <{tag}>: {attrs}")


def test_pages_have_no_inline_script_or_style(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    for url, response in rendered_pages(client, auth, project):
        html = response.get_data(as_text=True)
        finder = ScriptAndStyleFinder()
        finder.feed(html)
        assert finder.inline == [], url
        # The plain-text scan as well, in case the parser and a browser disagree.
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html, re.IGNORECASE), url
        assert not re.search(r"""\sstyle\s*=\s*["']""", html), url


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_inline_script_or_style(template: Path) -> None:
    # A backstop for templates or branches the rendered pages above do not reach.
    source = template.read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", source, re.IGNORECASE)
    assert not re.search(r"\sstyle=", source)
    assert not re.search(r"\son[a-z]+=", source)


def test_unknown_user_costs_a_password_check(
    client: FlaskClient, auth: AuthActions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a hash check for unknown names, the faster answer would tell which names exist.
    from annotator import auth as auth_module

    checked: list[str] = []
    real = auth_module.check_password_hash
    monkeypatch.setattr(
        auth_module, "check_password_hash", lambda h, p: checked.append(p) or real(h, p)
    )
    response = auth.login("no-such-person", "guess-1234")
    assert response.status_code == 401
    assert checked == ["guess-1234"]
