"""Import document files: store each once by its SHA-256, keep its text per page.

Each file is its own transaction: a bad file is refused with a reason and the batch goes
on; a file that fails half-way leaves neither a row nor a stored file behind.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..extraction import SUPPORTED_SUFFIXES, RefusedFile, extract, sha256_file
from ..messages import Message
from ..metadata import DocumentMetadata
from ..models import Document, Page, User
from . import Session

IMPORTED = "imported"
DUPLICATE = "duplicate"
REFUSED = "refused"


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one file."""

    path: str
    status: str
    reason: str | None = None
    document_id: int | None = None
    flags: tuple[str, ...] = ()


@dataclass
class ImportReport:
    """What happened to every file of a batch."""

    outcomes: list[ImportOutcome] = field(default_factory=list)

    def with_status(self, status: str) -> list[ImportOutcome]:
        """The outcomes with one status, in the order the files were seen."""
        return [o for o in self.outcomes if o.status == status]

    @property
    def imported(self) -> list[ImportOutcome]:
        return self.with_status(IMPORTED)

    @property
    def duplicates(self) -> list[ImportOutcome]:
        return self.with_status(DUPLICATE)

    @property
    def refused(self) -> list[ImportOutcome]:
        return self.with_status(REFUSED)

    def summary_lines(self) -> list[str]:
        """A summary for people: counts, then every duplicate, refusal and warning."""
        lines = [
            f"imported {len(self.imported)}, duplicates {len(self.duplicates)}, refused {len(self.refused)}"
        ]
        for outcome in self.imported:
            for flag in outcome.flags:
                lines.append(f"  imported with a warning: {outcome.path}: {flag}")
        for outcome in self.duplicates:
            lines.append(f"  duplicate: {outcome.path}: {outcome.reason}")
        for outcome in self.refused:
            lines.append(f"  refused: {outcome.path}: {outcome.reason}")
        return lines


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files named, and every file below the folders named, in a stable order.

    Hidden files and CSV files (metadata, not documents) inside folders are passed over;
    any other file is kept, so that an unsupported one is reported rather than ignored.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if child.is_file() and child.suffix.lower() != ".csv":
                    files.append(child)
        else:
            files.append(path)
    return files


_SHA256 = re.compile(r"[0-9a-f]{64}")


def stored_path(data_dir: str | os.PathLike[str], sha256: str) -> Path:
    """Where the file with this hash lives under the data directory.

    Only a SHA-256 in lowercase hex makes a path, so that no value (a damaged row, a
    restored backup) can name a file outside the data directory.
    """
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 digest: {sha256[:80]!r}")
    return Path(data_dir) / sha256[:2] / sha256


def _store(source: Path, data_dir: str | os.PathLike[str], sha256: str) -> tuple[Path, bool]:
    """Copy ``source`` into the data directory; return its path and whether it was new."""
    target = stored_path(data_dir, sha256)
    if target.exists():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary name in the same folder, then rename: a crash never leaves a
    # partial file under the final name.
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target, True


def _discard(session: Session, stored: Path, sha256: str) -> None:
    """Remove a file this import stored, unless a document committed meanwhile has it.

    Two imports of the same content at once both write the same stored file; the one that
    fails must not delete the file of the one that succeeded.
    """
    try:
        taken = session.scalar(select(Document.id).where(Document.sha256 == sha256))
    except SQLAlchemyError:
        # The database is unreachable: a stray file costs disk space, a deleted one a document.
        session.rollback()
        return
    if taken is None:
        stored.unlink(missing_ok=True)


def import_file(
    session: Session,
    path: Path,
    *,
    data_dir: str | os.PathLike[str],
    max_bytes: int,
    metadata: DocumentMetadata | None = None,
    imported_by: User | None = None,
    display_name: str | None = None,
) -> ImportOutcome:
    """Import one file, committing on success and rolling back everything on failure."""
    shown = display_name or str(path)
    try:
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise RefusedFile(
                Message(
                    "unsupported file type '%(suffix)s': use %(supported)s",
                    suffix=path.suffix or "(none)",
                    supported=", ".join(sorted(SUPPORTED_SUFFIXES)),
                )
            )
        size = path.stat().st_size
        if size > max_bytes:
            raise RefusedFile(
                Message(
                    "over the size limit (%(size)s > %(limit)s)",
                    size=f"{size / 2**20:.1f} MB",
                    limit=f"{max_bytes / 2**20:.1f} MB",
                )
            )
        sha256 = sha256_file(path)
        existing = session.scalar(select(Document).where(Document.sha256 == sha256))
        if existing is not None:
            return ImportOutcome(
                shown,
                DUPLICATE,
                Message(
                    "same content as document %(id)s (%(name)s)",
                    id=existing.id,
                    name=existing.filename,
                ),
                existing.id,
            )
        extracted = extract(path, max_bytes=max_bytes)
    except RefusedFile as refusal:
        return ImportOutcome(shown, REFUSED, refusal.reason)
    except OSError as error:
        return ImportOutcome(
            shown,
            REFUSED,
            Message("cannot read the file: %(problem)s", problem=error.strerror or str(error)),
        )

    stored: Path | None = None
    created = False
    try:
        stored, created = _store(path, data_dir, extracted.sha256)
        fields = dict(metadata.fields) if metadata else {}
        document = Document(
            sha256=extracted.sha256,
            filename=shown_filename(display_name or path.name),
            format=extracted.format,
            size_bytes=extracted.size,
            page_count=extracted.page_count,
            has_text=extracted.has_text,
            title=(extracted.title or None) and extracted.title[:500],
            extra=dict(metadata.extra) if metadata else {},
            imported_by_id=imported_by.id if imported_by else None,
            **fields,
        )
        document.pages = [
            Page(number=page.number, text=page.text, char_start=page.start)
            for page in extracted.pages
        ]
        session.add(document)
        session.commit()
    except IntegrityError:
        # Another import stored the same content between our check and our insert.
        session.rollback()
        if created and stored is not None:
            _discard(session, stored, extracted.sha256)
        return ImportOutcome(
            shown, DUPLICATE, Message("same content as a document imported at the same time")
        )
    except Exception as error:
        session.rollback()
        if created and stored is not None:
            _discard(session, stored, extracted.sha256)
        return ImportOutcome(
            shown,
            REFUSED,
            Message("could not be stored: %(problem)s", problem=_storage_error(error)),
        )
    return ImportOutcome(shown, IMPORTED, None, document.id, tuple(document.flags))


# Control characters, and the bidirectional overrides that make "gnp.exe" read "exe.png".
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FILENAME_LENGTH = 500  # the column's


def shown_filename(name: str) -> str:
    """A file name as kept and shown: no control characters, cut to fit, its suffix kept."""
    name = _UNSHOWABLE.sub("", name) or "document"
    if len(name) <= _FILENAME_LENGTH:
        return name
    suffix = Path(name).suffix[:20]
    return name[: _FILENAME_LENGTH - len(suffix) - 1] + "…" + suffix


def _storage_error(error: Exception) -> str:
    """A failure while storing, in short: a database error's SQL and values are left out."""
    if isinstance(error, SQLAlchemyError):
        original = getattr(error, "orig", None)
        return f"database error ({type(original or error).__name__})"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)[:300]


def import_files(
    session: Session,
    files: Iterable[Path],
    *,
    data_dir: str | os.PathLike[str],
    max_bytes: int,
    metadata: Mapping[str, DocumentMetadata] | None = None,
    imported_by: User | None = None,
    progress: Callable[[ImportOutcome], None] | None = None,
) -> ImportReport:
    """Import files one by one; ``progress`` is called after each file."""
    report = ImportReport()
    for path in files:
        outcome = import_file(
            session,
            path,
            data_dir=data_dir,
            max_bytes=max_bytes,
            metadata=(metadata or {}).get(path.name),
            imported_by=imported_by,
        )
        report.outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return report


def unmatched_metadata(
    metadata: Mapping[str, DocumentMetadata], files: Iterable[Path]
) -> list[str]:
    """File names in the metadata that match no file of the batch (likely typos)."""
    names = {path.name for path in files}
    return sorted(name for name in metadata if name not in names)
