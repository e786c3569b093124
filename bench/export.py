"""Benchmark: exporting 100,000 labels in every layout and table format, in time and memory.

Targets (docs/benchmarks.md): each export of 100,000 labels (7,200 documents x 2 coders x 7
variables, with one evidence quote per label set) is written in under 5 s, and the memory
an export takes does not grow with the number of labels: its peak RSS growth at 100,000
labels is within 10 MB of that at 10,000. The exports measured: long and wide (a row per
document and coder) as CSV, JSON and XLSX; the final values (a row per document: agreed
values are final, the PI decided the document kind, the year the coders disagree on stays
open) as CSV and as SPSS and Stata files with their labels.

    .venv/bin/python bench/export.py

The data is generated straight into a new SQLite file with bulk inserts (the study codebook,
codebook/wechat_policing.yaml, Chinese texts included). Each export runs in a process of
its own through the command line's path (``annotator export``, Flask's CLI runner, output
to a file), so that its peak RSS is its own; the growth is the peak RSS during the export
less the RSS just before it. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CODEBOOK = ROOT / "codebook" / "wechat_policing.yaml"
TIME_TARGET_S = 5.0
GROWTH_TARGET_MB = 10.0
SIZES = {10_000: 720, 100_000: 7_200}  # labels -> documents (x 2 coders x 7 variables)
# (layout, format): every layout once as CSV, every other table format once.
CASES = (
    ("long", "csv"),
    ("wide-coders", "csv"),
    ("wide", "csv"),
    ("long", "json"),
    ("wide-coders", "xlsx"),
    ("wide", "sav"),
    ("wide", "dta"),
)
CODERS = ("alice", "bob")


def make_app(database_url: str, data_dir: Path) -> Any:
    """The real app on the database (migrated to head)."""
    from flask_migrate import upgrade

    from annotator import MIGRATIONS_DIR, create_app

    app = create_app(
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "DATA_DIR": str(data_dir),
            "AGREEMENT_IS_FINAL": True,
        }
    )
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
    return app


def generate(path: Path, documents: int) -> int:
    """Fill a new SQLite file with ``documents`` x 2 coded label sets; the label count."""
    from sqlalchemy import insert

    from annotator.extensions import db
    from annotator.models import (
        Document,
        Evidence,
        FinalValue,
        Label,
        LabelSet,
        LabelStatus,
        Role,
        User,
    )
    from annotator.services.codebooks import load_codebook_text

    app = make_app(f"sqlite:///{path}", path.parent / "data")
    now = datetime(2024, 5, 1, tzinfo=UTC)
    with app.app_context():
        version = load_codebook_text(
            db.session, CODEBOOK.read_text(encoding="utf-8"), CODEBOOK.name
        ).version
        codebook = version.parsed()
        kinds = codebook.variable("document_kind").codes
        depths = codebook.variable("integration_depth").codes
        services = codebook.variable("service_type").codes
        provinces = codebook.variable("province").codes
        coders = []
        for name in CODERS:
            user = User(username=name, role=Role.CODER, password_hash="x")
            db.session.add(user)
            coders.append(user)
        pi = User(username="pi", role=Role.PI, password_hash="x")
        db.session.add(pi)
        db.session.flush()
        db.session.execute(
            insert(Document),
            [
                {
                    "id": i + 1,
                    "sha256": f"{i:064x}",
                    "filename": f"文件_{i:05d}.pdf",
                    "format": "pdf",
                    "size_bytes": 1000,
                    "page_count": 3,
                    "has_text": True,
                    "province": "广东",
                    "year": 2015 + i % 8,
                    "extra": {},
                    "imported_at": now,
                }
                for i in range(documents)
            ],
        )
        label_sets, labels, evidence = [], [], []
        for i in range(documents):
            for c, coder in enumerate(coders):
                id = i * len(coders) + c + 1
                label_sets.append(
                    {
                        "id": id,
                        "document_id": i + 1,
                        "coder_id": coder.id,
                        "codebook_version_id": version.id,
                        "status": LabelStatus.SUBMITTED,
                        "note": "",
                        "revision": 7,
                        "created_at": now,
                        "updated_at": now,
                        "submitted_at": now,
                    }
                )
                values = {
                    "document_kind": kinds[(i + c) % len(kinds)],
                    "integration_depth": depths[i % len(depths)],
                    "service_type": [
                        services[i % len(services)],
                        services[(i + 3) % len(services)],
                    ],
                    "province": provinces[i % len(provinces)],
                    "year": 2015 + (i + c) % 8,
                    "vendor_is_tencent": (i + c) % 3 == 0,
                    "city": f"城市{i % 50}，某区",
                }
                labels += [
                    {"label_set_id": id, "variable": variable, "value": value}
                    for variable, value in values.items()
                ]
                evidence.append(
                    {
                        "label_set_id": id,
                        "variable": "city",
                        "page": 1,
                        "quote": f"某市公安局微信公众号 {i}",
                        "start": 0,
                        "end": 14,
                        "created_at": now,
                    }
                )
        db.session.execute(insert(LabelSet), label_sets)
        db.session.execute(insert(Label), labels)
        db.session.execute(insert(Evidence), evidence)
        db.session.execute(
            insert(FinalValue),
            [
                {
                    "document_id": i + 1,
                    "codebook_version_id": version.id,
                    "variable": "document_kind",
                    "value": kinds[i % len(kinds)],
                    "source_coder_id": coders[0].id,
                    "decided_by_id": pi.id,
                    "decided_at": now,
                    "note": "",
                }
                for i in range(documents)
            ],
        )
        db.session.commit()
        db.engine.dispose()
    return len(labels)


def rss_mb(field: str) -> float:
    """A memory figure of this process from /proc (VmRSS now, VmHWM the peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def count_rows(out: Path, fmt: str) -> int:
    """The data rows of an export file, read back."""
    if fmt == "csv":
        return sum(1 for _ in out.open(encoding="utf-8")) - 1
    if fmt == "json":
        return len(json.loads(out.read_text(encoding="utf-8")))
    if fmt == "xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(out, read_only=True).active
        return sum(1 for _ in sheet.iter_rows(values_only=True)) - 1
    import pyreadstat

    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    return int(reader(str(out), metadataonly=True)[1].number_rows)


def child(database: Path, layout: str, fmt: str, out: Path) -> None:
    """Run one export through the command line's path; print its time and memory (JSON)."""
    from annotator.cli import export_command

    app = make_app(f"sqlite:///{database}", database.parent / "data")
    runner = app.test_cli_runner()
    # Warm up imports and the parsed codebook on a tiny export (the codebook itself).
    result = runner.invoke(export_command, ["--format", "codebook-json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    before = rss_mb("VmRSS")
    start = time.perf_counter()
    result = runner.invoke(export_command, ["--layout", layout, "--format", fmt, "--out", str(out)])
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    peak = rss_mb("VmHWM")
    rows = count_rows(out, fmt)
    print(json.dumps({"seconds": seconds, "growth_mb": peak - before, "rows": rows}))


def measure(database: Path, layout: str, fmt: str, out: Path) -> dict[str, float]:
    """One export in a process of its own."""
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(database), layout, fmt, str(out)],
        capture_output=True,
        text=True,
    )
    if completed.returncode:
        raise SystemExit(f"the {layout} {fmt} export failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.child[2], Path(args.child[3]))
        return 0
    print(f"load: {os.getloadavg()[0]:.2f} (1 min)")
    met = True
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[tuple[int, str, str], dict[str, float]] = {}
        for size, documents in SIZES.items():
            database = Path(tmp) / f"export_{size}.sqlite3"
            start = time.perf_counter()
            labels = generate(database, documents)
            print(f"{labels:,} labels generated in {time.perf_counter() - start:.1f} s")
            for layout, fmt in CASES:
                result = measure(database, layout, fmt, Path(tmp) / f"{layout}.{fmt}")
                results[size, layout, fmt] = result
                print(
                    f"  {layout:12} {fmt:5}: {result['seconds']:.2f} s, "
                    f"{result['rows']:,} rows, peak RSS growth {result['growth_mb']:.1f} MB"
                )
        for layout, fmt in CASES:
            large, small = results[100_000, layout, fmt], results[10_000, layout, fmt]
            fast = large["seconds"] < TIME_TARGET_S
            growth = large["growth_mb"] - small["growth_mb"]
            flat = growth < GROWTH_TARGET_MB
            met = met and fast and flat
            print(
                f"{layout} {fmt}: {large['seconds']:.2f} s for 100,000 labels "
                f"(target < {TIME_TARGET_S:.0f} s: {'met' if fast else 'NOT met'}); "
                f"memory growth 10k -> 100k: {growth:+.1f} MB "
                f"(target < {GROWTH_TARGET_MB:.0f} MB: {'met' if flat else 'NOT met'})"
            )
    print("targets met" if met else "targets NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
