"""Migrations are the only way to a schema, and they build exactly what the models describe.

Each test starts from an empty database of each kind (a new SQLite file, a new PostgreSQL
database), because the fixtures' migrated template would hide a migration that no longer
runs from scratch.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, create_engine, inspect, make_url, text
from sqlalchemy.engine import Engine

from annotator import MIGRATIONS_DIR
from annotator.extensions import db
from annotator.schema import SchemaOutOfDate, check_schema, current_heads, expected_heads

from .conftest import make_app
from .pgserver import PostgresServer

HEAD = "0003"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with nothing in it: no tables, no alembic_version."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"empty_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def empty_app(empty_database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app on an empty database, inside an app context."""
    app = make_app(empty_database_url, tmp_path / "data")
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def tables(engine: Engine) -> set[str]:
    """The tables in the database, fresh from the server (no cached inspector)."""
    return set(inspect(engine).get_table_names())


def schema_differences(engine: Engine) -> list[Any]:
    """What autogenerate would put in a new migration: models compared with the database."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, db.metadata))


def test_upgrade_from_empty_matches_the_models(empty_app: Flask) -> None:
    upgrade(directory=MIGRATIONS_DIR)

    assert schema_differences(db.engine) == []
    assert tables(db.engine) == set(db.metadata.tables) | {"alembic_version"}
    check_schema(db.engine, MIGRATIONS_DIR)  # raises if not current


def test_downgrade_to_base_and_upgrade_again(empty_app: Flask) -> None:
    upgrade(directory=MIGRATIONS_DIR)
    db.session.execute(
        text("INSERT INTO codebook (slug, title, created_at) VALUES ('c', 'C', CURRENT_TIMESTAMP)")
    )
    db.session.commit()

    downgrade(directory=MIGRATIONS_DIR, revision="base")
    assert tables(db.engine) == {"alembic_version"}
    assert current_heads(db.engine) == set()

    upgrade(directory=MIGRATIONS_DIR)
    assert schema_differences(db.engine) == []
    assert current_heads(db.engine) == {HEAD}


def test_the_migrations_have_one_head() -> None:
    # Two heads would mean two people added migrations in parallel: `db upgrade` then fails.
    assert expected_heads(MIGRATIONS_DIR) == {HEAD}


def test_the_app_never_creates_tables(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse_create_all(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("create_all() was called: the schema comes from migrations only")

    monkeypatch.setattr(MetaData, "create_all", refuse_create_all)
    app = make_app(empty_database_url, tmp_path / "data")
    with app.app_context():
        assert app.test_client().get("/login").status_code == 200
        result = app.test_cli_runner().invoke(args=["users", "list"])
        assert result.exit_code == 1
        assert tables(db.engine) == set()
        db.engine.dispose()


def _stamp(engine: Engine, revision: str | None) -> None:
    """Leave the database claiming ``revision`` (None: the table exists but is empty)."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
        if revision is not None:
            connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:revision)"),
                {"revision": revision},
            )


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("empty", "has no schema yet: run `annotator db upgrade` to create or upgrade it"),
        ("base", "has no schema yet: run `annotator db upgrade`"),
        ("older", f"is at revision 0000, this version of annotator needs {HEAD}: run `annotator"),
        ("newer", f"is at revision 9999, this version of annotator needs {HEAD}: run `annotator"),
        ("head", None),
    ],
)
def test_check_schema(empty_app: Flask, state: str, message: str | None) -> None:
    if state != "empty":
        upgrade(directory=MIGRATIONS_DIR)
    if state in {"base", "older", "newer"}:
        _stamp(db.engine, {"base": None, "older": "0000", "newer": "9999"}[state])

    if message is None:
        check_schema(db.engine, MIGRATIONS_DIR)
    else:
        with pytest.raises(SchemaOutOfDate, match=re.escape(message)):
            check_schema(db.engine, MIGRATIONS_DIR)


@pytest.mark.postgres
def test_check_schema_hides_the_database_password(postgres_server: PostgresServer) -> None:
    # The message ends up in terminals and CI logs. The test server trusts every password.
    url = postgres_server.create_database(f"empty_{uuid.uuid4().hex[:12]}")
    engine = create_engine(make_url(url).set(password="hunter2-secret"))
    try:
        with pytest.raises(SchemaOutOfDate) as raised:
            check_schema(engine, MIGRATIONS_DIR)
    finally:
        engine.dispose()
    assert "hunter2-secret" not in str(raised.value)
    assert "annotator:***@" in str(raised.value)
