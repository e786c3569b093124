#!/usr/bin/env bash
# Build the image and run the compose stack of deploy/compose.yaml end to end, then remove it.
#
#   bash deploy/check-compose.sh
#
# Needs a Docker engine and Compose (`docker compose`, or the older `docker-compose`, which
# does not know the file's top-level `name:`: it is given as -p instead). The stack gets
# throw-away secrets and its own project name, so that it cannot touch a deployment on the
# same host, and listens on 127.0.0.1:8000 as the file says (that port must be free).
#
# What it checks, through the published port as nginx would reach it:
#   1. `migrate` ran `annotator db upgrade` and exited 0; the app became healthy;
#   2. the login page, with the production headers (HSTS, a Secure session cookie);
#   3. a PI (added with `annotator users add` in the container) logs in, loads the study
#      codebook and uploads a PDF through the web pages;
#   4. `annotator backup` in the container (pg_dump from the image) writes an archive;
#   5. the app container restarted, and the whole stack stopped and started again, keep
#      the document, the codebook and the PI (the volumes).
#
# For a machine that cannot pull python:3.11-slim-bookworm and postgres:15 from Docker Hub,
# deploy/local-base-images.sh builds stand-ins for both from Debian's packages.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROJECT=annotator-check
WORK=$(mktemp -d)
trap 'compose down -v --remove-orphans >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
    FILE=deploy/compose.yaml
else
    COMPOSE=(docker-compose)
    FILE=deploy/compose.check-v1.yaml
    sed '/^name: /d' deploy/compose.yaml > "$FILE"
    trap 'compose down -v --remove-orphans >/dev/null 2>&1 || true; rm -rf "$WORK" "$ROOT/$FILE"' EXIT
fi
ENV_FILE="$WORK/env"
secret() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }
printf 'ANNOTATOR_SECRET_KEY=%s\nPOSTGRES_PASSWORD=%s\n' "$(secret)" "$(secret)" > "$ENV_FILE"
compose() { "${COMPOSE[@]}" -p "$PROJECT" --env-file "$ENV_FILE" -f "$FILE" "$@"; }

step() { printf '\n== %s\n' "$*"; }

step "build and start"
compose up -d --build
migrate=$(compose ps -q migrate)
[ "$(docker inspect -f '{{.State.ExitCode}}' "$migrate")" = 0 ] || {
    compose logs migrate
    exit 1
}
echo "migrate: exit 0"
app=$(compose ps -q app)
wait_healthy() {
    for _ in $(seq 1 90); do
        status=$(docker inspect -f '{{.State.Health.Status}}' "$app")
        [ "$status" = healthy ] && echo "app: healthy" && return 0
        sleep 2
    done
    compose logs app
    echo "app: $status after 180 s" >&2
    return 1
}
wait_healthy

step "a PI, a codebook and a document, through the web pages"
PI_PASSWORD=$(secret)
printf '%s\n%s\n' "$PI_PASSWORD" "$PI_PASSWORD" | compose exec -T app annotator users add pi --role pi
python3 - "$PI_PASSWORD" "$ROOT" <<'EOF'
import http.cookiejar, re, sys, urllib.parse, urllib.request, uuid
from pathlib import Path

password, root = sys.argv[1], Path(sys.argv[2])
base = "http://127.0.0.1:8000"


class BehindTLS(http.cookiejar.DefaultCookiePolicy):
    """Send the Secure cookie over this plain HTTP hop, as nginx does after TLS."""

    def return_ok_secure(self, cookie, request):
        return True


# As nginx forwards it: the app was told (ANNOTATOR_PROXY_FIX=1) to believe this header,
# and its Secure cookie then travels.
HEADERS = {"X-Forwarded-Proto": "https", "Referer": "https://127.0.0.1:8000/"}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


jar = http.cookiejar.CookieJar(BehindTLS())
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())


def call(path, data=None, content_type=None):
    headers = dict(HEADERS)
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(base + path, data=data, headers=headers)
    try:
        with opener.open(request) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def token(html):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def multipart(fields, files):
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


status, headers, html = call("/login")
assert status == 200, status
assert headers.get("Strict-Transport-Security"), headers
assert "Secure" in headers.get("Set-Cookie", ""), headers.get("Set-Cookie")
print("login page: 200, HSTS, Secure session cookie")
form = urllib.parse.urlencode({"username": "pi", "password": password, "csrf_token": token(html)})
status, headers, html = call("/login", form.encode(), "application/x-www-form-urlencoded")
assert status == 302, (status, re.findall(r'class="(?:flash|field-error)[^"]*">([^<]*)', html))
print("the PI logs in")

status, _, html = call("/admin/codebooks")
body, kind = multipart(
    {"csrf_token": token(html)},
    {"file": ("wechat_policing.yaml", (root / "codebook" / "wechat_policing.yaml").read_bytes())},
)
status, _, html = call("/admin/codebooks", body, kind)
assert status in (200, 302), (status, html[-2000:])
status, _, html = call("/admin/codebooks")
assert "wechat_policing" in html
print("codebook loaded through the web page")

status, _, html = call("/documents/upload")
pdf = root / "tests" / "fixtures" / "zh_cid_font.pdf"
body, kind = multipart({"csrf_token": token(html)}, {"files": (pdf.name, pdf.read_bytes())})
status, _, html = call("/documents/upload", body, kind)
assert status == 200 and "imported 1, duplicates 0, refused 0" in html, (status, html[-2000:])
print("a PDF uploaded through the web page: imported 1")
EOF

step "annotator backup in the container"
compose exec -T app annotator backup --out /data
compose exec -T app sh -c 'ls -l /data/*.tar.gz && tar -tzf /data/*.tar.gz | head -5'

check_kept() {
    python3 - <<'EOF'
import urllib.request
with urllib.request.urlopen("http://127.0.0.1:8000/login") as response:
    assert response.status == 200
EOF
    compose exec -T app annotator users list | grep -P '^pi\tpi\t'
    compose exec -T app annotator codebook list | grep wechat_policing
    compose exec -T db psql -U annotator -d annotator -tAc "SELECT filename FROM document" | grep zh_cid_font.pdf
}

step "the app container restarted"
compose restart app
app=$(compose ps -q app)
wait_healthy
check_kept

step "the whole stack stopped and started again (the volumes stay)"
compose down
compose up -d
app=$(compose ps -q app)
wait_healthy
check_kept

step "all checks passed"
