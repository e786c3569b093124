"""gunicorn settings for annotator: `gunicorn -c deploy/gunicorn.conf.py`.

Every value can be changed without editing this file, through the environment (the systemd
unit's EnvironmentFile, compose's `environment:`):

    GUNICORN_BIND       where to listen (default 127.0.0.1:8000: only nginx on this host
                        reaches it; the Docker image sets 0.0.0.0:8000 inside its container)
    WEB_CONCURRENCY     worker processes (default: CPU cores + 1, at most 8)
    GUNICORN_THREADS    threads per worker (default 4)
    GUNICORN_TIMEOUT    seconds a request may take before its worker is replaced (default 120)
    FORWARDED_ALLOW_IPS the proxies whose X-Forwarded-Proto gunicorn believes (default
                        127.0.0.1,::1: nginx on the same host)
    GUNICORN_MAX_REQUESTS
                        requests after which a worker is replaced (default 20000, with up
                        to 10 % more at random so that workers are not replaced together)

The application itself is configured by its ANNOTATOR_* variables (README, Configuration).
See docs/deploy.md.
"""

from __future__ import annotations

import os
import sys
from typing import Any

wsgi_app = "annotator:create_app()"

bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]

# Threads rather than many processes: each worker holds its own copy of numpy, the
# reliability and export code and the PDF library, while most of a request's time is spent
# waiting for the database. Threads also keep a slow export from blocking a whole worker.
workers = int(os.environ.get("WEB_CONCURRENCY") or min((os.cpu_count() or 1) + 1, 8))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)

# An XLSX or SPSS export of a large project, or a reliability report with its bootstrap,
# can take tens of seconds; a request beyond this is stuck, and its worker is replaced.
# nginx's proxy_read_timeout (deploy/nginx/annotator.conf) is set a little longer.
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 120)
# On `systemctl reload` (HUP) or stop (TERM), requests in flight get this long to finish.
graceful_timeout = 30
# nginx keeps connections to gunicorn open between requests (`keepalive` in its upstream).
keepalive = 75
# Replace each worker now and then, staggered, so that a slow leak cannot grow for months;
# rarely, though: a new worker spends a second of CPU importing the app and then fills its
# caches (templates, parsed codebooks, rendered documents), and its first pages are slow.
# 20,000 requests is hours of a team's work, and about a minute of saves at full speed.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 20000)
max_requests_jitter = max_requests // 10

# No preload_app: each worker imports the app itself. Preloading would share some memory,
# but then a HUP (`systemctl reload annotator`, after an upgrade) would fork new workers
# from a master holding the *old* code; without it, a reload starts workers on the new code
# while the old ones finish their requests. It also keeps database connections out of the
# master, so that no connection is ever shared by forked processes.
preload_app = False

# nginx on the same host sets X-Forwarded-Proto; gunicorn believes it only from these
# addresses (the app's own ProxyFix, ANNOTATOR_PROXY_FIX=1, reads the client's address).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs to standard output and error: journald (systemd) or `docker compose logs` keep them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The usual combined format, with the client's address as forwarded by nginx and the time
# the request took in milliseconds (%(M)s), to find slow pages.
access_log_format = (
    '%(h)s %({x-forwarded-for}i)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
)

# The heartbeat files live in memory, not on a disk that may stall (Docker's overlay).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# gunicorn 25+ opens a control socket in the home folder; the service user has none, and
# systemd's signals do the same job.
control_socket_disable = True

# A request line as long as nginx lets through (its 8 KB header buffers): the reliability
# pages keep their filters in the query string. gunicorn's default is 4 KB.
limit_request_line = 8190


def post_worker_init(worker: Any) -> None:
    """Refuse to serve a database whose schema is not at the migrations' head.

    Runs in each worker once it has loaded the app. Exit code 3 is gunicorn's "worker failed
    to boot", on which the master stops rather than restarting workers in a loop; the log
    says what to do (`annotator db upgrade`). Migrations never run here: they are a step of
    their own (docs/deploy.md). A database that cannot be reached at that moment only gets
    a warning: workers are replaced at any time (max_requests, a crash), and a database
    restart then must not take the whole server down.
    """
    from annotator import MIGRATIONS_DIR
    from annotator.extensions import db
    from annotator.schema import SchemaOutOfDate, check_schema

    app = worker.wsgi
    with app.app_context():
        try:
            check_schema(db.engine, MIGRATIONS_DIR)
        except SchemaOutOfDate as error:
            worker.log.error("annotator cannot start: %s", error)
            sys.exit(3)
        except Exception as error:
            # The database is unreachable (restarting, say) while a worker is replaced: not
            # a reason to stop the whole server. Requests get 503 until it is back.
            reason = (str(getattr(error, "orig", None) or error).strip().splitlines() or [""])[0]
            worker.log.warning("cannot check the database schema now (%s); serving anyway", reason)
        finally:
            db.engine.dispose()
