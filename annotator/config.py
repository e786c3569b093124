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
# Seconds; below gunicorn's 30 s worker timeout, far above a save's few milliseconds.
SQLITE_BUSY_TIMEOUT = 10.0
SQLITE_SYNCHRONOUS = ("full", "normal")


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
    proxies = env.get("ANNOTATOR_PROXY_FIX") or "0"
    if not proxies.isdigit():
        raise ConfigurationError(
            "ANNOTATOR_PROXY_FIX must be the number of proxies in front of the app "
            f"(0 for none, 1 behind nginx), not '{proxies}'"
        )
    busy_timeout = env.get("ANNOTATOR_SQLITE_BUSY_TIMEOUT") or str(SQLITE_BUSY_TIMEOUT)
    try:
        sqlite_busy_timeout = float(busy_timeout)
    except ValueError:
        raise ConfigurationError(
            f"ANNOTATOR_SQLITE_BUSY_TIMEOUT must be a number of seconds, not '{busy_timeout}'"
        ) from None
    sqlite_synchronous = (env.get("ANNOTATOR_SQLITE_SYNCHRONOUS") or "full").lower()
    if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
        raise ConfigurationError(
            "ANNOTATOR_SQLITE_SYNCHRONOUS must be 'full' or 'normal', "
            f"not '{env['ANNOTATOR_SQLITE_SYNCHRONOUS']}'"
        )
    security = security_settings(env)
    return {
        **security,
        "SECRET_KEY": env.get("ANNOTATOR_SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "DATA_DIR": env.get("ANNOTATOR_DATA_DIR") or str(instance / "documents"),
        "MAX_DOCUMENT_BYTES": max_document_mb * MEGABYTE,
        # Request bodies carry one document at most, plus form overhead.
        "MAX_CONTENT_LENGTH": (max_document_mb + 1) * MEGABYTE,
        "WTF_CSRF_TIME_LIMIT": None,  # a coder may keep a page open all day
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        # How long a SQLite writer waits for the one before it (annotator.database).
        "SQLITE_BUSY_TIMEOUT": sqlite_busy_timeout,
        # full: every commit is on disk before it is acknowledged; normal: it survives a
        # crash of the app but not of the machine, and commits do not wait for the disk.
        "SQLITE_SYNCHRONOUS": sqlite_synchronous,
        # Values on which all coders agree are final without the adjudicator accepting them.
        "AGREEMENT_IS_FINAL": env.get("ANNOTATOR_AGREEMENT_IS_FINAL", "0") == "1",
        # Proxies whose X-Forwarded-* headers are trusted (werkzeug's ProxyFix); 0: none.
        "PROXY_FIX": int(proxies),
    }


# The login rate limit and session lifetimes: setting, default, unit (for the messages).
SECURITY_SETTINGS = {
    "LOGIN_LIMIT_PER_NAME": ("ANNOTATOR_LOGIN_LIMIT_PER_NAME", 10, "failed logins"),
    "LOGIN_LIMIT_PER_ADDRESS": ("ANNOTATOR_LOGIN_LIMIT_PER_ADDRESS", 50, "failed logins"),
    "LOGIN_LIMIT_WINDOW_MINUTES": ("ANNOTATOR_LOGIN_LIMIT_WINDOW_MINUTES", 15, "minutes"),
    # A coder reading a long document makes no request for a while; the coding page keeps
    # an unsaved draft across a new login anyway.
    "SESSION_IDLE_MINUTES": ("ANNOTATOR_SESSION_IDLE_MINUTES", 240, "minutes"),
    "SESSION_LIFETIME_HOURS": ("ANNOTATOR_SESSION_LIFETIME_HOURS", 24, "hours"),
}


def security_settings(env: os._Environ[str] | dict[str, str]) -> dict[str, Any]:
    """The rate limit, session lifetimes and cookie flags from the environment."""
    settings: dict[str, Any] = {}
    for key, (variable, default, unit) in SECURITY_SETTINGS.items():
        raw = env.get(variable) or str(default)
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigurationError(
                f"{variable} must be a whole number of {unit}, 1 or more, not '{raw}'"
            )
        settings[key] = int(raw)
    secure = env.get("ANNOTATOR_SECURE_COOKIES", "0") == "1"
    settings.update(
        {
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": secure,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_SECURE": secure,
        }
    )
    return settings


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
    """Engine options per backend; SQLite's locking is set up in ``annotator.database``.

    PostgreSQL connections are checked before use, so that a server restarted under a
    running app costs the requests made while it was down, not every pooled connection.
    """
    if url.startswith("sqlite"):
        return {}
    return {"pool_pre_ping": True}


def check(config: dict[str, Any]) -> None:
    """Refuse to start with a configuration that would be unsafe or cannot work."""
    if not config.get("SECRET_KEY"):
        raise ConfigurationError(SECRET_KEY_HELP)
