"""Benchmark: import 200 generated procurement PDFs of 20 pages each (Chinese and English).

Target (docs/benchmarks.md): text extraction at 50 pages/s or more on a 2-core machine, and
memory that does not grow with the batch size.

    .venv/bin/python bench/import.py                      # 200 files x 20 pages, SQLite
    .venv/bin/python bench/import.py --files 50           # a quicker run
    .venv/bin/python bench/import.py --database-url postgresql://user@127.0.0.1/db

Each phase runs in a child process of its own, so that one phase's memory does not count
against the next. The generated PDFs are kept in --corpus-dir (default: a folder under the
system's temporary directory) and reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

PAGES_PER_FILE = 20
TARGET_PAGES_PER_SECOND = 50.0
# RSS may wobble by allocator noise; growth beyond this between the first quarter of the
# batch and its end counts as memory that grows with the batch.
ALLOWED_GROWTH_MB = 16.0


def rss_mb() -> float:
    """The resident set size of this process, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def generate(corpus: Path, files: int) -> list[Path]:
    """The benchmark's PDFs: half Chinese, half English, made once and reused."""
    from make_demo_corpus import make_procurement_pdf

    corpus.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(files):
        language = "zh" if index % 2 == 0 else "en"
        path = corpus / f"bench_{index:04d}_{language}.pdf"
        if not path.exists():
            make_procurement_pdf(path, pages=PAGES_PER_FILE, language=language, seed=index)
        paths.append(path)
    return paths


def phase_extract(paths: list[Path]) -> dict[str, object]:
    """Extraction alone: pypdfium2 text per page."""
    from annotator.extraction import extract

    samples = []
    pages = 0
    start = time.perf_counter()
    for index, path in enumerate(paths, start=1):
        pages += extract(path).page_count
        if index % max(1, len(paths) // 8) == 0:
            samples.append((index, round(rss_mb(), 1)))
    elapsed = time.perf_counter() - start
    return {"pages": pages, "seconds": elapsed, "rss_samples": samples}


def phase_import(paths: list[Path], database_url: str | None) -> dict[str, object]:
    """The whole import: hash, duplicate check, extraction, file storage, database rows."""
    from flask_migrate import upgrade

    from annotator import MIGRATIONS_DIR, create_app
    from annotator.extensions import db
    from annotator.services.documents import import_file

    scratch = Path(tempfile.mkdtemp(prefix="annotator-bench-"))
    url = database_url or f"sqlite:///{scratch / 'bench.sqlite3'}"
    app = create_app(
        {"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(scratch / "data")}
    )
    samples = []
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        pages = 0
        start = time.perf_counter()
        for index, path in enumerate(paths, start=1):
            outcome = import_file(
                db.session, path, data_dir=app.config["DATA_DIR"], max_bytes=50 * 2**20
            )
            if outcome.status != "imported":
                raise SystemExit(f"{path}: {outcome.status}: {outcome.reason}")
            pages += PAGES_PER_FILE
            if index % max(1, len(paths) // 8) == 0:
                samples.append((index, round(rss_mb(), 1)))
        elapsed = time.perf_counter() - start
    return {
        "pages": pages,
        "seconds": elapsed,
        "rss_samples": samples,
        "database": url.split(":")[0],
    }


def run_phase(name: str, args: argparse.Namespace) -> dict[str, object]:
    """Run one phase in a child process and read its JSON result."""
    command = [
        sys.executable,
        __file__,
        "--phase",
        name,
        "--files",
        str(args.files),
        "--corpus-dir",
        str(args.corpus_dir),
    ]
    if args.database_url:
        command += ["--database-url", args.database_url]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(name: str, result: dict[str, object]) -> bool:
    """Print one phase's figures; return whether it met the targets."""
    pages = int(result["pages"])  # type: ignore[call-overload]
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    rate = pages / seconds
    samples = result["rss_samples"]
    assert isinstance(samples, list)
    first, last = samples[max(0, len(samples) // 4 - 1)], samples[-1]
    growth = last[1] - first[1]
    speed_ok = rate >= TARGET_PAGES_PER_SECOND
    memory_ok = growth <= ALLOWED_GROWTH_MB
    print(
        f"{name}: {pages} pages in {seconds:.2f} s = {rate:,.0f} pages/s ({'ok' if speed_ok else 'BELOW TARGET'})"
    )
    print(
        f"  RSS after {first[0]} files {first[1]:.1f} MB, after {last[0]} files {last[1]:.1f} MB: "
        f"growth {growth:+.1f} MB ({'ok' if memory_ok else 'GROWS'})"
    )
    print("  RSS samples (files, MB): " + ", ".join(f"{n}: {mb}" for n, mb in samples))
    return speed_ok and memory_ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument(
        "--corpus-dir", type=Path, default=Path(tempfile.gettempdir()) / "annotator-bench-corpus"
    )
    parser.add_argument(
        "--database-url", help="import into this database (default: a new SQLite file)"
    )
    parser.add_argument("--phase", choices=["extract", "import"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        paths = generate(args.corpus_dir, args.files)
        result = (
            phase_extract(paths)
            if args.phase == "extract"
            else phase_import(paths, args.database_url)
        )
        print(json.dumps(result))
        return

    started = time.perf_counter()
    generate(args.corpus_dir, args.files)
    print(
        f"corpus: {args.files} PDFs x {PAGES_PER_FILE} pages in {args.corpus_dir} ({time.perf_counter() - started:.1f} s)"
    )
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    ok = report("extraction", run_phase("extract", args))
    ok = (
        report("import (extraction + hashing + storage + database)", run_phase("import", args))
        and ok
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
