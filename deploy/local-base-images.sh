#!/usr/bin/env bash
# Stand-ins for the two images deploy/compose.yaml starts from, built from Debian bookworm's
# own packages, for a machine that reaches Debian's archive and PyPI but not Docker Hub:
#
#   python:3.11-slim-bookworm   Debian's python3 (3.11) and pip, `python` and `pip` on the
#                               PATH, pip allowed to install system-wide, as in the official
#                               image;
#   postgres:15                 Debian's postgresql-15, started by an entrypoint that honours
#                               POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB on first start
#                               (deploy/local-base-images/postgres-entrypoint.sh).
#
#   sudo bash deploy/local-base-images.sh      # needs root (debootstrap) and a Docker engine
#
# Then `docker compose -f deploy/compose.yaml up -d --build` (or deploy/check-compose.sh)
# builds on them without pulling. Where HTTPS goes through a proxy with its own certificate
# authority, the host's CA bundle is copied into the Python image (PIP_CERT), so that pip
# inside the build reaches PyPI. These are not the official images: use those wherever
# they can be pulled.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)/local-base-images"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== Debian bookworm (debootstrap, minbase)"
debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" > "$WORK/debootstrap.log"
rm -f "$WORK"/rootfs/var/cache/apt/archives/*.deb
tar -C "$WORK/rootfs" -c . | docker import - annotator-local/debian:bookworm

echo "== python:3.11-slim-bookworm"
mkdir "$WORK/python"
cp /etc/ssl/certs/ca-certificates.crt "$WORK/python/host-ca.crt"
cat > "$WORK/python/Dockerfile" <<'DOCKERFILE'
FROM annotator-local/debian:bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3 /usr/local/bin/python \
    && ln -s /usr/bin/pip3 /usr/local/bin/pip \
    && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED
COPY host-ca.crt /etc/ssl/certs/ca-certificates.crt
ENV LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
DOCKERFILE
docker build -q -t python:3.11-slim-bookworm "$WORK/python"

echo "== postgres:15"
mkdir "$WORK/postgres"
cp "$HERE/postgres-entrypoint.sh" "$WORK/postgres/docker-entrypoint.sh"
cat > "$WORK/postgres/Dockerfile" <<'DOCKERFILE'
FROM annotator-local/debian:bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 5432
CMD ["postgres"]
DOCKERFILE
docker build -q -t postgres:15 "$WORK/postgres"
docker images python:3.11-slim-bookworm
docker images postgres:15
