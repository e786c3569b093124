"""The deployment files in deploy/: gunicorn and nginx for real, the rest read and checked.

gunicorn runs with deploy/gunicorn.conf.py on a SQLite project (only its address changed),
and nginx with deploy/nginx/annotator.conf (its ports, certificate and folders changed) as
the proxy in front of it, over TLS with a certificate made here by openssl. Without nginx
or openssl those tests are skipped, except in CI (``CI=true``), where they fail:
scripts/install-system-deps.sh installs both. The Dockerfile and deploy/compose.yaml are
only read here: the tests need no Docker engine. deploy/check-compose.sh builds and runs
them, by hand (docs/deploy.md).
"""

from __future__ import annotations

import configparser
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import request
from sqlalchemy import create_engine, inspect

from annotator import config as configuration
from annotator import create_app
from annotator.security import HEADERS, STRICT_TRANSPORT_SECURITY

from .conftest import CSRF_INPUT, FIXTURES, ROOT

DEPLOY = ROOT / "deploy"
GUNICORN = Path(sys.executable).with_name("gunicorn")
ANNOTATOR = Path(sys.executable).with_name("annotator")
STATIC = ROOT / "annotator" / "static"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _needed(name: str, *extra: str) -> str:
    """A system program the test needs: skipped without it, failed without it in CI."""
    found = shutil.which(name) or next((p for p in extra if os.access(p, os.X_OK)), None)
    if found:
        return found
    message = f"{name} is not installed (scripts/install-system-deps.sh installs it)"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must test the deployment files")
    pytest.skip(message)


def _wait_for_port(
    port: int, process: subprocess.Popen[Any], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} after {timeout} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- gunicorn ------------------------------------------------------------------------------


@dataclass
class Served:
    """gunicorn serving a small project: one PI, one HTML document."""

    port: int
    log: Path
    password: str
    document_id: int
    env: dict[str, str]


def _environment(folder: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANNOTATOR_", "GUNICORN_"))}
    env.pop("WEB_CONCURRENCY", None)
    return env | {
        "ANNOTATOR_SECRET_KEY": "deploy-test-secret",
        "ANNOTATOR_DATABASE_URL": f"sqlite:///{folder / 'annotator.sqlite3'}",
        "ANNOTATOR_DATA_DIR": str(folder / "documents"),
        "ANNOTATOR_INSTANCE_PATH": str(folder / "instance"),
        "ANNOTATOR_PROXY_FIX": "1",
        "ANNOTATOR_SECURE_COOKIES": "1",
        # Only the address differs from the file's defaults; two workers, as on a server.
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
    }


def _gunicorn(env: dict[str, str], folder: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(GUNICORN), "--config", str(DEPLOY / "gunicorn.conf.py")],
        env=env,
        cwd=folder,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served")
    port = _free_port()
    env = _environment(folder, port)

    def annotator(*args: str) -> str:
        result = subprocess.run(
            [str(ANNOTATOR), *args], env=env, cwd=folder, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    annotator("db", "upgrade")
    annotator("import", str(FIXTURES / "report.html"), "--quiet")
    added = annotator("users", "add", "pi", "--role", "pi", "--generate-password")
    password = re.search(r"^password: (\S+)$", added, re.MULTILINE)
    assert password
    log = folder / "gunicorn.log"
    process = _gunicorn(env, folder, log)
    try:
        _wait_for_port(port, process, log)
        yield Served(port, log, password.group(1), 1, env)
    finally:
        _stop(process)


def test_gunicorn_serves_the_app_with_its_headers(served: Served) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    connection.request("GET", "/login")
    response = connection.getresponse()
    body = response.read().decode()
    assert response.status == 200
    assert 'name="csrf_token"' in body
    for name, value in HEADERS.items():
        assert response.getheader(name) == value
    assert response.getheader("Server", "").startswith("gunicorn")
    # The access log line carries the time the request took.
    deadline = time.monotonic() + 5
    while "GET /login" not in served.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert re.search(r'"GET /login HTTP/1.1" 200 \d+ .* \d+ms$', served.log.read_text(), re.M)


@pytest.mark.slow
def test_gunicorn_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    port = _free_port()
    env = _environment(tmp_path, port)
    log = tmp_path / "gunicorn.log"
    process = _gunicorn(env, tmp_path, log)
    try:
        process.wait(timeout=60)
    finally:
        _stop(process)
    output = log.read_text()
    assert process.returncode != 0
    assert "annotator cannot start: the database sqlite:///" in output
    assert "has no schema yet: run `annotator db upgrade`" in output
    assert "Worker failed to boot" in output
    # Nothing was created: migrations are a step of their own, never the server's.
    engine = create_engine(env["ANNOTATOR_DATABASE_URL"])
    assert inspect(engine).get_table_names() == []
    engine.dispose()


@pytest.mark.slow
def test_gunicorn_keeps_serving_when_the_database_is_unreachable(tmp_path: Path) -> None:
    # A worker replaced while PostgreSQL restarts must not stop the whole server.
    port = _free_port()
    env = _environment(tmp_path, port)
    env["ANNOTATOR_DATABASE_URL"] = f"postgresql://nobody@127.0.0.1:{_free_port()}/none"
    log = tmp_path / "gunicorn.log"
    process = _gunicorn(env, tmp_path, log)
    try:
        _wait_for_port(port, process, log)
        deadline = time.monotonic() + 30
        while log.read_text().count("cannot check the database schema now") < 2:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/login")
        assert connection.getresponse().status == 200
        assert process.poll() is None
    finally:
        _stop(process)


# --- the app behind a proxy ------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "expected"),
    [
        ("0", "http://localhost/where 127.0.0.1"),
        ("1", "https://annotator.example.org/where 203.0.113.9"),
    ],
)
def test_proxy_fix_trusts_forwarded_headers_only_when_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, proxies: str, expected: str
) -> None:
    monkeypatch.setenv("ANNOTATOR_PROXY_FIX", proxies)
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/a"})
    app.add_url_rule("/where", "where", lambda: f"{request.url} {request.remote_addr}")
    response = app.test_client().get(
        "/where",
        headers={
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "annotator.example.org",
        },
    )
    assert response.get_data(as_text=True) == expected


def test_proxy_fix_setting_must_be_a_number() -> None:
    with pytest.raises(configuration.ConfigurationError, match="ANNOTATOR_PROXY_FIX must be"):
        configuration.from_environment("/tmp", {"ANNOTATOR_PROXY_FIX": "yes"})


# --- nginx -----------------------------------------------------------------------------------


def _site_for_test(ports: dict[str, int], certificate: Path, key: str) -> str:
    """The site file with only what a test must change: ports, certificate, folders."""
    site = (DEPLOY / "nginx" / "annotator.conf").read_text()
    replacements = [
        ("listen 80;", f"listen 127.0.0.1:{ports['http']};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{ports['https']} ssl http2;"),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{ports['app']};"),
        (
            "/etc/letsencrypt/live/annotator.example.org/fullchain.pem",
            str(certificate),
        ),
        ("/etc/letsencrypt/live/annotator.example.org/privkey.pem", key),
        ("/opt/annotator/src/annotator/static/", f"{STATIC}/"),
    ]
    for old, new in replacements:
        assert old in site, f"{old!r} is no longer in the site file: update this test"
        site = site.replace(old, new)
    # IPv6 may be missing where the tests run; the IPv4 lines above stand for them.
    return re.sub(r"^\s*listen \[::\]:.*$", "", site, flags=re.M)


@pytest.fixture(scope="module")
def nginx(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    binary = _needed("nginx", "/usr/sbin/nginx")
    openssl = _needed("openssl")
    folder = tmp_path_factory.mktemp("nginx")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=annotator.example.org",
         "-addext", "subjectAltName=DNS:annotator.example.org,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )  # fmt: skip
    ports = {"http": _free_port(), "https": _free_port(), "app": served.port}
    (folder / "site.conf").write_text(_site_for_test(ports, certificate, str(key)))
    shutil.copyfile("/etc/nginx/mime.types", folder / "mime.types")
    # As root, nginx's workers would run as nobody, who cannot read pytest's folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(
        f"{user}worker_processes 1;\ndaemon off;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log info;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n  include mime.types;\n  access_log {folder}/access.log;\n"
        + "".join(
            f"  {name}_temp_path {folder}/{name};\n"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + "  include site.conf;\n}\n"
    )
    command = [binary, "-p", str(folder), "-c", str(folder / "nginx.conf")]
    tested = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stderr
    log = folder / "nginx.out"
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        _wait_for_port(ports["https"], process, log)
        context = ssl.create_default_context(cafile=str(certificate))
        context.check_hostname = False
        yield {"ports": ports, "context": context, "tested": tested.stderr}
    finally:
        _stop(process, signal.SIGQUIT)


def _https(nginx: dict[str, Any], path: str, **kwargs: Any) -> http.client.HTTPResponse:
    connection = http.client.HTTPSConnection(
        "127.0.0.1", nginx["ports"]["https"], context=nginx["context"], timeout=30
    )
    connection.request("GET", path, **kwargs)
    return connection.getresponse()


def test_nginx_accepts_the_site(nginx: dict[str, Any]) -> None:
    assert "syntax is ok" in nginx["tested"] and "test is successful" in nginx["tested"]


def test_nginx_redirects_http_to_https(nginx: dict[str, Any]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", nginx["ports"]["http"], timeout=10)
    connection.request("GET", "/login?next=%2F", headers={"Host": "evil.example"})
    response = connection.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == "https://annotator.example.org/login?next=%2F"


def test_nginx_serves_static_files_itself(nginx: dict[str, Any]) -> None:
    response = _https(nginx, "/static/app.css")
    assert response.status == 200
    assert response.read() == (STATIC / "app.css").read_bytes()
    assert response.getheader("Server") == "nginx"  # not gunicorn: nginx read it from disk
    assert response.getheader("Cache-Control") == "max-age=3600"
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Strict-Transport-Security") == STRICT_TRANSPORT_SECURITY

    (module,) = STATIC.glob("vendor/pdfjs-*/build/pdf.min.mjs")
    response = _https(nginx, f"/static/{module.relative_to(STATIC)}")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/javascript"  # browsers run modules only so
    assert response.getheader("Cache-Control") == "max-age=2592000"
    response.read()

    missing = _https(nginx, "/static/../annotator.sqlite3")
    assert missing.status in (400, 404)


def test_the_app_through_nginx(nginx: dict[str, Any], served: Served) -> None:
    response = _https(nginx, "/login")
    assert response.status == 200
    for name, value in HEADERS.items():
        assert response.getheader(name) == value
    # Once: the app's (ANNOTATOR_SECURE_COOKIES=1), not a second one from nginx.
    assert response.getheader("Strict-Transport-Security") == STRICT_TRANSPORT_SECURITY
    response.read()


def test_an_original_file_is_served_by_the_app_with_its_headers(
    nginx: dict[str, Any], served: Served
) -> None:
    base = f"https://127.0.0.1:{nginx['ports']['https']}"
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=nginx["context"]),
        urllib.request.HTTPCookieProcessor(CookieJar()),
    )
    page = opener.open(f"{base}/login").read().decode()
    match = CSRF_INPUT.search(page)
    assert match
    form = {
        "username": "pi",
        "password": served.password,
        "csrf_token": match.group(1) or match.group(2),
    }
    # Over HTTPS Flask-WTF wants a Referer of this very host: it holds only if nginx's
    # X-Forwarded-Host/-Port reach the app through ProxyFix.
    logged_in = opener.open(
        urllib.request.Request(
            f"{base}/login",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Referer": f"{base}/login"},
        )
    )
    assert logged_in.status == 200 and "/login" not in logged_in.url  # the Secure cookie held
    original = opener.open(f"{base}/documents/{served.document_id}/file")
    assert original.read() == (FIXTURES / "report.html").read_bytes()
    assert original.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert original.headers["Content-Disposition"].startswith("attachment")
    assert original.headers["Server"] == "nginx"


def test_nginx_takes_uploads_as_large_as_the_app_does() -> None:
    site = (DEPLOY / "nginx" / "annotator.conf").read_text()
    (limit,) = re.findall(r"^\s*client_max_body_size (\d+)m;", site, re.M)
    app_limit = configuration.from_environment("/tmp", {})["MAX_CONTENT_LENGTH"]
    assert int(limit) * configuration.MEGABYTE == app_limit


# --- read only: systemd, Docker --------------------------------------------------------------


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def test_the_systemd_units() -> None:
    service = _unit("annotator.service")["Service"]
    assert service["User"] == "annotator" and service["User"] != "root"
    assert service["ExecStart"].endswith("--config /opt/annotator/src/deploy/gunicorn.conf.py")
    assert service["EnvironmentFile"] == "/etc/annotator/annotator.env"
    assert service["ExecReload"] == "/bin/kill -s HUP $MAINPID"  # gunicorn's graceful reload
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert service[option] == "yes", option
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/annotator"
    assert service["CapabilityBoundingSet"] == ""

    backup = _unit("annotator-backup.service")["Service"]
    assert backup["Type"] == "oneshot" and backup["User"] == "annotator"
    assert (
        backup["ExecStart"]
        == "/opt/annotator/venv/bin/annotator backup --out /var/backups/annotator/"
    )
    assert "/var/backups/annotator" in backup["ReadWritePaths"].split()
    timer = _unit("annotator-backup.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed")
    for unit in (DEPLOY / "systemd").iterdir():
        shutil.copyfile(unit, tmp_path / unit.name)
    result = subprocess.run(
        [analyze, "verify", *sorted(p.name for p in tmp_path.iterdir())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The programs live where docs/deploy.md installs them, not here; anything else (an
    # unknown option, a misspelt section) is a mistake in the files.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable: No such file or directory" not in line
    ]
    assert problems == []


def test_the_compose_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "migrate", "app"}
    db = services["db"]
    assert db["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    assert services["migrate"]["command"] == ["annotator", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    app = services["app"]
    assert app["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert "command" not in app  # the image's CMD: gunicorn with deploy/gunicorn.conf.py
    assert app["ports"] == ["127.0.0.1:8000:8000"]
    for service in ("migrate", "app"):
        environment = services[service]["environment"]
        assert environment["ANNOTATOR_DATABASE_URL"].startswith("postgresql://annotator:")
        assert environment["ANNOTATOR_DATABASE_URL"].endswith("@db:5432/annotator")
        assert environment["ANNOTATOR_SECRET_KEY"].startswith("${ANNOTATOR_SECRET_KEY:?")
        assert (services[service]["build"]["context"], services[service]["image"]) == (
            "..",
            "annotator:latest",
        )
    named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert named == set(compose["volumes"])


def test_the_dockerfile() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim-bookworm"
    for line in lines:
        if line.startswith("COPY "):
            *sources, _target = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
    users = [line for line in lines if line.startswith("USER ")]
    assert users and users[-1] != "USER root"
    assert lines.index(users[-1]) > max(i for i, line in enumerate(lines) if line.startswith("RUN"))
    assert lines[-1] == 'CMD ["gunicorn", "--config", "/app/deploy/gunicorn.conf.py"]'
    assert "COPY deploy/gunicorn.conf.py ./deploy/gunicorn.conf.py" in lines
    assert "RUN pip install -e ." in lines  # the migrations stay beside the package
