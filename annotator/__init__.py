"""annotator: code documents for content analysis, with blind coding and reliability."""

from __future__ import annotations

import mimetypes
import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as configuration
from . import database
from .extensions import babel, csrf, db, login_manager, migrate
from .locales import DEFAULT_LOCALE, TRANSLATIONS_DIR

# pdf.js is loaded as ES modules (.mjs), which browsers run only when served as JavaScript;
# Python's own table lacks .mjs before 3.12 and /etc/mime.types is not always there.
mimetypes.add_type("text/javascript", ".mjs")

MIGRATIONS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations"
)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the application. It does no work beyond wiring: no migrations, no prompts."""
    app = Flask(
        __name__, instance_path=configuration.instance_folder(), instance_relative_config=True
    )
    app.config.from_mapping(configuration.from_environment(app.instance_path))
    if test_config is not None:
        app.config.from_mapping(test_config)
        if (
            "SQLALCHEMY_DATABASE_URI" in test_config
            and "SQLALCHEMY_ENGINE_OPTIONS" not in test_config
        ):
            url = app.config["SQLALCHEMY_DATABASE_URI"]
            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = configuration.engine_options(url)
    configuration.check(app.config)
    if app.config["SQLALCHEMY_DATABASE_URI"] == configuration.default_database_url(
        app.instance_path
    ):
        # A fresh checkout has no instance folder, and SQLite cannot create a file in a
        # folder that does not exist: `annotator db upgrade` would fail.
        os.makedirs(app.instance_path, exist_ok=True)

    if app.config.get("PROXY_FIX"):
        # Behind nginx the client's address, scheme and host arrive in X-Forwarded-*
        # headers; trust exactly as many hops as there are proxies, or anyone could forge them.
        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )

    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"

    from . import (
        adjudication,
        admin,
        analysis_views,
        auth,
        coding,
        documents,
        export_views,
        i18n,
        reliability_views,
        security,
    )

    # The catalogs ship inside the package, so the path does not depend on the working folder.
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS_DIR)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    babel.init_app(app, locale_selector=auth.select_locale)
    # A domain module's message (annotator.messages) in the page's language: {{ m|translated }}.
    app.add_template_filter(i18n.translated, "translated")

    security.init_url_converters(app)  # before any route with an <int:...> is added
    app.register_blueprint(auth.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(coding.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(reliability_views.bp)
    app.register_blueprint(adjudication.bp)
    app.register_blueprint(analysis_views.bp)
    app.register_blueprint(export_views.bp)
    security.init_app(app)

    from .cli import register_commands

    register_commands(app)

    @app.get("/")
    def index() -> Any:
        from flask import redirect, url_for
        from flask_login import current_user

        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        if current_user.role.can_administer():
            return redirect(url_for("admin.overview"))
        return redirect(url_for("coding.queue"))

    return app
