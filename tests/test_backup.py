"""Backups and restores (`annotator backup`, `annotator restore`) on SQLite and PostgreSQL.

A round trip must give back every row of every table and every stored file; a file that is
not a backup, or a backup that does not fit, must be refused with nothing changed; a
SQLite backup taken while someone writes must still be a whole, consistent database.
"""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import delete, make_url, text

from annotator import MIGRATIONS_DIR, backup
from annotator.extensions import db
from annotator.models import Codebook, Document, FinalValue, Label, LabelStatus, Role, User
from annotator.schema import SchemaOutOfDate, check_schema, current_heads
from annotator.services import adjudication
from annotator.services import labels as label_service
from annotator.services.documents import stored_path

from .conftest import Project, make_app
from .pgserver import PostgresServer


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (and the schema revision), in primary-key order."""
    db.session.remove()
    rows = {}
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            query = table.select().order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(row) for row in connection.execute(query)]
        rows["alembic_version"] = [
            tuple(row) for row in connection.execute(text("SELECT * FROM alembic_version"))
        ]
    return rows


@pytest.fixture
def coded(app: Flask, project: Project) -> Project:
    """The project with labels, evidence, a submitted label set and final values."""
    codebook = db.session.get(Codebook, project.codebook_id)
    assert codebook is not None and codebook.latest is not None
    shared = db.session.get(Document, project.document_ids["zh_cid_font.pdf"])
    assert shared is not None
    for name, kind in (("alice", "tender"), ("bob", "award")):
        coder = db.session.get(User, project.users[name])
        assert coder is not None
        label_set = label_service.label_set_for(
            db.session, shared, coder, codebook.latest, create=True
        )
        assert label_set is not None
        label_service.save_labels(
            db.session, label_set, coder, {"document_kind": kind, "year": 2019, "city": "福州"}
        )
        label_service.add_evidence(
            db.session, label_set, coder, variable="province", page=1, quote="福建省公安厅"
        )
        label_set.status = LabelStatus.SUBMITTED
        db.session.commit()
    pi = db.session.get(User, project.users["pi"])
    assert pi is not None
    adjudication.set_final(
        db.session, shared, codebook.latest, "document_kind", user=pi, value="tender", note="ok"
    )
    db.session.commit()
    return project


def invoke(app: Flask, *args: str, input: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_backup_and_restore_give_back_every_row_and_file(
    app: Flask, coded: Project, tmp_path: Path
) -> None:
    before = snapshot()
    assert all(before[name] for name in ("user", "label", "evidence", "final_value"))
    made = invoke(app, "backup", "--out", str(tmp_path))
    assert made.exit_code == 0, made.output
    (archive,) = tmp_path.glob("annotator-backup-*.tar.gz")
    assert archive.stat().st_mode & 0o077 == 0  # password hashes: the owner's only
    assert f"{archive}: " in made.output and "4 document files" in made.output

    # Work goes on, and something goes wrong: rows changed, added, deleted, a file lost.
    db.session.execute(delete(FinalValue))
    db.session.execute(delete(Label).where(Label.variable == "year"))
    db.session.get(User, coded.users["alice"]).display_name = "changed"  # type: ignore[union-attr]
    db.session.add(User(username="mallory", display_name="M", password_hash="x", role=Role.CODER))
    db.session.commit()
    sha = db.session.scalar(text("SELECT sha256 FROM document ORDER BY id LIMIT 1"))
    lost = stored_path(app.config["DATA_DIR"], sha)
    original = lost.read_bytes()
    lost.unlink()
    assert snapshot() != before

    restored = invoke(app, "restore", str(archive), "--yes")
    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.output
    assert snapshot() == before
    assert lost.read_bytes() == original
    # The restored database is usable: new rows get new ids.
    db.session.add(User(username="newcomer", display_name="N", password_hash="x", role=Role.CODER))
    db.session.commit()


def test_restore_asks_first(app: Flask, coded: Project, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    assert invoke(app, "backup", "--out", str(archive)).exit_code == 0
    db.session.execute(delete(FinalValue))
    db.session.commit()
    before = snapshot()
    answered_no = invoke(app, "restore", str(archive), input="n\n")
    assert answered_no.exit_code == 1
    assert "Replace everything in" in answered_no.output
    assert snapshot() == before


def test_backup_without_files(app: Flask, coded: Project, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    made = invoke(app, "backup", "--out", str(archive), "--no-files")
    assert made.exit_code == 0, made.output
    with tarfile.open(archive) as opened:
        names = opened.getnames()
    assert not [name for name in names if name.startswith("documents/")]
    assert invoke(app, "restore", str(archive), "--yes").exit_code == 0


def test_backup_refuses_to_overwrite(app: Flask, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(b"precious")
    result = invoke(app, "backup", "--out", str(archive))
    assert result.exit_code == 1
    assert "exists already" in result.output
    assert archive.read_bytes() == b"precious"


# --- refusals --------------------------------------------------------------------------


def _rewrite(
    archive: Path,
    target: Path,
    manifest: dict[str, Any] | None = None,
    drop: str | None = None,
    add: dict[str, bytes] | None = None,
    replace: dict[str, bytes] | None = None,
) -> None:
    """Copy a backup archive with its manifest changed, a member dropped, added or replaced."""
    with tarfile.open(archive) as source, tarfile.open(target, "w:gz") as out:
        for member in source:
            stream = source.extractfile(member)
            data = stream.read() if stream else b""
            if member.name == drop:
                continue
            if member.name == "manifest.json" and manifest is not None:
                data = json.dumps({**json.loads(data), **manifest}).encode()
            if replace and member.name in replace:
                data = replace[member.name]
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
        for name, data in (add or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


def _not_a_backup(tmp_path: Path, archive: Path, case: str) -> tuple[Path, str]:
    bad = tmp_path / f"{case}.tar.gz"
    sha = "a" * 64
    if case == "junk":
        bad.write_bytes(b"this is no archive")
        return bad, "is not an annotator backup (not a .tar.gz archive"
    if case == "sqlite-file":
        with sqlite3.connect(bad) as connection:
            connection.execute("CREATE TABLE t (x)")
        return bad, "is not an annotator backup (not a .tar.gz archive"
    if case == "other-tar":
        with tarfile.open(bad, "w:gz") as out:
            info = tarfile.TarInfo("hello.txt")
            out.addfile(info, io.BytesIO(b""))
        return bad, "is not an annotator backup (it has no manifest.json)"
    if case == "other-format":
        _rewrite(archive, bad, manifest={"format": "something-else"})
        return bad, "is not an annotator backup (manifest.json is not one of ours)"
    if case == "newer-revision":
        _rewrite(archive, bad, manifest={"revision": "9999"})
        return bad, "was made at schema revision 9999, which this version of annotator"
    if case == "other-database":
        with tarfile.open(archive) as source:
            kind = json.loads(source.extractfile("manifest.json").read())["database"]  # type: ignore[union-attr]
        other = "postgresql" if kind == "sqlite" else "sqlite"
        _rewrite(archive, bad, manifest={"database": other})
        return bad, f"is a backup of a {other} database; the database to restore into is {kind}"
    if case == "damaged-document":
        with tarfile.open(archive) as source:
            name = next(n for n in source.getnames() if n.startswith("documents/"))
        _rewrite(archive, bad, replace={name: b"not the original"})
        return bad, "is damaged (its content does not match its SHA-256 name)"
    if case == "missing-document":
        with tarfile.open(archive) as source:
            name = next(n for n in source.getnames() if n.startswith("documents/"))
        _rewrite(archive, bad, drop=name)
        return bad, "should hold 4 document files, it holds 3"
    if case == "path-traversal":
        _rewrite(archive, bad, add={f"documents/../../{sha[:2]}/{sha}": b"x"})
        return bad, "holds an unexpected entry: documents/../../"
    if case == "no-database":
        with tarfile.open(archive) as source:
            name = next(n for n in source.getnames() if n.startswith("database."))
        _rewrite(archive, bad, drop=name)
        return bad, f"holds no {name}"
    if case == "damaged-database":
        with tarfile.open(archive) as source:
            name = next(n for n in source.getnames() if n.startswith("database."))
        _rewrite(archive, bad, replace={name: b"garbage" * 100})
        return bad, "database"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "junk",
        "sqlite-file",
        "other-tar",
        "other-format",
        "newer-revision",
        "other-database",
        "damaged-document",
        "missing-document",
        "path-traversal",
        "no-database",
        "damaged-database",
    ],
)
def test_restore_refuses_what_is_not_a_fitting_backup(
    app: Flask, coded: Project, tmp_path: Path, case: str
) -> None:
    archive = tmp_path / "good.tar.gz"
    assert invoke(app, "backup", "--out", str(archive)).exit_code == 0
    bad, message = _not_a_backup(tmp_path, archive, case)
    db.session.execute(delete(FinalValue))  # differs from the backup: a restore would show
    db.session.commit()
    before = snapshot()
    files = sorted(p.relative_to(tmp_path) for p in (tmp_path / "data").rglob("*"))

    result = invoke(app, "restore", str(bad), "--yes")

    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Error: " in result.output and "Traceback" not in result.output
    assert snapshot() == before
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "data").rglob("*")) == files


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes new, empty databases of one kind (not the shared test database: these end up
    at other revisions)."""
    made = iter(range(100))

    def make() -> str:
        number = next(made)
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'fresh{number}.sqlite3'}"
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database(f"fresh_{uuid.uuid4().hex[:12]}")

    yield make


def test_a_backup_from_before_an_upgrade_restores_and_upgrades(
    fresh_url: Callable[[], str], tmp_path: Path
) -> None:
    # A project at revision 0002 (before adjudication), backed up...
    old_url, new_url = fresh_url(), fresh_url()
    old = make_app(old_url, tmp_path / "old-data")
    with old.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="0002")
        db.session.execute(
            text(
                'INSERT INTO "user" (username, display_name, password_hash, role, active, '
                "created_at, locale) VALUES ('pi', 'P', 'x', 'pi', true, CURRENT_TIMESTAMP, 'zh_Hans')"
            )
        )
        db.session.commit()
        archive = tmp_path / "old.tar.gz"
        made = old.test_cli_runner().invoke(args=["backup", "--out", str(archive)])
        assert made.exit_code == 0, made.output
        assert "at revision 0002" in made.output
        db.engine.dispose()

    # ...restored over a database at the head, with other data, then upgraded.
    new = make_app(new_url, tmp_path / "new-data")
    with new.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        db.session.add(User(username="other", display_name="O", password_hash="x", role=Role.PI))
        db.session.commit()
        restored = new.test_cli_runner().invoke(args=["restore", str(archive), "--yes"])
        assert restored.exit_code == 0, restored.output
        assert "run `annotator db upgrade` before starting the server" in restored.output
        db.session.remove()
        assert current_heads(db.engine) == {"0002"}
        with pytest.raises(SchemaOutOfDate, match="is at revision 0002"):
            check_schema(db.engine, MIGRATIONS_DIR)
        upgrade(directory=MIGRATIONS_DIR)
        check_schema(db.engine, MIGRATIONS_DIR)
        users = db.session.execute(text('SELECT username, locale, can_adjudicate FROM "user"'))
        assert [tuple(row) for row in users] == [("pi", "zh_Hans", False)]
        db.session.remove()
        db.engine.dispose()


# --- SQLite: consistent while others write ----------------------------------------------


def test_sqlite_backup_while_another_connection_writes(tmp_path: Path) -> None:
    database = tmp_path / "busy.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE pair (id INTEGER PRIMARY KEY, half INTEGER, pad TEXT)")
    stop = threading.Event()
    written = [0]

    def write() -> None:
        # Rows go in pairs, in one transaction each: a consistent copy has an even count.
        with sqlite3.connect(database, timeout=30) as writer:
            while not stop.is_set():
                writer.execute("BEGIN IMMEDIATE")
                writer.executemany(
                    "INSERT INTO pair (half, pad) VALUES (?, ?)", [(0, "x" * 2000), (1, "y" * 2000)]
                )
                writer.execute("COMMIT")
                written[0] += 1
                # A breath between saves, as between coders' saves: without it the writer
                # holds the lock nearly all the time and the reader waits its turn for long.
                stop.wait(0.002)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        counts = []
        for number in range(5):
            while written[0] < (number + 1) * 20:
                stop.wait(0.01)
            copy = tmp_path / f"copy{number}.sqlite3"
            backup.sqlite_snapshot(database, copy)
            with sqlite3.connect(copy) as check:
                assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                (count,) = check.execute("SELECT count(*) FROM pair").fetchone()
                halves = check.execute("SELECT half, count(*) FROM pair GROUP BY half").fetchall()
            assert count % 2 == 0
            assert len({n for _, n in halves}) == 1
            counts.append(count)
    finally:
        stop.set()
        writer.join()
    assert counts == sorted(counts) and counts[-1] > counts[0] > 0


def test_sqlite_backup_of_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(backup.BackupError, match="there is no database at"):
        backup.create_backup(make_url(f"sqlite:///{tmp_path / 'none.sqlite3'}"), tmp_path, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- PostgreSQL: the tools, the password ------------------------------------------------


def test_the_password_goes_through_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = make_url("postgresql+psycopg://coder:s3cret%20pw@db.example:5433/study?sslmode=require")
    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(backup, "_tool", lambda name, url: f"/usr/bin/{name}")
    monkeypatch.setattr(
        backup, "_run", lambda command, env, what, **kw: calls.append((command, env))
    )
    backup.pg_dump(url, tmp_path / "dump")
    ((command, env),) = calls
    assert not any("s3cret" in part or "coder" in part or "study" in part for part in command)
    assert command[:2] == ["/usr/bin/pg_dump", "--format=custom"]
    assert {k: env[k] for k in env if k.startswith("PG")} == {
        "PGHOST": "db.example",
        "PGPORT": "5433",
        "PGUSER": "coder",
        "PGPASSWORD": "s3cret pw",
        "PGDATABASE": "study",
        "PGSSLMODE": "require",
    }


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("found", "version", "message"),
    [
        (None, None, "pg_dump is not installed: it comes with PostgreSQL's client tools"),
        ("/old/pg_dump", 9, "/old/pg_dump is version 9, older than the PostgreSQL"),
    ],
)
def test_pg_dump_missing_or_too_old(
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    found: str | None,
    version: int | None,
    message: str,
) -> None:
    url = make_url(postgres_server.url("postgres"))
    monkeypatch.setattr(backup, "find_postgres_tool", lambda name: found)
    monkeypatch.setattr(backup, "tool_major_version", lambda tool: version)
    with pytest.raises(backup.BackupError, match=message) as raised:
        backup.pg_dump(url, tmp_path / "dump")
    assert "install postgresql-client-" in str(raised.value)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_postgres_restore_that_fails_late_changes_nothing(
    app: Flask, coded: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "b.tar.gz"
    assert invoke(app, "backup", "--out", str(archive)).exit_code == 0
    db.session.execute(delete(FinalValue))
    db.session.commit()
    before = snapshot()
    real_run = backup._run

    def fail_at_the_end(command: list[str], env: dict[str, str], what: str, **kw: Any) -> None:
        # After every table was dropped and loaded again, one statement fails.
        if "--single-transaction" in command:
            script = Path(next(a for a in command if a.startswith("--file=")).split("=", 1)[1])
            with script.open("a") as out:
                out.write("SELECT 1/0;\n")
        real_run(command, env, what, **kw)

    monkeypatch.setattr(backup, "_run", fail_at_the_end)
    result = invoke(app, "restore", str(archive), "--yes")
    assert result.exit_code == 1
    assert "(nothing was changed)" in result.output and "division by zero" in result.output
    assert snapshot() == before
