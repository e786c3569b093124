"""Benchmark: the server side of coding: saving a label set, and serving the coding page.

Targets (docs/benchmarks.md), measured through the Flask test client on the real app:

* saving a label set (POST /code/<id>/labels.json, JSON, CSRF token in the header, a
  logged-in coder, a value that changes every time so that every save writes): p95 under
  10 ms over 1,000 sequential saves;
* the coding page of a Chinese PDF with labels and evidence (GET /code/<id>): p50 under
  20 ms over 300 requests.

    .venv/bin/python bench/coding.py                      # a new SQLite file
    .venv/bin/python bench/coding.py --postgres           # a throw-away PostgreSQL server
    .venv/bin/python bench/coding.py --database-url postgresql://user@127.0.0.1/db
    .venv/bin/python bench/coding.py --profile            # cProfile of the slowest part

A database given with --database-url must be empty; the benchmark migrates it to head.
The study codebook (codebook/wechat_policing.yaml) and tests/fixtures/zh_cid_font.pdf are
the data. The times include the test client's own work (building the WSGI environ and
reading the response), so they are an upper bound of the server's time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CODEBOOK = ROOT / "codebook" / "wechat_policing.yaml"
PDF = ROOT / "tests" / "fixtures" / "zh_cid_font.pdf"
PASSWORD = "correct horse battery"
SAVES = 1000
PAGE_LOADS = 300
SAVE_P95_TARGET_MS = 10.0
PAGE_P50_TARGET_MS = 20.0
WARM_UP = 20
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def percentile(samples: list[float], share: float) -> float:
    """The nearest-rank percentile of samples (share between 0 and 1)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def make_app(database_url: str, data_dir: Path) -> Any:
    """The real app on a database migrated to head, with the study's data in it."""
    from flask_migrate import upgrade

    from annotator import MIGRATIONS_DIR, create_app

    app = create_app(
        {"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": database_url, "DATA_DIR": str(data_dir)}
    )
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
    return app


def assign_pdf(app: Any, pdf: Path) -> tuple[Any, Any, Any]:
    """Load the study codebook, import ``pdf`` and assign it to a new coder.

    Returns (document, coder, codebook); call inside the app context.
    """
    from annotator.extensions import db
    from annotator.models import Document, Role
    from annotator.services import assignments, users
    from annotator.services.codebooks import load_codebook_text
    from annotator.services.documents import import_files

    codebook = load_codebook_text(
        db.session, CODEBOOK.read_text(encoding="utf-8"), CODEBOOK.name
    ).version.codebook
    report = import_files(
        db.session,
        [pdf],
        data_dir=app.config["DATA_DIR"],
        max_bytes=app.config["MAX_DOCUMENT_BYTES"],
    )
    assert not report.refused, report.summary_lines()
    document = db.session.get(Document, report.outcomes[0].document_id)
    assert document is not None
    coder = users.add_user(db.session, "coder", Role.CODER, PASSWORD)
    assignments.assign_by_hand(db.session, document, coder, codebook)
    return document, coder, codebook


def seed(app: Any) -> int:
    """Load the codebook, import the PDF, add a coder and assign; return the document id."""
    from sqlalchemy import select

    from annotator.extensions import db
    from annotator.models import Page
    from annotator.services import labels as label_service

    with app.app_context():
        document, coder, codebook = assign_pdf(app, PDF)
        version = codebook.latest
        assert version is not None
        label_set = label_service.label_set_for(db.session, document, coder, version, create=True)
        assert label_set is not None
        label_service.save_labels(
            db.session,
            label_set,
            coder,
            {
                "service_type": ["public_relations", "crime_reporting"],
                "integration_depth": "operational",
                "data_collected": ["real_name", "phone"],
                "city": "杭州市",
                "vendor": "某某科技有限公司",
                "year": 2019,
            },
            note="基准测试",
        )
        for number in (1, 2):
            text = db.session.scalar(
                select(Page.text).where(Page.document_id == document.id, Page.number == number)
            )
            lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
            quote = lines[0][:12] if lines else ""
            if quote:
                label_service.add_evidence(
                    db.session,
                    label_set,
                    coder,
                    variable="integration_depth" if number == 1 else "city",
                    page=number,
                    quote=quote,
                )
        db.session.commit()
        return document.id


def logged_in_client(app: Any, document_id: int) -> tuple[Any, str]:
    """A test client logged in as the coder, and the CSRF token of its session."""
    client = app.test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True))
    assert token, "no CSRF token on the login page"
    response = client.post(
        "/login", data={"username": "coder", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code == 302, response.status_code
    page = client.get(f"/code/{document_id}")
    assert page.status_code == 200, page.status_code
    token = CSRF.search(page.get_data(as_text=True))
    assert token, "no CSRF token on the coding page"
    return client, token.group(1)


def time_saves(client: Any, token: str, document_id: int, count: int) -> list[float]:
    """Milliseconds per save, each changing a value so that every save writes."""
    url = f"/code/{document_id}/labels.json"
    headers = {"X-CSRFToken": token}
    samples = []
    for index in range(count + WARM_UP):
        payload = {"values": {"service_count": index % 50 + 1, "account_name": f"公众号 {index}"}}
        start = time.perf_counter()
        response = client.post(url, json=payload, headers=headers)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise SystemExit(
                f"save {index}: {response.status_code} {response.get_data(as_text=True)}"
            )
        if index >= WARM_UP:
            samples.append(elapsed)
    return samples


def time_pages(client: Any, document_id: int, count: int) -> list[float]:
    """Milliseconds per coding page."""
    url = f"/code/{document_id}"
    samples = []
    for index in range(count + WARM_UP):
        start = time.perf_counter()
        response = client.get(url)
        body = response.get_data()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200 or b"data-pdf-viewer" not in body:
            raise SystemExit(f"page {index}: {response.status_code}")
        if index >= WARM_UP:
            samples.append(elapsed)
    return samples


def profile(label: str, work: Callable[[], object]) -> None:
    """Run work under cProfile and print the 25 most costly functions (cumulative)."""
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    print(f"\n--- profile: {label} ---")
    pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="an empty database to use (default: SQLite file)")
    parser.add_argument(
        "--postgres", action="store_true", help="start a throw-away PostgreSQL server and use it"
    )
    parser.add_argument("--saves", type=int, default=SAVES)
    parser.add_argument("--pages", type=int, default=PAGE_LOADS)
    parser.add_argument("--profile", action="store_true", help="print cProfile of both parts")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="annotator-bench-coding-"))
    server = None
    if args.postgres:
        from tests.pgserver import PostgresServer

        server = PostgresServer.start()
        url = server.create_database("annotator_bench")
    else:
        url = args.database_url or f"sqlite:///{scratch / 'bench.sqlite3'}"
    try:
        app = make_app(url, scratch / "data")
        document_id = seed(app)
        client, token = logged_in_client(app, document_id)
        database = url.split(":")[0].split("+")[0]
        print(
            f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; database: {database}"
        )

        saves = time_saves(client, token, document_id, args.saves)
        save_p95 = percentile(saves, 0.95)
        save_ok = save_p95 < SAVE_P95_TARGET_MS
        print(
            f"save label set ({len(saves)} sequential saves): p50 {percentile(saves, 0.5):.2f} ms, "
            f"p95 {save_p95:.2f} ms, p99 {percentile(saves, 0.99):.2f} ms, max {max(saves):.2f} ms"
            f" — target p95 < {SAVE_P95_TARGET_MS:.0f} ms: {'met' if save_ok else 'NOT MET'}"
        )

        pages = time_pages(client, document_id, args.pages)
        page_p50 = percentile(pages, 0.5)
        page_ok = page_p50 < PAGE_P50_TARGET_MS
        print(
            f"coding page ({len(pages)} requests): p50 {page_p50:.2f} ms, "
            f"p95 {percentile(pages, 0.95):.2f} ms, mean {statistics.fmean(pages):.2f} ms"
            f" — target p50 < {PAGE_P50_TARGET_MS:.0f} ms: {'met' if page_ok else 'NOT MET'}"
        )

        if args.profile:
            profile("200 saves", lambda: time_saves(client, token, document_id, 200))
            profile("100 coding pages", lambda: time_pages(client, document_id, 100))
        with app.app_context():
            from annotator.extensions import db

            db.engine.dispose()
    finally:
        if server is not None:
            server.stop()
    sys.exit(0 if save_ok and page_ok else 1)


if __name__ == "__main__":
    main()
