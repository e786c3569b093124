#!/usr/bin/env bash
# Install the Debian packages the test suite needs, if they are missing:
# PostgreSQL (server binaries initdb/pg_ctl), Chromium for the browser tests (tests/browser
# drive /usr/bin/chromium), a Chinese font so that their screenshots show Chinese glyphs, and
# nginx and openssl for the deployment tests.
# Runs apt-get only as root.
set -euo pipefail

missing=()
have_initdb() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
have_initdb || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
# tests/test_deploy.py runs deploy/nginx/annotator.conf in front of gunicorn, over TLS with a
# certificate made by openssl.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
  echo "Tests that need them are skipped outside CI and fail in CI." >&2
  exit 0
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
