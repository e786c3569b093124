# annotator under gunicorn (deploy/gunicorn.conf.py). Built and run by deploy/compose.yaml;
# see docs/deploy.md. The image holds no secret and no data: settings come from the
# environment, the documents from a volume at /data.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# pg_dump/pg_restore/psql for `annotator backup` and `restore` against the compose
# PostgreSQL (version 15, as in Debian bookworm).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system annotator \
    && useradd --system --gid annotator --home-dir /app --shell /usr/sbin/nologin annotator

WORKDIR /app
# Installed in place (-e): the migrations folder sits beside the package, not inside it,
# and `annotator db upgrade` finds it there (annotator.MIGRATIONS_DIR).
COPY pyproject.toml README.md LICENSE ./
COPY annotator ./annotator
COPY migrations ./migrations
RUN pip install -e .
COPY deploy/gunicorn.conf.py ./deploy/gunicorn.conf.py

RUN mkdir -p /data/documents && chown -R annotator:annotator /data
VOLUME ["/data"]

USER annotator
ENV ANNOTATOR_DATA_DIR=/data/documents \
    ANNOTATOR_INSTANCE_PATH=/data \
    GUNICORN_BIND=0.0.0.0:8000
EXPOSE 8000

CMD ["gunicorn", "--config", "/app/deploy/gunicorn.conf.py"]
