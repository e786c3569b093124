"""Configuration read from the environment.

Every setting has an ``ANNOTATOR_`` environment variable; ``create_app(test_config)`` may
override any of them. The secret key has no default outside the demo and the tests: a
forgotten secret key must stop the server, not sign sessions with a value anyone can read
in this repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SECRET_KEY_HELP = (
    "ANNOTATOR_SECRET_KEY is not set. Generate one and export it before starting the server:\n"
    "  export ANNOTATOR_SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_hex(32))')\"\n"
    "(`annotator demo` and the test suite make their own.)"
)

MEGABYTE = 2**20


class ConfigurationError(RuntimeError):
    """A setting is missing or wrong; the message says how to fix it."""


def instance_folder(environ: os._Environ[str] | dict[str, str] | None = None) -> str | None:
    """The instance folder from ``ANNOTATOR_INSTANCE_PATH``, absolute; None for Flask's default."""
    env = os.environ if environ is None else environ
    path = env.get("ANNOTATOR_INSTANCE_PATH")
    return os.path.abspath(path) if path else None


def from_environment(
    instance_path: str, environ: os._Environ[str] | dict[str, str] | None = None
) -> dict[str, Any]:
    """Build the Flask configuration from ``ANNOTATOR_*`` environment variables."""
    env = os.environ if environ is None else environ
    instance = Path(instance_path)
    database_url = env.get("ANNOTATOR_DATABASE_URL") or default_database_url(instance_path)
    try:
        max_document_mb = int(env.get("ANNOTATOR_MAX_DOCUMENT_MB") or "50")
    except ValueError:
        raise ConfigurationError(
            "ANNOTATOR_MAX_DOCUMENT_MB must be a whole number of megabytes, "
            f"not '{env['ANNOTATOR_MAX_DOCUMENT_MB']}'"
        ) from None
    return {
        "SECRET_KEY": env.get("ANNOTATOR_SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "DATA_DIR": env.get("ANNOTATOR_DATA_DIR") or str(instance / "documents"),
        "MAX_DOCUMENT_BYTES": max_document_mb * MEGABYTE,
        # Request bodies carry one document at most, plus form overhead.
        "MAX_CONTENT_LENGTH": (max_document_mb + 1) * MEGABYTE,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get("ANNOTATOR_SECURE_COOKIES", "0") == "1",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,  # a coder may keep a page open all day
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        # Values on which all coders agree are final without the adjudicator accepting them.
        "AGREEMENT_IS_FINAL": env.get("ANNOTATOR_AGREEMENT_IS_FINAL", "0") == "1",
    }


def default_database_url(instance_path: str) -> str:
    """The database without ``ANNOTATOR_DATABASE_URL``: a SQLite file in the instance folder."""
    return f"sqlite:///{Path(instance_path) / 'annotator.sqlite3'}"


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def engine_options(url: str) -> dict[str, Any]:
    """Engine options per backend: SQLite waits for a busy writer instead of failing."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def check(config: dict[str, Any]) -> None:
    """Refuse to start with a configuration that would be unsafe or cannot work."""
    if not config.get("SECRET_KEY"):
        raise ConfigurationError(SECRET_KEY_HELP)
