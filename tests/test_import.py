"""Importing files: stored once by content, text per page, bad files refused without a trace.

Every test runs on SQLite and on PostgreSQL (the ``app`` fixture), over the real files in
``tests/fixtures`` (see ``make_fixtures.py`` for what they hold).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, insert, select

from annotator.extensions import db
from annotator.extraction import PAGE_SEPARATOR, DocumentFormat, extract
from annotator.metadata import parse_metadata_csv
from annotator.models import Document, Page, utcnow
from annotator.services import documents as import_service
from annotator.services.documents import (
    DUPLICATE,
    IMPORTED,
    REFUSED,
    ImportOutcome,
    ImportReport,
    collect_files,
    import_file,
    import_files,
    stored_path,
    unmatched_metadata,
)

from .conftest import FIXTURES

LIMIT = 50 * 2**20

# name, format, pages, has_text, flags, (page, text that must be on that page and no other)
IMPORTABLE = [
    ("en_two_pages.pdf", DocumentFormat.PDF, 2, True, (), (2, "Synthetic test file.")),
    ("zh_cid_font.pdf", DocumentFormat.PDF, 2, True, (), (1, "采购人：福建省公安厅")),
    ("zh_cid_font.pdf", DocumentFormat.PDF, 2, True, (), (2, "本文件为合成测试文件")),
    ("zh_embedded_font.pdf", DocumentFormat.PDF, 1, True, (), (1, "繁體字測試：警務雲")),
    ("owner_password_only.pdf", DocumentFormat.PDF, 1, True, (), (1, "owner password only")),
    ("scanned_no_text.pdf", DocumentFormat.PDF, 1, False, ("no text: scanned?",), None),
    ("report.html", DocumentFormat.HTML, 1, True, (), (1, "平台已开通微信报警")),
    ("notes.md", DocumentFormat.MARKDOWN, 1, True, (), (1, "整合深度")),
    ("gbk.txt", DocumentFormat.TEXT, 2, True, (), (2, "第二页：每月推送不少于四条信息。")),
]


def _copy(name: str, as_name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        return Path(shutil.copyfile(FIXTURES / name, folder / as_name))

    return make


def _write(as_name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / as_name
        path.write_bytes(data)
        return path

    return make


# case, how to make the file in a folder, size limit, what the reason says
REFUSALS: list[tuple[str, Callable[[Path], Path], int, str]] = [
    ("not-a-pdf", _copy("not_a_pdf.pdf", "tender.pdf"), LIMIT, "not a PDF"),
    ("encrypted", _copy("encrypted.pdf", "secret.pdf"), LIMIT, "encrypted PDF"),
    ("corrupt", _copy("corrupt.pdf", "cut.pdf"), LIMIT, "corrupt PDF"),
    ("empty", _copy("empty.txt", "empty.txt"), LIMIT, "empty file"),
    ("over-the-limit", _copy("en_two_pages.pdf", "big.pdf"), 1000, "over the size limit"),
    ("unsupported", _write("minutes.docx", b"PK\x03\x04word"), LIMIT, "unsupported file type '.docx'"),
    ("no-suffix", _write("README", b"plain words"), LIMIT, "unsupported file type '(none)'"),
    ("image-as-text", _write("scan.txt", b"\x89PNG\r\n\x1a\n" + bytes(64)), LIMIT, "not text (the file is a PNG image"),
    ("missing", lambda folder: folder / "gone.pdf", LIMIT, "cannot read the file"),
]  # fmt: skip


def stored_files(data_dir: Path) -> list[Path]:
    """Every file under the data directory, temporary ones included."""
    return sorted(p for p in data_dir.rglob("*") if p.is_file()) if data_dir.exists() else []


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def run_import(app: Flask, path: Path, **kwargs: Any) -> ImportOutcome:
    kwargs.setdefault("max_bytes", app.config["MAX_DOCUMENT_BYTES"])
    return import_file(db.session, path, data_dir=app.config["DATA_DIR"], **kwargs)


@pytest.mark.parametrize(
    ("name", "document_format", "pages", "has_text", "flags", "on_page"), IMPORTABLE
)
def test_import_stores_the_file_and_its_pages(
    app: Flask,
    name: str,
    document_format: DocumentFormat,
    pages: int,
    has_text: bool,
    flags: tuple[str, ...],
    on_page: tuple[int, str] | None,
) -> None:
    path = FIXTURES / name
    outcome = run_import(app, path)

    assert (outcome.status, outcome.reason, outcome.flags) == (IMPORTED, None, flags)
    document = db.session.get(Document, outcome.document_id)
    assert document is not None
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (document.sha256, document.filename, document.format) == (sha256, name, document_format)
    assert (document.page_count, document.has_text, document.flags) == (
        pages,
        has_text,
        list(flags),
    )
    assert document.size_bytes == path.stat().st_size

    stored = Path(app.config["DATA_DIR"]) / sha256[:2] / sha256
    assert stored == stored_path(app.config["DATA_DIR"], sha256)
    assert stored.read_bytes() == path.read_bytes()
    assert stored_files(Path(app.config["DATA_DIR"])) == [stored]

    # The pages are exactly what extraction gives, so evidence offsets mean the same thing.
    extracted = extract(path)
    assert [(p.number, p.text, p.char_start) for p in document.pages] == [
        (p.number, p.text, p.start) for p in extracted.pages
    ]
    assert document.title == extracted.title
    for before, after in zip(document.pages, document.pages[1:], strict=False):
        assert after.char_start == before.char_start + len(before.text) + len(PAGE_SEPARATOR)
    if on_page is not None:
        number, words = on_page
        assert [p.number for p in document.pages if words in p.text] == [number]


@pytest.mark.parametrize(
    ("make", "max_bytes", "reason"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_bad_files_are_refused_without_a_trace(
    app: Flask, tmp_path: Path, make: Callable[[Path], Path], max_bytes: int, reason: str
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    path = make(folder)

    outcome = run_import(app, path, max_bytes=max_bytes)

    assert outcome.status == REFUSED
    assert reason in (outcome.reason or "")
    assert outcome.document_id is None
    assert (count(Document), count(Page)) == (0, 0)
    assert stored_files(Path(app.config["DATA_DIR"])) == []


def test_a_batch_goes_on_past_bad_files(app: Flask) -> None:
    files = collect_files([FIXTURES])
    seen: list[ImportOutcome] = []

    report = import_files(
        db.session,
        files,
        data_dir=app.config["DATA_DIR"],
        max_bytes=app.config["MAX_DOCUMENT_BYTES"],
        progress=seen.append,
    )

    assert seen == report.outcomes
    assert [o.path for o in report.outcomes] == [str(f) for f in files]
    importable = {name for name, *_ in IMPORTABLE}
    assert {Path(o.path).name for o in report.imported} == importable
    assert {Path(o.path).name: o.reason for o in report.refused} == {
        "corrupt.pdf": "corrupt PDF: data format error (not a readable PDF structure)",
        "empty.txt": "empty file",
        "encrypted.pdf": "encrypted PDF (password protected)",
        "make_fixtures.py": "unsupported file type '.py': use .htm, .html, .markdown, .md, .pdf, .txt",
        "not_a_pdf.pdf": "not a PDF (the file starts with '<html>' despite the .pdf extension)",
    }
    assert report.duplicates == []
    assert count(Document) == len(importable)
    assert len(stored_files(Path(app.config["DATA_DIR"]))) == len(importable)


@pytest.mark.parametrize("second_name", ["en_two_pages.pdf", "renamed copy.pdf"])
def test_the_same_content_is_a_duplicate(app: Flask, tmp_path: Path, second_name: str) -> None:
    first = run_import(app, FIXTURES / "en_two_pages.pdf")
    again = Path(shutil.copyfile(FIXTURES / "en_two_pages.pdf", tmp_path / second_name))

    outcome = run_import(app, again)

    assert outcome.status == DUPLICATE
    assert outcome.document_id == first.document_id
    assert outcome.reason == f"same content as document {first.document_id} (en_two_pages.pdf)"
    assert count(Document) == 1
    assert len(stored_files(Path(app.config["DATA_DIR"]))) == 1


def test_duplicates_within_one_batch(app: Flask, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("a.pdf", "b.pdf"):
        shutil.copyfile(FIXTURES / "zh_cid_font.pdf", folder / name)
    report = import_files(
        db.session,
        collect_files([folder]),
        data_dir=app.config["DATA_DIR"],
        max_bytes=app.config["MAX_DOCUMENT_BYTES"],
    )
    assert [(Path(o.path).name, o.status) for o in report.outcomes] == [
        ("a.pdf", IMPORTED),
        ("b.pdf", DUPLICATE),
    ]
    assert count(Document) == 1


class Boom(RuntimeError):
    """The failure a test injects."""


Undo = Callable[[], None]


def _fail_commit(monkeypatch: pytest.MonkeyPatch) -> Undo:
    def commit() -> None:
        db.session.flush()  # the rows reach the database; only the commit fails
        raise Boom("the database went away")

    monkeypatch.setattr(db.session, "commit", commit)
    return monkeypatch.undo


def _fail_creating_pages(monkeypatch: pytest.MonkeyPatch) -> Undo:
    def page(**kwargs: Any) -> Page:
        raise Boom("out of memory")

    monkeypatch.setattr(import_service, "Page", page)
    return monkeypatch.undo


def _fail_inserting_a_page(monkeypatch: pytest.MonkeyPatch) -> Undo:
    # The document row and the first page are already inserted when the second page fails.
    def refuse(mapper: Any, connection: Any, target: Page) -> None:
        if target.number == 2:
            raise Boom("disk full")

    event.listen(Page, "before_insert", refuse)
    return lambda: event.remove(Page, "before_insert", refuse)


@pytest.mark.parametrize(
    "fail", [_fail_commit, _fail_creating_pages, _fail_inserting_a_page], ids=lambda f: f.__name__
)
def test_a_failure_while_storing_leaves_nothing_behind(
    app: Flask, monkeypatch: pytest.MonkeyPatch, fail: Callable[[pytest.MonkeyPatch], Undo]
) -> None:
    path = FIXTURES / "zh_cid_font.pdf"  # two pages
    undo = fail(monkeypatch)
    try:
        outcome = run_import(app, path)
    finally:
        undo()

    assert outcome.status == REFUSED
    assert (outcome.reason or "").startswith("could not be stored: ")
    assert (count(Document), count(Page)) == (0, 0)
    assert stored_files(Path(app.config["DATA_DIR"])) == []
    # Nothing half-done stands in the way of importing the file again.
    assert run_import(app, path).status == IMPORTED


def test_a_file_stored_by_a_simultaneous_import_is_kept(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports of the same content at once: the loser must not delete the winner's file."""
    path = FIXTURES / "en_two_pages.pdf"
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    real_store = import_service._store

    def store_while_another_import_commits(*args: Any) -> tuple[Path, bool]:
        stored = real_store(*args)
        with db.engine.begin() as other:  # the other import, on its own connection
            other.execute(
                insert(Document).values(
                    sha256=sha256,
                    filename="from-the-other-import.pdf",
                    format=DocumentFormat.PDF,
                    size_bytes=path.stat().st_size,
                    page_count=2,
                    has_text=True,
                    extra={},
                    imported_at=utcnow(),
                )
            )
        return stored

    monkeypatch.setattr(import_service, "_store", store_while_another_import_commits)
    outcome = run_import(app, path)

    assert outcome.status == DUPLICATE
    assert outcome.reason == "same content as a document imported at the same time"
    assert count(Document) == 1
    assert stored_path(app.config["DATA_DIR"], sha256).read_bytes() == path.read_bytes()


def test_metadata_fills_known_fields_and_keeps_the_rest(app: Flask) -> None:
    table = parse_metadata_csv(
        "filename,Province,year,value,source url,language,newspaper,notes\n"
        'zh_cid_font.pdf,Fujian,2016,"¥12,800,000",https://example.org/t,zh,Fujian Daily,\n'
    )
    outcome = run_import(app, FIXTURES / "zh_cid_font.pdf", metadata=table["zh_cid_font.pdf"])

    document = db.session.get(Document, outcome.document_id)
    assert document is not None
    assert (document.province, document.year, document.value) == (
        "Fujian",
        2016,
        Decimal("12800000.00"),
    )
    assert (document.source_url, document.language) == ("https://example.org/t", "zh")
    assert (document.city, document.vendor) == (None, None)
    assert document.extra == {"newspaper": "Fujian Daily"}  # empty cells are not kept


def test_collect_files(tmp_path: Path) -> None:
    for name in (
        "b.pdf",
        "a/deeper/c.html",
        "a/z.txt",
        "a/.hidden.pdf",
        ".git/objects/x.txt",
        "metadata.csv",
        "a/notes.docx",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    named = tmp_path / "metadata.csv"

    files = collect_files([tmp_path, named])

    # Hidden files and folders and CSV files inside folders are passed over; an unsupported
    # file is kept so that it is reported; a file named explicitly is always kept.
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "a/deeper/c.html",
        "a/notes.docx",
        "a/z.txt",
        "b.pdf",
        "metadata.csv",
    ]


def test_unmatched_metadata() -> None:
    table = parse_metadata_csv("filename,year\na.pdf,2019\nb.pdf,2020\ntypo.pdf,2021\n")
    assert unmatched_metadata(table, [Path("x/a.pdf"), Path("y/b.pdf")]) == ["typo.pdf"]


def test_summary_lines() -> None:
    report = ImportReport(
        [
            ImportOutcome("a.pdf", IMPORTED, document_id=1),
            ImportOutcome("scan.pdf", IMPORTED, document_id=2, flags=("no text: scanned?",)),
            ImportOutcome("copy.pdf", DUPLICATE, "same content as document 1 (a.pdf)", 1),
            ImportOutcome("bad.pdf", REFUSED, "corrupt PDF"),
        ]
    )
    assert report.summary_lines() == [
        "imported 2, duplicates 1, refused 1",
        "  imported with a warning: scan.pdf: no text: scanned?",
        "  duplicate: copy.pdf: same content as document 1 (a.pdf)",
        "  refused: bad.pdf: corrupt PDF",
    ]
