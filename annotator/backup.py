"""Backups of a project: its database and its stored document files, in one archive.

A backup is a ``.tar.gz`` holding ``manifest.json`` (what it is, when it was made, the
schema revision), the database (``database.sqlite3``, a SQLite copy made with SQLite's
online backup API, or ``database.pgdump``, ``pg_dump --format=custom``) and, unless left
out, the stored originals under ``documents/`` as in ``DATA_DIR`` (``<2 hex>/<sha256>``).
One file is what an administrator copies off the server, and a restore cannot pair a
database with the wrong documents.

Restoring checks the whole archive before it changes anything: the manifest, the kind of
database, the revision (one this code knows), the database copy itself (SQLite's integrity
check, ``pg_restore --list``) and every document's SHA-256. Documents are added to the
data folder (stored by content, so an existing file is already the right one); the database
is replaced in one transaction, so a restore that fails leaves it as it was.

Plain module: no Flask. The database is named by a SQLAlchemy URL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

FORMAT = "annotator-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
POSTGRES_MEMBER = "database.pgdump"
DOCUMENTS = "documents"
STORED_NAME = re.compile(r"^[0-9a-f]{2}/([0-9a-f]{64})$")
# Tables every database of this app has had since the first migration.
APP_TABLES = {"alembic_version", "user", "codebook", "document", "label_set"}

# libpq reads these from the environment; a URL's query may set them (?sslmode=require).
LIBPQ_QUERY_ENVIRONMENT = {
    "host": "PGHOST",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
}


class BackupError(RuntimeError):
    """A backup or restore cannot be done; the message says why, and nothing was changed."""


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, as written in its ``manifest.json``."""

    database: str  # "sqlite" or "postgresql"
    revision: str | None
    created_at: str
    documents: int
    annotator_version: str

    def as_json(self) -> str:
        return json.dumps(
            {"format": FORMAT, "format_version": FORMAT_VERSION, **self.__dict__}, indent=2
        )


@dataclass(frozen=True)
class BackupResult:
    """A backup written: where, and what it holds."""

    path: Path
    manifest: Manifest
    size_bytes: int


def database_kind(url: URL) -> str:
    """``sqlite`` or ``postgresql``; anything else cannot be backed up here."""
    backend = url.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise BackupError(f"cannot back up a {backend} database: only SQLite and PostgreSQL")
    return backend


def backup_name(now: dt.datetime | None = None) -> str:
    """The file name of a new backup: ``annotator-backup-20261123-023000.tar.gz`` (UTC)."""
    now = now or dt.datetime.now(dt.UTC)
    return f"annotator-backup-{now:%Y%m%d-%H%M%S}.tar.gz"


def _annotator_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("annotator")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown"


# --- making a backup -------------------------------------------------------------------


def create_backup(
    url: URL,
    data_dir: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    include_documents: bool = True,
) -> BackupResult:
    """Write a backup archive to ``out`` (a file, or a folder to put a dated file in).

    The database is copied first and the documents second: a document's file is stored
    before its row is committed, so every document in the copy has its file.
    """
    kind = database_kind(url)
    target = _target_path(out)
    if target.exists():
        raise BackupError(f"{target} exists already: choose another name")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".annotator-backup-") as work:
        if kind == "sqlite":
            database_file = Path(work) / SQLITE_MEMBER
            sqlite_snapshot(_sqlite_path(url), database_file)
            revision = _sqlite_revision(database_file)
        else:
            database_file = Path(work) / POSTGRES_MEMBER
            revision = _postgres_revision(url)
            pg_dump(url, database_file)
        documents = list(_stored_files(data_dir)) if include_documents else []
        manifest = Manifest(
            database=kind,
            revision=revision,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            documents=len(documents),
            annotator_version=_annotator_version(),
        )
        partial = Path(work) / "archive.tar.gz"
        # The archive holds password hashes and the study's data: readable by its owner only.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            _add_bytes(archive, MANIFEST, manifest.as_json().encode())
            archive.add(database_file, arcname=database_file.name, recursive=False)
            for name, path in documents:
                archive.add(path, arcname=f"{DOCUMENTS}/{name}", recursive=False)
        # A backup that stopped half-way never lies under the final name.
        os.replace(partial, target)
    return BackupResult(path=target, manifest=manifest, size_bytes=target.stat().st_size)


def _target_path(out: str | os.PathLike[str] | None) -> Path:
    if out is None:
        return Path.cwd() / backup_name()
    path = Path(out)
    if path.is_dir() or str(out).endswith(os.sep):
        if not path.is_dir():
            raise BackupError(f"the folder {path} does not exist")
        return path / backup_name()
    if not path.parent.is_dir():
        raise BackupError(f"the folder {path.parent} does not exist")
    return path


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
    archive.addfile(info, io.BytesIO(data))


def _stored_files(data_dir: str | os.PathLike[str]) -> Iterator[tuple[str, Path]]:
    """The stored originals (``<2 hex>/<sha256>``), skipping anything else in the folder."""
    root = Path(data_dir)
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or not re.fullmatch(r"[0-9a-f]{2}", folder.name):
            continue
        for path in sorted(folder.iterdir()):
            name = f"{folder.name}/{path.name}"
            if path.is_file() and STORED_NAME.match(name):
                yield name, path


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database)


def sqlite_snapshot(source: Path, target: Path) -> None:
    """Copy a live SQLite database with SQLite's online backup API, consistently.

    All pages are copied in one step (``pages=-1``), under one read transaction: writers
    wait a moment (or, in WAL mode, go on), and the copy is the database at one instant.
    Copying in small steps would restart whenever a coder saved, perhaps forever.
    """
    if not source.is_file():
        raise BackupError(f"there is no database at {source}")
    with (
        contextlib.closing(sqlite3.connect(source, timeout=60)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        try:
            src.backup(dst, pages=-1)
        except sqlite3.Error as error:
            raise BackupError(f"cannot copy the database {source}: {error}") from None
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
    if check != "ok":
        raise BackupError(f"the copy of {source} fails SQLite's integrity check: {check}")


def _sqlite_revision(path: Path) -> str | None:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None
    return str(row[0]) if row else None


@contextlib.contextmanager
def _postgres_connection(url: URL) -> Iterator[Any]:
    """A connection to the PostgreSQL database at ``url``; BackupError when it fails."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            yield connection
    except Exception as error:
        raise BackupError(
            f"cannot reach the database {_shown(url)}: {_first_line(error)}"
        ) from None
    finally:
        engine.dispose()


def _postgres_revision(url: URL) -> str | None:
    with _postgres_connection(url) as connection:
        exists = connection.scalar(text("SELECT to_regclass('public.alembic_version')"))
        if exists is None:
            return None
        return connection.scalar(text("SELECT version_num FROM alembic_version"))


# --- PostgreSQL's tools ----------------------------------------------------------------


def find_postgres_tool(name: str) -> str | None:
    """The newest ``pg_dump``/``pg_restore``/``psql``: Debian's versioned folders, else PATH.

    Debian's /usr/bin/pg_dump is a wrapper that may pick an older version, and pg_dump
    cannot dump a server newer than itself, so the newest installed one is preferred.
    """
    candidates = [Path(p) for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}")]
    versioned = sorted(
        (c for c in candidates if c.parent.parent.name.isdigit()),
        key=lambda c: int(c.parent.parent.name),
        reverse=True,
    )
    if versioned:
        return str(versioned[0])
    return shutil.which(name)


def tool_major_version(tool: str) -> int:
    """The major version of a PostgreSQL tool, from ``--version`` (``pg_dump (PostgreSQL) 15.4``)."""
    result = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", result.stdout)
    if result.returncode != 0 or not match:
        raise BackupError(f"cannot tell the version of {tool}: {result.stdout}{result.stderr}")
    return int(match.group(1))


def server_major_version(url: URL) -> int:
    """The major version of the PostgreSQL server at ``url``."""
    with _postgres_connection(url) as connection:
        return int(connection.scalar(text("SHOW server_version_num")) or 0) // 10000


def _tool(name: str, url: URL) -> str:
    """A PostgreSQL tool at least as new as the server, or a message saying what to install."""
    tool = find_postgres_tool(name)
    server = server_major_version(url)
    if tool is None:
        raise BackupError(
            f"{name} is not installed: it comes with PostgreSQL's client tools "
            f"(Debian: apt-get install postgresql-client-{server})"
        )
    mine = tool_major_version(tool)
    if mine < server:
        raise BackupError(
            f"{tool} is version {mine}, older than the PostgreSQL {server} server: "
            f"install postgresql-client-{server}"
        )
    return tool


def postgres_environment(url: URL) -> dict[str, str]:
    """The environment for libpq tools: the URL's parts, the password in PGPASSWORD.

    Nothing of the URL goes on a command line, where any user of the machine could read it
    in the process list.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    parts = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password if isinstance(url.password, str) else None,
        "PGDATABASE": url.database,
    }
    for key, value in url.query.items():
        name = LIBPQ_QUERY_ENVIRONMENT.get(key)
        if name and isinstance(value, str):
            parts[name] = value
    env.update({k: v for k, v in parts.items() if v})
    return env


def _run(command: list[str], env: dict[str, str], what: str, **kwargs: Any) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = "\n".join(lines[-5:]) or f"exit code {result.returncode}"
        raise BackupError(f"{what} failed:\n{detail}")


def pg_dump(url: URL, target: Path) -> None:
    """Dump the database in pg_dump's custom format (compressed, restorable selectively)."""
    tool = _tool("pg_dump", url)
    _run(
        [tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"],
        postgres_environment(url),
        f"pg_dump of {_shown(url)}",
    )


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _first_line(error: BaseException) -> str:
    orig = getattr(error, "orig", None)
    return (str(orig or error).strip().splitlines() or [""])[0]


# --- reading and restoring -------------------------------------------------------------


@dataclass
class CheckedBackup:
    """A backup archive whose every part was checked, unpacked into a staging folder."""

    manifest: Manifest
    database_file: Path
    documents: list[tuple[str, Path]]


def read_manifest(archive_path: str | os.PathLike[str]) -> Manifest:
    """The manifest of a backup archive, or ``BackupError`` if it is not one."""
    with _open_archive(archive_path) as archive:
        return _manifest(archive, archive_path)


@contextlib.contextmanager
def _open_archive(archive_path: str | os.PathLike[str]) -> Iterator[tarfile.TarFile]:
    try:
        archive = tarfile.open(archive_path, mode="r:gz")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BackupError(
            f"{archive_path} is not an annotator backup (not a .tar.gz archive: {error})"
        ) from None
    with archive:
        yield archive


def _manifest(archive: tarfile.TarFile, archive_path: str | os.PathLike[str]) -> Manifest:
    not_ours = f"{archive_path} is not an annotator backup"
    try:
        member = archive.getmember(MANIFEST)
        stream = archive.extractfile(member)
        data = json.loads(stream.read()) if stream else None
    except KeyError:
        raise BackupError(f"{not_ours} (it has no {MANIFEST})") from None
    except (tarfile.TarError, OSError, EOFError, ValueError) as error:
        raise BackupError(f"{not_ours} (unreadable {MANIFEST}: {error})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupError(f"{not_ours} ({MANIFEST} is not one of ours)")
    if data.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{archive_path} is a backup in format version {data.get('format_version')}; "
            f"this version of annotator reads version {FORMAT_VERSION}"
        )
    try:
        return Manifest(
            database=str(data["database"]),
            revision=data["revision"],
            created_at=str(data["created_at"]),
            documents=int(data["documents"]),
            annotator_version=str(data.get("annotator_version", "unknown")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BackupError(f"{not_ours} ({MANIFEST} lacks {error})") from None


def check_backup(
    archive_path: str | os.PathLike[str],
    url: URL,
    known_revisions: Iterable[str],
    staging: Path,
) -> CheckedBackup:
    """Unpack a backup into ``staging`` and check every part of it; change nothing else."""
    kind = database_kind(url)
    with _open_archive(archive_path) as archive:
        manifest = _manifest(archive, archive_path)
        if manifest.database != kind:
            raise BackupError(
                f"{archive_path} is a backup of a {manifest.database} database; "
                f"the database to restore into is {kind} ({_shown(url)})"
            )
        known = set(known_revisions)
        if manifest.revision is not None and manifest.revision not in known:
            raise BackupError(
                f"{archive_path} was made at schema revision {manifest.revision}, which this "
                "version of annotator does not know: restore it with the version that made it "
                f"({manifest.annotator_version})"
            )
        database_name = SQLITE_MEMBER if kind == "sqlite" else POSTGRES_MEMBER
        database_file = staging / database_name
        documents: list[tuple[str, Path]] = []
        found_database = False
        try:
            for member in archive:
                if member.name == MANIFEST:
                    continue
                if member.name == database_name and member.isfile():
                    _extract(archive, member, database_file)
                    found_database = True
                    continue
                name = member.name.removeprefix(f"{DOCUMENTS}/")
                match = STORED_NAME.match(name)
                if member.name.startswith(f"{DOCUMENTS}/") and match and member.isfile():
                    path = staging / DOCUMENTS / name
                    digest = _extract(archive, member, path)
                    if digest != match.group(1):
                        raise BackupError(
                            f"{archive_path}: the document file {name} is damaged "
                            "(its content does not match its SHA-256 name)"
                        )
                    documents.append((name, path))
                    continue
                raise BackupError(f"{archive_path} holds an unexpected entry: {member.name}")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise BackupError(f"{archive_path} is damaged: {error}") from None
    if not found_database:
        raise BackupError(f"{archive_path} holds no {database_name}")
    if len(documents) != manifest.documents:
        raise BackupError(
            f"{archive_path} should hold {manifest.documents} document files, "
            f"it holds {len(documents)}"
        )
    if kind == "sqlite":
        _check_sqlite_copy(database_file, manifest, archive_path)
    else:
        tool = _tool("pg_restore", url)
        _run([tool, "--list", str(database_file)], postgres_environment(url), "pg_restore --list")
    return CheckedBackup(manifest=manifest, database_file=database_file, documents=documents)


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> str:
    """Copy one member to ``target`` (never to a path the archive names); its SHA-256."""
    source = archive.extractfile(member)
    if source is None:
        raise BackupError(f"cannot read {member.name}")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with source, target.open("wb") as out:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _check_sqlite_copy(path: Path, manifest: Manifest, archive_path: Any) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            check = db.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            revision = _sqlite_revision(path) if "alembic_version" in tables else None
    except sqlite3.Error as error:
        raise BackupError(
            f"{archive_path}: its database is not a SQLite database ({error})"
        ) from None
    if check != "ok":
        raise BackupError(f"{archive_path}: its database fails SQLite's integrity check: {check}")
    if manifest.revision is not None and not tables >= APP_TABLES:
        raise BackupError(f"{archive_path}: its database is not an annotator database")
    if revision != manifest.revision:
        raise BackupError(
            f"{archive_path}: its database is at revision {revision}, "
            f"its manifest says {manifest.revision}"
        )


def restore_backup(
    archive_path: str | os.PathLike[str],
    url: URL,
    data_dir: str | os.PathLike[str],
    known_revisions: Iterable[str],
) -> Manifest:
    """Restore a backup: check it all, add its documents, then replace the database.

    The server should be stopped meanwhile (docs/deploy.md). A failure at any point leaves
    the database as it was; documents already added are harmless (stored by content).
    """
    kind = database_kind(url)
    staging_parent = _sqlite_path(url).parent if kind == "sqlite" else None
    if staging_parent is not None and not staging_parent.is_dir():
        raise BackupError(f"the folder {staging_parent} does not exist")
    with tempfile.TemporaryDirectory(dir=staging_parent, prefix=".annotator-restore-") as work:
        checked = check_backup(archive_path, url, known_revisions, Path(work))
        _add_documents(checked.documents, Path(data_dir))
        if kind == "sqlite":
            _restore_sqlite(checked.database_file, _sqlite_path(url))
        else:
            _restore_postgres(checked.database_file, url, Path(work))
    return checked.manifest


def _add_documents(documents: list[tuple[str, Path]], data_dir: Path) -> None:
    for name, staged in documents:
        target = data_dir / name
        if target.is_file():
            continue  # same name, same content: stored by SHA-256
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".incoming-{target.name}"
        shutil.copyfile(staged, temporary)
        os.replace(temporary, target)


def _restore_sqlite(copy: Path, database: Path) -> None:
    """Write the copy into the live database file with the backup API, in one transaction.

    Not a rename over the file: a server or command with the file open would go on writing
    to the old one, and a leftover ``-wal`` file would be replayed into the new one. SQLite
    locks the target for the copy and rolls it back if it fails.
    """
    try:
        with (
            contextlib.closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(database, timeout=60)) as dst,
        ):
            src.backup(dst, pages=-1)
    except sqlite3.Error as error:
        raise BackupError(f"cannot write the database {database}: {error}") from None


def _restore_postgres(dump: Path, url: URL, work: Path) -> None:
    """Replace every table with the dump's, with psql in a single transaction.

    pg_restore writes the dump as SQL; before it, the script drops the tables there are now,
    which the dump may not have (a backup from before a migration). Any error rolls the
    whole transaction back (``ON_ERROR_STOP``, ``--single-transaction``).
    """
    pg_restore, psql = _tool("pg_restore", url), _tool("psql", url)
    env = postgres_environment(url)
    script = work / "restore.sql"
    with _postgres_connection(url) as connection:
        tables = connection.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).all()
        sequences = connection.scalars(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        ).all()
    with script.open("w", encoding="utf-8") as out:
        for table in tables:
            out.write(f"DROP TABLE IF EXISTS public.{_quote(table)} CASCADE;\n")
        for sequence in sequences:
            out.write(f"DROP SEQUENCE IF EXISTS public.{_quote(sequence)} CASCADE;\n")
    body = work / "dump.sql"
    _run(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            f"--file={body}",
            str(dump),
        ],
        env,
        "pg_restore",
    )
    with script.open("a", encoding="utf-8") as out, body.open(encoding="utf-8") as dumped:
        shutil.copyfileobj(dumped, out)
    _run(
        [
            psql,
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            "--single-transaction",
            f"--file={script}",
        ],
        env,
        f"restoring into {_shown(url)} (nothing was changed)",
    )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
