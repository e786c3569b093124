"""The login rate limit, session expiry, cookie flags, security headers and unsafe settings."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from annotator import auth as auth_module
from annotator import config as configuration
from annotator import security
from annotator.extensions import db
from annotator.models import LabelSet, LoginAttempt, Role
from annotator.services import login_limits
from annotator.services.users import add_user

from .conftest import CSRF_INPUT, PASSWORD, AuthActions, Project, csrf_token, make_app

SHARED = "zh_cid_font.pdf"


@pytest.fixture
def people(app: Flask) -> dict[str, int]:
    """A PI and two coders, with a small rate limit (3 per name, 5 per address)."""
    app.config.update(LOGIN_LIMIT_PER_NAME=3, LOGIN_LIMIT_PER_ADDRESS=5)
    roles = {"pi": Role.PI, "alice": Role.CODER, "carol": Role.CODER}
    users = {name: add_user(db.session, name, role, PASSWORD).id for name, role in roles.items()}
    db.session.commit()
    return users


def login(client: FlaskClient, username: str, password: str, address: str = "10.0.0.1") -> Any:
    """POST the login form from an address."""
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": address},
    )


# --- the login rate limit -----------------------------------------------------------------


def test_too_many_failures_for_a_name_answer_429_even_with_the_right_password(
    client: FlaskClient, people: dict[str, int]
) -> None:
    for _ in range(3):
        assert login(client, "alice", "guess").status_code == 401
    # From other addresses too: the name is what is being guessed.
    refused = login(client, "alice", PASSWORD, address="10.9.9.9")
    assert refused.status_code == 429
    body = refused.get_data(as_text=True)
    assert "Too many failed logins. Try again in 15 minutes." in body
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert client.get("/code/").status_code == 302  # not logged in
    # The name is counted however it is typed; other people are not affected.
    assert login(client, " ALICE ", PASSWORD, address="10.9.9.8").status_code == 429
    assert login(client, "carol", PASSWORD, address="10.9.9.7").status_code == 302


def test_too_many_failures_from_an_address_answer_429_for_every_name(
    client: FlaskClient, people: dict[str, int]
) -> None:
    for name in ["a", "b", "c", "d", "e"]:  # unknown names count like real ones
        assert login(client, name, "guess", address="10.0.0.66").status_code == 401
    assert login(client, "carol", PASSWORD, address="10.0.0.66").status_code == 429
    assert login(client, "carol", PASSWORD, address="10.0.0.67").status_code == 302


def test_a_successful_login_clears_the_names_failures(
    client: FlaskClient, auth: AuthActions, people: dict[str, int]
) -> None:
    for _ in range(2):
        assert login(client, "alice", "guess").status_code == 401
    assert login_limits.failures(db.session, "alice") == 2
    assert login(client, "alice", PASSWORD).status_code == 302
    assert login_limits.failures(db.session, "alice") == 0
    auth.logout()
    for _ in range(2):
        assert login(client, "alice", "guess").status_code == 401
    assert login(client, "alice", PASSWORD).status_code == 302


def test_refused_attempts_are_not_counted_and_the_window_slides(
    app: Flask, client: FlaskClient, people: dict[str, int]
) -> None:
    for _ in range(3):
        login(client, "alice", "guess")
    for _ in range(5):
        assert login(client, "alice", "guess").status_code == 429
    assert login_limits.failures(db.session, "alice") == 3
    # Once the failures are older than the window, the name may try again.
    for attempt in db.session.scalars(db.select(LoginAttempt)):
        attempt.at = attempt.at.replace(year=2000)
    db.session.commit()
    assert login(client, "alice", PASSWORD).status_code == 302


def test_retry_after_counts_from_the_oldest_failure_in_the_window(app: Flask) -> None:
    from datetime import UTC, datetime, timedelta

    limits = login_limits.LoginLimits(per_name=2, per_address=100, window=timedelta(minutes=10))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    login_limits.record_failure(db.session, "x", "1.1.1.1", limits, now=start)
    assert login_limits.retry_after(db.session, "x", "1.1.1.1", limits, now=start) is None
    later = start + timedelta(minutes=4)
    login_limits.record_failure(db.session, "x", "1.1.1.1", limits, now=later)
    assert login_limits.retry_after(db.session, "x", "2.2.2.2", limits, now=later) == 6 * 60
    assert login_limits.retry_after(db.session, "x", "2.2.2.2", limits, now=start + timedelta(minutes=10, seconds=1)) is None  # fmt: skip


# --- session expiry -----------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A clock the test moves: ``clock[0]`` is the time the app sees."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(auth_module, "clock", lambda: now[0])
    return now


@pytest.mark.parametrize(
    ("steps", "expired"),
    [
        ([239 * 60], False),  # idle just under the default 240 minutes
        ([241 * 60], True),
        # Active every 3 hours: never idle, but past the 24-hour lifetime at last.
        ([3 * 3600] * 7, False),
        ([3 * 3600] * 9, True),
    ],
)
def test_sessions_expire_when_idle_or_too_old(
    client: FlaskClient,
    auth: AuthActions,
    project: Project,
    clock: list[float],
    steps: list[int],
    expired: bool,
) -> None:
    assert auth.login("alice").status_code == 302
    shared = project.document_ids[SHARED]
    for step in steps[:-1]:
        clock[0] += step
        assert client.get("/code/").status_code == 200
    token = csrf_token(client)
    clock[0] += steps[-1]
    json_url = f"/code/{shared}/labels.json"
    if not expired:
        assert client.get("/code/").status_code == 200
        return
    page = client.get(f"/code/{shared}")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=")
    assert "Your session has expired" in client.get("/login").get_data(as_text=True)
    # Logged out for good, not only for one request.
    assert client.get("/code/").status_code == 302
    response = client.post(json_url, json={"values": {"city": "x"}}, headers={"X-CSRFToken": token})
    assert response.status_code in (400, 401)  # the logout took the CSRF secret too


def test_an_expired_sessions_script_gets_401_json(
    client: FlaskClient, auth: AuthActions, project: Project, clock: list[float]
) -> None:
    # The coding page's autosave keeps its draft on a 401 and offers to log in again.
    auth.login("alice")
    token = csrf_token(client)
    clock[0] += 241 * 60
    response = client.post(
        f"/code/{project.document_ids[SHARED]}/labels.json",
        json={"values": {"city": "x"}},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 401
    assert response.get_json() == {"error": "login required", "reason": "session expired"}
    assert db.session.scalar(db.select(db.func.count()).select_from(LabelSet)) == 0


def test_a_session_without_login_times_is_expired(
    client: FlaskClient, auth: AuthActions, people: dict[str, int]
) -> None:
    auth.login("alice")
    assert client.get("/code/").status_code == 200
    with client.session_transaction() as session:
        del session[auth_module.SESSION_LOGGED_IN_AT]
    assert client.get("/code/").status_code == 302


def test_login_starts_a_fresh_session(client: FlaskClient, people: dict[str, int]) -> None:
    # Whatever a visitor's session held before (a fixed session), none of it survives.
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    assert login(client, "alice", PASSWORD).status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session


# --- cookies and headers ------------------------------------------------------------------


def cookie_attributes(response: Any, name: str) -> set[str]:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "=")]
    assert len(cookies) == 1
    return {part.strip().lower() for part in cookies[0].split(";")[1:]}


@pytest.mark.parametrize("secure", [False, True])
def test_cookie_flags_and_hsts_follow_secure_cookies(
    database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, secure: bool
) -> None:
    monkeypatch.setenv("ANNOTATOR_SECURE_COOKIES", "1" if secure else "0")
    app = make_app(database_url, tmp_path / "data")
    with app.app_context():
        add_user(db.session, "alice", Role.CODER, PASSWORD)
        db.session.commit()
        client = app.test_client()
        base = "https://localhost" if secure else "http://localhost"
        page = client.get("/login", base_url=base).get_data(as_text=True)
        match = CSRF_INPUT.search(page)
        assert match is not None
        token = match.group(1) or match.group(2)
        response = client.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": token},
            base_url=base,
            headers={"Referer": base + "/login"},  # checked over HTTPS, as browsers send it
        )
        assert response.status_code == 302
        attributes = cookie_attributes(response, "session")
        assert {"httponly", "samesite=lax"} <= attributes
        assert ("secure" in attributes) is secure
        assert app.config["REMEMBER_COOKIE_SECURE"] is secure
        hsts = response.headers.get("Strict-Transport-Security")
        assert hsts == ("max-age=31536000" if secure else None)
        db.session.remove()
        db.engine.dispose()


def test_headers_on_pages_and_errors(client: FlaskClient, people: dict[str, int]) -> None:
    for url in ["/login", "/no-such-page", "/static/app.css"]:
        headers = client.get(url).headers
        assert headers["X-Content-Type-Options"] == "nosniff", url
        assert headers["Referrer-Policy"] == "same-origin", url
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin", url
        assert headers["Cross-Origin-Resource-Policy"] == "same-origin", url
        policy = headers["Permissions-Policy"]
        for feature in ["camera=()", "microphone=()", "geolocation=()"]:
            assert feature in policy, url
        assert "Strict-Transport-Security" not in headers  # plain HTTP in the tests


@pytest.mark.parametrize(
    ("config", "warned"),
    [
        ({"SESSION_COOKIE_SECURE": True, "SECRET_KEY": "k" * 64}, []),
        ({"SESSION_COOKIE_SECURE": False, "SECRET_KEY": "k" * 64}, ["ANNOTATOR_SECURE_COOKIES"]),
        ({"SESSION_COOKIE_SECURE": True, "SECRET_KEY": "short"}, ["ANNOTATOR_SECRET_KEY"]),
    ],
)
def test_production_warnings(config: dict[str, Any], warned: list[str]) -> None:
    warnings = security.production_warnings(config)
    assert [w.split()[0] for w in warnings] == warned


@pytest.mark.parametrize(
    ("overrides", "warned"), [({}, True), ({"PRODUCTION_WARNINGS": False}, False)]
)
def test_the_server_warns_and_commands_do_not(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Any,
    overrides: dict[str, Any],
    warned: bool,
) -> None:
    # A server app with insecure cookies logs the warning; the commands' app (cli._cli_app
    # sets PRODUCTION_WARNINGS off) does not, since it serves nobody.
    from annotator import cli, create_app

    monkeypatch.setenv("ANNOTATOR_SECRET_KEY", "k" * 64)
    monkeypatch.setenv("ANNOTATOR_SECURE_COOKIES", "0")
    monkeypatch.setenv("ANNOTATOR_DATABASE_URL", f"sqlite:///{tmp_path / 'w.sqlite3'}")
    monkeypatch.setenv("ANNOTATOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ANNOTATOR_INSTANCE_PATH", str(tmp_path / "instance"))
    with caplog.at_level("WARNING"):
        create_app(overrides)
    assert any("ANNOTATOR_SECURE_COOKIES" in r.getMessage() for r in caplog.records) is warned
    caplog.clear()
    with caplog.at_level("WARNING"):
        cli._cli_app()
    assert not any("ANNOTATOR_SECURE_COOKIES" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ANNOTATOR_LOGIN_LIMIT_PER_NAME", "0"),
        ("ANNOTATOR_LOGIN_LIMIT_PER_ADDRESS", "many"),
        ("ANNOTATOR_LOGIN_LIMIT_WINDOW_MINUTES", "-5"),
        ("ANNOTATOR_SESSION_IDLE_MINUTES", "1.5"),
        ("ANNOTATOR_SESSION_LIFETIME_HOURS", "0"),
    ],
)
def test_bad_security_settings_are_refused(variable: str, value: str) -> None:
    with pytest.raises(configuration.ConfigurationError, match=variable):
        configuration.from_environment("/tmp/instance", {variable: value})


def test_security_settings_are_read(app: Flask) -> None:
    config = configuration.from_environment(
        "/tmp/instance",
        {"ANNOTATOR_SESSION_IDLE_MINUTES": "30", "ANNOTATOR_LOGIN_LIMIT_PER_NAME": "4"},
    )
    assert config["SESSION_IDLE_MINUTES"] == 30
    assert config["LOGIN_LIMIT_PER_NAME"] == 4
    assert config["SESSION_LIFETIME_HOURS"] == 24
