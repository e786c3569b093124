"""Response headers that hold on every page: a strict Content-Security-Policy and friends.

No inline script, no ``eval``, nothing from another origin: an uploaded document that
slips a script into a page still cannot run it. The one addition is ``'wasm-unsafe-eval'``,
which lets the vendored pdf.js compile its WebAssembly image decoders (JBIG2, JPEG 2000,
colour management); it allows WebAssembly only, not ``eval`` of JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response
from werkzeug.routing import IntegerConverter

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Nothing here needs a camera, a microphone, the location or the other powerful features.
    "Permissions-Policy": ", ".join(
        f"{feature}=()"
        for feature in (
            "camera",
            "microphone",
            "geolocation",
            "payment",
            "usb",
            "serial",
            "bluetooth",
            "display-capture",
            "browsing-topics",
        )
    ),
}

# Sent only when the cookies are marked Secure, i.e. the site is served over HTTPS: a
# browser then refuses plain HTTP to it for a year. Subdomains are left out, as they may
# be other people's sites.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"

# The largest id a route takes: PostgreSQL's integer, and beyond any row this app makes.
LARGEST_ID = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """``<int:...>`` in routes, up to the largest database id.

    An id too large for the database's integer column would make SQLite and PostgreSQL
    raise (a 500); outside the range, the URL matches no route, a 404 like any missing row.
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", LARGEST_ID)
        super().__init__(map, *args, **kwargs)


def init_url_converters(app: Flask) -> None:
    """Bound ``<int:...>`` in routes; call before registering the blueprints."""
    app.url_map.converters["int"] = DatabaseIdConverter


def production_warnings(config: Mapping[str, Any]) -> list[str]:
    """What in a configuration is unsafe on a server that others reach.

    Warnings rather than refusals: ``annotator serve`` on a laptop, reached at 127.0.0.1
    over plain HTTP, is a legitimate use; a missing secret key is refused in ``config``.
    """
    warnings = []
    if not config.get("SESSION_COOKIE_SECURE"):
        warnings.append(
            "ANNOTATOR_SECURE_COOKIES is off: the session cookie also travels over plain HTTP. "
            "Set it to 1 when the site is served over HTTPS (this also sends HSTS)."
        )
    if len(str(config.get("SECRET_KEY") or "")) < 32:
        warnings.append(
            "ANNOTATOR_SECRET_KEY is shorter than 32 characters: generate a long random one."
        )
    return warnings


def init_app(app: Flask) -> None:
    """Add the security headers to every response, and warn of an unsafe configuration."""
    if app.config.get("PRODUCTION_WARNINGS", True) and not app.testing and not app.debug:
        for warning in production_warnings(app.config):
            app.logger.warning("%s", warning)
    hsts = bool(app.config.get("SESSION_COOKIE_SECURE"))

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        return response
