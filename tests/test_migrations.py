"""Migrations are the only way to a schema, and they build exactly what the models describe.

Each test starts from an empty database of each kind (a new SQLite file, a new PostgreSQL
database), because the fixtures' migrated template would hide a migration that no longer
runs from scratch.
"""

from __future__ import annotations

import datetime as dt
import json
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

HEAD = "0004"


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


# --- data through every step -------------------------------------------------------------

T = "2026-01-02 03:04:05+00:00"
USERS = [
    {"id": 1, "username": "pi", "display_name": "P I", "role": "pi"},
    {"id": 2, "username": "alice", "display_name": "Alice", "role": "coder"},
    {"id": 3, "username": "bob", "display_name": "Bob", "role": "coder"},
]
# Rows a database at 0001 can hold: one of every table, linked as the app links them.
ROWS_0001: dict[str, list[dict[str, Any]]] = {
    "user": [{**user, "password_hash": "x", "active": True, "created_at": T} for user in USERS],
    "codebook": [{"id": 1, "slug": "study", "title": "Study", "created_at": T}],
    "codebook_version": [
        {
            "id": 1,
            "codebook_id": 1,
            "number": 1,
            "fingerprint": "f" * 64,
            "source_name": "study.yaml",
            "source_text": "id: study",
            "definition": {"id": "study", "variables": []},
            "created_at": T,
            "created_by_id": 1,
        }
    ],
    "document": [
        {
            "id": 1,
            "sha256": "a" * 64,
            "filename": "公告.pdf",
            "format": "pdf",
            "size_bytes": 10,
            "page_count": 1,
            "has_text": True,
            "title": "公告",
            "province": "福建",
            "city": None,
            "level": None,
            "year": 2019,
            "value": None,
            "vendor": None,
            "kind": "tender",
            "source_url": None,
            "language": "zh",
            "extra": {"batch": 2},
            "imported_at": T,
            "imported_by_id": 1,
        }
    ],
    "page": [{"id": 1, "document_id": 1, "number": 1, "text": "福建省公安厅", "char_start": 0}],
    "assignment_batch": [
        {
            "id": 1,
            "codebook_id": 1,
            "seed": 7,
            "parameters": {"sample": 1},
            "created_at": T,
            "created_by_id": 1,
        }
    ],
    "assignment": [
        {
            "id": coder,
            "document_id": 1,
            "coder_id": coder,
            "codebook_id": 1,
            "reliability": True,
            "batch_id": 1,
            "created_at": T,
        }
        for coder in (2, 3)
    ],
    "label_set": [
        {
            "id": coder,
            "document_id": 1,
            "coder_id": coder,
            "codebook_version_id": 1,
            "status": status,
            "note": "a note",
            "revision": 2,
            "created_at": T,
            "updated_at": T,
            "submitted_at": T if status == "submitted" else None,
        }
        for coder, status in ((2, "submitted"), (3, "in_progress"))
    ],
    "label": [
        {"id": 1, "label_set_id": 2, "variable": "kind", "value": "tender"},
        {"id": 2, "label_set_id": 2, "variable": "services", "value": ["alarm", "reporting"]},
        {"id": 3, "label_set_id": 3, "variable": "kind", "value": "award"},
        {"id": 4, "label_set_id": 3, "variable": "year", "value": None},
    ],
    "evidence": [
        {
            "id": 1,
            "label_set_id": 2,
            "variable": "province",
            "page": 1,
            "quote": "福建省公安厅",
            "start": 0,
            "end": 6,
            "created_at": T,
        }
    ],
    "label_event": [
        {
            "id": 1,
            "label_set_id": 2,
            "user_id": 2,
            "at": T,
            "action": "save",
            "variable": "kind",
            "before": None,
            "after": "tender",
        }
    ],
}
FINAL_ROWS = {
    "final_value": [
        {
            "id": 1,
            "document_id": 1,
            "codebook_version_id": 1,
            "variable": "kind",
            "value": "tender",
            "source_coder_id": 2,
            "decided_by_id": 1,
            "decided_at": T,
            "note": "agreed after discussion",
        }
    ],
    "final_event": [
        {
            "id": 1,
            "document_id": 1,
            "codebook_version_id": 1,
            "variable": "kind",
            "user_id": 1,
            "at": T,
            "action": "decide",
            "before": None,
            "after": "tender",
            "source_coder_id": 2,
            "note": "agreed after discussion",
        }
    ],
}
JSON_COLUMNS = {
    (table.name, column.name)
    for table in db.metadata.sorted_tables
    for column in table.columns
    if column.type.__class__.__name__ == "JSON"
}


def _insert(engine: Engine, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Insert rows with plain SQL: the models describe the head, not this revision."""
    with engine.begin() as connection:
        for table, records in rows.items():
            for record in records:
                columns = ", ".join(f'"{column}"' for column in record)
                values = ", ".join(f":{column}" for column in record)
                parameters = {
                    column: json.dumps(value)
                    if (table, column) in JSON_COLUMNS and value is not None
                    else value
                    for column, value in record.items()
                }
                connection.execute(
                    text(f'INSERT INTO "{table}" ({columns}) VALUES ({values})'), parameters
                )


def _normal(table: str, column: str, value: Any, *, as_text: bool = False) -> Any:
    """One form for both databases: UTC timestamps as text, JSON decoded, booleans as 0/1.

    ``as_text``: a value read from SQLite, whose driver returns JSON columns as text
    (psycopg decodes them).
    """
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(" ")
    if as_text and (table, column) in JSON_COLUMNS and isinstance(value, str):
        return json.loads(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _check_rows(engine: Engine, expected: dict[str, list[dict[str, Any]]]) -> None:
    """The database holds exactly the expected rows, in the columns the schema has now."""
    inspector = inspect(engine)
    present = set(inspector.get_table_names()) - {"alembic_version"}
    sqlite = engine.dialect.name == "sqlite"
    assert present == set(expected)
    with engine.connect() as connection:
        for table, records in expected.items():
            columns = [column["name"] for column in inspector.get_columns(table)]
            found = [
                {c: _normal(table, c, v, as_text=sqlite) for c, v in row._mapping.items()}
                for row in connection.execute(text(f'SELECT * FROM "{table}" ORDER BY id'))
            ]
            wanted = [{c: _normal(table, c, record[c]) for c in columns} for record in records]
            assert found == wanted, table


def test_data_survives_every_migration_step(empty_app: Flask) -> None:
    engine = db.engine
    expected: dict[str, list[dict[str, Any]]] = {}

    upgrade(directory=MIGRATIONS_DIR, revision="0001")
    _insert(engine, ROWS_0001)
    expected = {table: [dict(r) for r in records] for table, records in ROWS_0001.items()}
    _check_rows(engine, expected)

    upgrade(directory=MIGRATIONS_DIR, revision="0002")
    for user in expected["user"]:
        user["locale"] = None  # nobody chose before the column existed
    _check_rows(engine, expected)
    newcomer = {**ROWS_0001["user"][1], "id": 4, "username": "zhang", "locale": "zh_Hans"}
    _insert(engine, {"user": [newcomer]})
    expected["user"].append(dict(newcomer))
    _check_rows(engine, expected)

    upgrade(directory=MIGRATIONS_DIR, revision="0003")
    for user in expected["user"]:
        user["can_adjudicate"] = False  # the server default: nobody had the right before
    _check_rows(engine, expected | {"final_value": [], "final_event": []})
    judge = {**newcomer, "id": 5, "username": "judge", "can_adjudicate": True}
    _insert(engine, {"user": [judge], **FINAL_ROWS})
    expected["user"].append(dict(judge))
    expected |= {table: [dict(r) for r in records] for table, records in FINAL_ROWS.items()}
    _check_rows(engine, expected)

    # 0004 adds the failed logins of the rate limit, starting empty.
    upgrade(directory=MIGRATIONS_DIR, revision="0004")
    _check_rows(engine, expected | {"login_attempt": []})
    assert schema_differences(engine) == []

    # Down again, one step at a time: 0004 takes only the failed logins...
    downgrade(directory=MIGRATIONS_DIR, revision="0003")
    _check_rows(engine, expected)
    # ...and 0003 only the adjudication (final values, their history, the right).
    downgrade(directory=MIGRATIONS_DIR, revision="0002")
    del expected["final_value"], expected["final_event"]
    _check_rows(engine, expected)  # every other row, with its values, is still there
    assert "can_adjudicate" not in {c["name"] for c in inspect(engine).get_columns("user")}

    downgrade(directory=MIGRATIONS_DIR, revision="0001")
    _check_rows(engine, expected)
    assert "locale" not in {c["name"] for c in inspect(engine).get_columns("user")}

    downgrade(directory=MIGRATIONS_DIR, revision="base")
    _check_rows(engine, {})
    assert current_heads(engine) == set()

    # And up once more: the schema is whole again and takes the same data.
    upgrade(directory=MIGRATIONS_DIR)
    assert schema_differences(engine) == []
    _check_rows(engine, {table: [] for table in db.metadata.tables})
    _insert(engine, {**ROWS_0001, **FINAL_ROWS})
    assert current_heads(engine) == {HEAD}
