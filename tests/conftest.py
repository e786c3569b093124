"""Fixtures: an app on a real SQLite file or a real PostgreSQL server, clients, a project.

Tests that take the ``app`` fixture run twice, once per database. The PostgreSQL run needs
``initdb``; without it, those runs are skipped locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from annotator import MIGRATIONS_DIR, create_app
from annotator.extensions import db

from .pgserver import PostgresServer, find_binary

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
STUDY_CODEBOOK = ROOT / "codebook" / "wechat_policing.yaml"
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def make_app(database_url: str, data_dir: Path, **extra: Any) -> Flask:
    """An app for tests: real database, real data directory, CSRF on."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "DATA_DIR": str(data_dir),
            **extra,
        }
    )


def migrate_to_head(database_url: str, data_dir: Path) -> None:
    """Run every migration on a database."""
    app = make_app(database_url, data_dir)
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        db.engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run."""
    if not find_binary("initdb"):
        message = "PostgreSQL is not installed (initdb not found)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must test on PostgreSQL")
        pytest.skip(message)
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate_to_head(f"sqlite:///{path}", path.parent / "data")
    return path


@pytest.fixture(scope="session")
def postgres_database(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A PostgreSQL database migrated to head once; tests empty it after themselves."""
    url = postgres_server.create_database("annotator_test")
    migrate_to_head(url, tmp_path_factory.mktemp("pgdata"))
    return url


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = [
            row[0]
            for row in connection.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
        ]
        if tables:
            quoted = ", ".join(f'"{table}"' for table in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "annotator.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        yield url
        _empty_postgres(url)


class RequestPerContextClient(FlaskClient):
    """A test client whose every request runs in an app context of its own, as in a server.

    The test keeps an app context open for its direct database work; without this, each
    request would share that context's ``flask.g`` (the cached CSRF token, the logged-in
    user) and its database session with the test and with other clients.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app on a migrated database, inside an app context."""
    app = make_app(database_url, tmp_path / "data")
    app.test_client_class = RequestPerContextClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap hashes for test users: scrypt costs ~70 ms a hash, by design.

    A test of the real hashing calls ``monkeypatch.undo()``.
    """
    from functools import partial

    from werkzeug.security import generate_password_hash

    from annotator import models

    monkeypatch.setattr(
        models, "generate_password_hash", partial(generate_password_hash, method="pbkdf2:sha256:1")
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


def csrf_token(client: FlaskClient) -> str:
    """A CSRF token for the client's session, read from a page as a browser would."""
    page = client.get("/login").get_data(as_text=True)
    match = CSRF_INPUT.search(page)
    assert match, "no CSRF token on the login page"
    return match.group(1) or match.group(2)


class AuthActions:
    """Log a test client in and out, with CSRF tokens as a browser sends them."""

    def __init__(self, client: FlaskClient):
        self._client = client

    def login(self, username: str, password: str = PASSWORD) -> Any:
        token = csrf_token(self._client)
        return self._client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )

    def logout(self) -> Any:
        return self._client.post("/logout", data={"csrf_token": csrf_token(self._client)})

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST a form with the session's CSRF token."""
        return self._client.post(
            url, data={**(data or {}), "csrf_token": csrf_token(self._client)}, **kwargs
        )

    def post_json(self, url: str, payload: Any) -> Any:
        """POST JSON with the CSRF token in the header, as the pages' scripts do."""
        return self._client.post(
            url, json=payload, headers={"X-CSRFToken": csrf_token(self._client)}
        )


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def pi(auth: AuthActions, project: Project) -> AuthActions:
    """The PI of the ``project``, logged in."""
    assert auth.login("pi").status_code == 302
    return auth


@dataclass
class Project:
    """A small study: the study codebook, fixture documents, a PI and coders, assignments."""

    codebook_id: int
    document_ids: dict[str, int]
    users: dict[str, int]


@pytest.fixture
def project(app: Flask) -> Project:
    """Load the study codebook, import fixture documents, add people, assign.

    ``alice`` and ``bob`` both code ``zh_cid_font.pdf`` (the reliability overlap);
    ``alice`` alone codes ``en_two_pages.pdf``; ``bob`` alone codes ``report.html``.
    """
    from annotator.models import Role
    from annotator.services import assignments as assignment_service
    from annotator.services import users as user_service
    from annotator.services.codebooks import load_codebook_text
    from annotator.services.documents import import_files

    codebook = load_codebook_text(
        db.session, STUDY_CODEBOOK.read_text(encoding="utf-8"), STUDY_CODEBOOK.name
    ).version.codebook
    names = ["zh_cid_font.pdf", "en_two_pages.pdf", "report.html", "notes.md"]
    report = import_files(
        db.session,
        [FIXTURES / name for name in names],
        data_dir=app.config["DATA_DIR"],
        max_bytes=app.config["MAX_DOCUMENT_BYTES"],
    )
    assert not report.refused, report.summary_lines()
    documents = {Path(o.path).name: o.document_id for o in report.outcomes}
    users = {}
    for name, role in (
        ("pi", Role.PI),
        ("alice", Role.CODER),
        ("bob", Role.CODER),
        ("carol", Role.CODER),
    ):
        users[name] = user_service.add_user(db.session, name, role, PASSWORD).id
    from annotator.models import Document, User

    def give(document: str, coder: str, reliability: bool = False) -> None:
        assignment_service.assign_by_hand(
            db.session,
            db.session.get(Document, documents[document]),
            db.session.get(User, users[coder]),
            codebook,
            reliability,
        )

    give("zh_cid_font.pdf", "alice", True)
    give("zh_cid_font.pdf", "bob", True)
    give("en_two_pages.pdf", "alice")
    give("report.html", "bob")
    db.session.commit()
    return Project(codebook_id=codebook.id, document_ids=documents, users=users)
