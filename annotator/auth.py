"""Logging in and out, and the access checks the other areas use."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    has_request_context,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, lazy_pgettext, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_url, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from .extensions import db, login_manager
from .locales import DEFAULT_LOCALE, LOCALES, best_locale, html_lang
from .models import Role, User
from .services import login_limits as login_limit_service
from .services.login_limits import LoginLimits

bp = Blueprint("auth", __name__)

# Where a language chosen before logging in is kept.
SESSION_LOCALE = "locale"

# What a role is called on the pages; views and templates show these, never ``role.value``.
ROLE_NAMES = {Role.PI: lazy_pgettext("role", "pi"), Role.CODER: lazy_pgettext("role", "coder")}

F = TypeVar("F", bound=Callable[..., Any])


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The logged-in user, from the id kept in the session cookie."""
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None


def wants_json() -> bool:
    """A request from a page's script: a ``.json`` route, a JSON body or an XHR header."""
    return (
        request.path.endswith(".json")
        or request.is_json
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
    )


@login_manager.unauthorized_handler
def unauthorized() -> Any:
    """Anonymous: a script gets 401 JSON (it keeps its data and retries), a person the login page."""
    if wants_json():
        return jsonify(error="login required"), 401
    flash(_("Please log in to access this page."), category=login_manager.login_message_category)
    return redirect(login_url(login_manager.login_view or "auth.login", next_url=request.url))


def admin_required(view: F) -> F:
    """Only the PI: others get 403, anonymous visitors the login page."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.role.can_administer():
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapped)


class LoginForm(FlaskForm):
    """User name and password."""

    username = StringField(_l("User name"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


_DUMMY_HASH: str | None = None


def _check_dummy(password: str) -> bool:
    """Spend the time of a real password check; always False."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash(secrets.token_hex(16))
    check_password_hash(_DUMMY_HASH, password)
    return False


def _safe_next(target: str | None) -> str | None:
    """Follow ``next`` only to a path on this site, never to another host."""
    if not target:
        return None
    # Browsers read a backslash as a slash and drop tabs and newlines, so "/\evil.example"
    # and "/<tab>/evil.example" both lead to another host, like "//evil.example".
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def login_limits() -> LoginLimits:
    """The rate limit of this app's configuration."""
    config = current_app.config
    return LoginLimits(
        per_name=int(config["LOGIN_LIMIT_PER_NAME"]),
        per_address=int(config["LOGIN_LIMIT_PER_ADDRESS"]),
        window=timedelta(minutes=int(config["LOGIN_LIMIT_WINDOW_MINUTES"])),
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the login form and log in; too many failures answer 429 until the window passes."""
    form = LoginForm()
    if form.validate_on_submit():
        username = form.username.data or ""
        address = request.remote_addr or "unknown"
        limits = login_limits()
        wait = login_limit_service.retry_after(db.session, username, address, limits)
        if wait is not None:
            minutes = math.ceil(wait / 60)
            flash(
                ngettext(
                    "Too many failed logins. Try again in %(num)d minute.",
                    "Too many failed logins. Try again in %(num)d minutes.",
                    minutes,
                ),
                "error",
            )
            response = make_response(render_template("auth/login.html", form=form), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        user = db.session.scalar(select(User).where(User.username == username))
        password = form.password.data or ""
        # Hash the password even for an unknown user, so that the response time does not
        # tell which user names exist.
        valid = user.check_password(password) if user is not None else _check_dummy(password)
        user_id = user.id if user is not None and user.active and valid else None
        # All above only read: end that transaction before writing, so that the write takes
        # SQLite's lock afresh instead of failing on a snapshot another writer has moved
        # past (annotator.database begins a login with a plain, deferred BEGIN).
        db.session.rollback()
        if user_id is None:
            login_limit_service.record_failure(db.session, username, address, limits)
            flash(_("Wrong user name or password."), "error")
            return render_template("auth/login.html", form=form), 401
        login_limit_service.clear_failures(db.session, username)
        user = db.session.get(User, user_id)
        # A fresh session: nothing of a session fixed by someone else survives the login.
        locale = session.get(SESSION_LOCALE)
        session.clear()
        if locale:
            session[SESSION_LOCALE] = locale
        login_user(user)
        now = int(clock())
        session[SESSION_LOGGED_IN_AT] = now
        session[SESSION_SEEN_AT] = now
        return redirect(_safe_next(request.args.get("next")) or url_for("index"))
    return render_template("auth/login.html", form=form)


# --- session expiry --------------------------------------------------------------------

# When the session logged in and when it last made a request, in seconds since the epoch.
SESSION_LOGGED_IN_AT = "logged_in_at"
SESSION_SEEN_AT = "seen_at"
# The last request is written back at most this often, not on every request.
_SEEN_RESOLUTION = 60


def clock() -> float:
    """Seconds since the epoch: the time sessions are measured in (tests replace it)."""
    return time.time()


def session_expired(now: float) -> bool:
    """Whether the logged-in session is past its idle timeout or its absolute lifetime.

    A session without the times (from before they were kept) counts as expired.
    """
    config = current_app.config
    logged_in_at = session.get(SESSION_LOGGED_IN_AT)
    seen_at = session.get(SESSION_SEEN_AT)
    if not isinstance(logged_in_at, int) or not isinstance(seen_at, int):
        return True
    idle = int(config["SESSION_IDLE_MINUTES"]) * 60
    lifetime = int(config["SESSION_LIFETIME_HOURS"]) * 3600
    return now - seen_at > idle or now - logged_in_at > lifetime


@bp.before_app_request
def expire_session() -> Any:
    """End a session that was idle too long or is too old: the login page, or 401 JSON."""
    if request.endpoint == "static" or "_user_id" not in session:
        return None
    now = clock()
    if session_expired(now):
        locale = session.get(SESSION_LOCALE)
        logout_user()
        session.clear()
        if locale:
            session[SESSION_LOCALE] = locale
        if wants_json():
            return jsonify(error="login required", reason="session expired"), 401
        flash(_("Your session has expired. Please log in again."), "info")
        return redirect(login_url("auth.login", next_url=request.url))
    if now - int(session[SESSION_SEEN_AT]) >= _SEEN_RESOLUTION:
        session[SESSION_SEEN_AT] = int(now)
    return None


@bp.post("/logout")
@login_required
def logout() -> Any:
    """Log out (a POST, so that a link on another site cannot do it).

    The whole session goes, CSRF secret included: a page left open from before cannot write
    with its old token. Only the interface language stays, so the login page keeps it.
    """
    locale = session.get(SESSION_LOCALE) or getattr(current_user, "locale", None)
    logout_user()
    session.clear()
    if locale:
        session[SESSION_LOCALE] = locale
    flash(_("Logged out."), "info")
    return redirect(url_for("auth.login"))


# --- the interface language ------------------------------------------------------------


def select_locale() -> str:
    """The language of this request: the person's choice, the session's, the browser's, English."""
    if not has_request_context():
        return DEFAULT_LOCALE
    if current_user.is_authenticated and current_user.locale in LOCALES:
        return str(current_user.locale)
    chosen = session.get(SESSION_LOCALE)
    if chosen in LOCALES:
        return str(chosen)
    return best_locale(request.accept_languages) or DEFAULT_LOCALE


@bp.app_context_processor
def language_context() -> dict[str, Any]:
    """What the language switch and ``<html lang>`` of every page need."""
    locale = str(get_locale() or DEFAULT_LOCALE)
    here = None
    # The switch comes back to the page it was on; a page that answered a POST (a form
    # with errors) cannot be fetched again, so from there it goes to the start page.
    if has_request_context() and request.method == "GET":
        query = request.query_string.decode("utf-8", "replace")
        here = request.path + ("?" + query if query else "")
    return {
        "current_locale": locale,
        "html_lang": html_lang(locale),
        "locales": LOCALES,
        "language_next": here,
        "role_names": ROLE_NAMES,
    }


@bp.post("/language")
def set_language() -> Any:
    """Choose the interface language: kept on the person, and in the session for the login page."""
    locale = request.form.get("locale", "")
    if locale not in LOCALES:
        abort(400, _("There is no interface language '%(locale)s'.", locale=locale))
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    session[SESSION_LOCALE] = locale
    return redirect(_safe_next(request.form.get("next")) or url_for("index"))


@bp.app_errorhandler(CSRFError)
def csrf_refused(error: CSRFError) -> Any:
    """A write without a valid CSRF token: JSON for scripts (they fetch a token and retry)."""
    if wants_json():
        return jsonify(error="csrf", message=error.description), 400
    return error
