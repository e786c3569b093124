"""Configuration from ANNOTATOR_* environment variables, and the refusal to run without a key."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from annotator import create_app
from annotator.cli import serve_command
from annotator.config import (
    MEGABYTE,
    SECRET_KEY_HELP,
    ConfigurationError,
    engine_options,
    from_environment,
    instance_folder,
    normalise_database_url,
)

ROOT = Path(__file__).resolve().parent.parent
ANNOTATOR = Path(sys.executable).with_name("annotator")


def clean_environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Remove every ANNOTATOR_* variable (a developer's shell may set some), then set these."""
    for name in list(os.environ):
        if name.startswith("ANNOTATOR_"):
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {},
            {
                "SECRET_KEY": None,
                "SQLALCHEMY_DATABASE_URI": "sqlite:////srv/inst/annotator.sqlite3",
                "DATA_DIR": "/srv/inst/documents",
                "MAX_DOCUMENT_BYTES": 50 * MEGABYTE,
                "MAX_CONTENT_LENGTH": 51 * MEGABYTE,
                "SESSION_COOKIE_SECURE": False,
                "SQLALCHEMY_ENGINE_OPTIONS": {},
                "SQLITE_BUSY_TIMEOUT": 10.0,
                "SQLITE_SYNCHRONOUS": "full",
            },
        ),
        (
            {
                "ANNOTATOR_SECRET_KEY": "k" * 64,
                "ANNOTATOR_DATABASE_URL": "postgres://coder:pw@db.example/study",
                "ANNOTATOR_DATA_DIR": "/data/study",
                "ANNOTATOR_MAX_DOCUMENT_MB": "5",
                "ANNOTATOR_SECURE_COOKIES": "1",
                "ANNOTATOR_SQLITE_BUSY_TIMEOUT": "2.5",
                "ANNOTATOR_SQLITE_SYNCHRONOUS": "NORMAL",
            },
            {
                "SECRET_KEY": "k" * 64,
                "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://coder:pw@db.example/study",
                "DATA_DIR": "/data/study",
                "MAX_DOCUMENT_BYTES": 5 * MEGABYTE,
                "MAX_CONTENT_LENGTH": 6 * MEGABYTE,
                "SESSION_COOKIE_SECURE": True,
                "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
                "SQLITE_BUSY_TIMEOUT": 2.5,
                "SQLITE_SYNCHRONOUS": "normal",
            },
        ),
        (
            # Empty values, as `export ANNOTATOR_DATA_DIR=` leaves them, mean the default.
            {
                "ANNOTATOR_DATABASE_URL": "",
                "ANNOTATOR_DATA_DIR": "",
                "ANNOTATOR_MAX_DOCUMENT_MB": "",
            },
            {
                "SQLALCHEMY_DATABASE_URI": "sqlite:////srv/inst/annotator.sqlite3",
                "DATA_DIR": "/srv/inst/documents",
                "MAX_DOCUMENT_BYTES": 50 * MEGABYTE,
            },
        ),
    ],
    ids=["defaults", "everything-set", "empty-values"],
)
def test_from_environment(environ: dict[str, str], expected: dict[str, object]) -> None:
    config = from_environment("/srv/inst", environ)
    assert {key: config[key] for key in expected} == expected


def test_a_size_limit_that_is_not_a_number_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ANNOTATOR_MAX_DOCUMENT_MB must be a whole"):
        from_environment("/srv/inst", {"ANNOTATOR_MAX_DOCUMENT_MB": "ten"})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ANNOTATOR_SQLITE_BUSY_TIMEOUT": "soon"}, "ANNOTATOR_SQLITE_BUSY_TIMEOUT must be a"),
        ({"ANNOTATOR_SQLITE_SYNCHRONOUS": "off"}, "ANNOTATOR_SQLITE_SYNCHRONOUS must be 'full'"),
    ],
)
def test_bad_sqlite_settings_are_configuration_errors(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        from_environment("/srv/inst", environ)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),  # Heroku-style
        ("postgresql://u:p@h:5433/db", "postgresql+psycopg://u:p@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),  # an explicit choice
        ("sqlite:////srv/a.sqlite3", "sqlite:////srv/a.sqlite3"),
        ("sqlite:///relative.sqlite3", "sqlite:///relative.sqlite3"),
    ],
)
def test_normalise_database_url(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////srv/a.sqlite3", {}),
        ("postgresql+psycopg://u@h/db", {"pool_pre_ping": True}),
    ],
)
def test_engine_options(url: str, expected: dict[str, object]) -> None:
    assert engine_options(url) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"ANNOTATOR_INSTANCE_PATH": ""}, None),
        ({"ANNOTATOR_INSTANCE_PATH": "/srv/i"}, "/srv/i"),
    ],
)
def test_instance_folder(environ: dict[str, str], expected: str | None) -> None:
    assert instance_folder(environ) == expected


def test_a_relative_instance_folder_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert instance_folder({"ANNOTATOR_INSTANCE_PATH": "study"}) == str(tmp_path / "study")


@pytest.mark.parametrize("secret_key", [None, ""])
def test_create_app_refuses_without_a_secret_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secret_key: str | None
) -> None:
    clean_environment(monkeypatch, ANNOTATOR_INSTANCE_PATH=str(tmp_path / "instance"))
    if secret_key is not None:
        monkeypatch.setenv("ANNOTATOR_SECRET_KEY", secret_key)
    with pytest.raises(ConfigurationError) as raised:
        create_app()
    message = str(raised.value)
    assert message == SECRET_KEY_HELP
    assert "ANNOTATOR_SECRET_KEY is not set" in message
    assert "export ANNOTATOR_SECRET_KEY=" in message


def test_create_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_environment(
        monkeypatch,
        ANNOTATOR_SECRET_KEY="from-the-environment",
        ANNOTATOR_INSTANCE_PATH=str(tmp_path / "instance"),
        ANNOTATOR_DATABASE_URL="postgres://coder:pw@db.example/study",
        ANNOTATOR_DATA_DIR=str(tmp_path / "files"),
    )
    app = create_app()
    assert app.secret_key == "from-the-environment"
    assert app.instance_path == str(tmp_path / "instance")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://coder:pw@db.example/study"
    assert app.config["DATA_DIR"] == str(tmp_path / "files")
    # The database is elsewhere, so the instance folder is not needed, and not made.
    assert not (tmp_path / "instance").exists()


def test_the_default_database_is_in_the_instance_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    instance = tmp_path / "fresh-checkout" / "instance"
    clean_environment(monkeypatch, ANNOTATOR_SECRET_KEY="k", ANNOTATOR_INSTANCE_PATH=str(instance))
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'annotator.sqlite3'}"
    assert app.config["DATA_DIR"] == str(instance / "documents")
    # SQLite cannot create its file in a missing folder; `annotator db upgrade` needs it.
    assert instance.is_dir()
    assert list(instance.iterdir()) == []  # a folder, but no database until `db upgrade`


def test_test_config_overrides_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_environment(
        monkeypatch,
        ANNOTATOR_INSTANCE_PATH=str(tmp_path / "instance"),
        ANNOTATOR_DATABASE_URL="postgres://coder:pw@db.example/study",
    )
    app = create_app(
        {"SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    )
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'x.sqlite3'}"
    # Engine options follow the database actually used, not the one in the environment.
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {}


def test_serve_refuses_an_empty_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_environment(
        monkeypatch,
        ANNOTATOR_SECRET_KEY="k",
        ANNOTATOR_INSTANCE_PATH=str(tmp_path / "instance"),
        ANNOTATOR_DATABASE_URL=f"sqlite:///{tmp_path / 'new.sqlite3'}",
    )
    result = CliRunner().invoke(serve_command, [])
    assert result.exit_code == 1
    assert "has no schema yet: run `annotator db upgrade`" in result.output


def test_annotator_serve_refuses_without_a_secret_key(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_")}
    environment |= {
        "ANNOTATOR_INSTANCE_PATH": str(tmp_path / "instance"),
        "ANNOTATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    # A server that started anyway would never exit: the timeout turns that into a failure.
    result = subprocess.run(
        [str(ANNOTATOR), "serve", "--port", "1"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ANNOTATOR_SECRET_KEY is not set" in result.stderr
    assert "export ANNOTATOR_SECRET_KEY=" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_environment_variable_is_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    used = {
        name
        for path in (ROOT / "annotator").rglob("*.py")
        for name in re.findall(r"ANNOTATOR_[A-Z_]+[A-Z]", path.read_text(encoding="utf-8"))
    }
    assert "ANNOTATOR_DATABASE_URL" in used  # the search finds what it should
    assert sorted(name for name in used if f"`{name}`" not in readme) == []
