"""Load codebook files into versions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..codebook import parse_codebook
from ..models import Codebook, CodebookVersion, User
from . import Session


@dataclass(frozen=True)
class LoadResult:
    """What loading a codebook file did."""

    version: CodebookVersion
    created: bool

    def describe(self) -> str:
        """One line for the person who loaded the file."""
        codebook = self.version.codebook
        if self.created:
            return f"codebook '{codebook.slug}': loaded as version {self.version.number}"
        return f"codebook '{codebook.slug}': unchanged, still version {self.version.number}"


def load_codebook_text(
    session: Session, text: str, source_name: str, loaded_by: User | None = None
) -> LoadResult:
    """Validate a codebook file and store it as a new version unless nothing changed.

    "Unchanged" compares the parsed codebook, not the bytes: an edit to comments or layout
    does not split the labels across two versions. Raises ``CodebookError`` for an
    invalid file.
    """
    definition = parse_codebook(text, source_name)
    fingerprint = definition.fingerprint()
    codebook = session.scalar(select(Codebook).where(Codebook.slug == definition.id))
    if codebook is None:
        codebook = Codebook(slug=definition.id, title=definition.title.get("en"))
        session.add(codebook)
        session.flush()
    latest = codebook.latest
    if latest is not None and latest.fingerprint == fingerprint:
        return LoadResult(latest, created=False)
    version = CodebookVersion(
        codebook=codebook,
        number=(latest.number + 1) if latest else 1,
        fingerprint=fingerprint,
        source_name=source_name,
        source_text=text,
        definition=definition.to_dict(),
        created_by_id=loaded_by.id if loaded_by else None,
    )
    codebook.title = definition.title.get("en")
    session.add(version)
    session.flush()
    return LoadResult(version, created=True)


def all_codebooks(session: Session) -> list[Codebook]:
    """Every codebook, by slug."""
    return list(session.scalars(select(Codebook).order_by(Codebook.slug)))


def find_codebook(session: Session, slug: str | None) -> Codebook:
    """The codebook with ``slug``; without a slug, the only one there is."""
    if slug:
        codebook = session.scalar(select(Codebook).where(Codebook.slug == slug))
        if codebook is None:
            known = ", ".join(c.slug for c in all_codebooks(session)) or "none loaded yet"
            raise LookupError(f"there is no codebook '{slug}' (known: {known})")
        return codebook
    codebooks = all_codebooks(session)
    if len(codebooks) == 1:
        return codebooks[0]
    if not codebooks:
        raise LookupError("no codebook is loaded yet: run `annotator codebook load FILE` first")
    names = ", ".join(c.slug for c in codebooks)
    raise LookupError(f"several codebooks are loaded ({names}): name one")


def find_version(session: Session, slug: str | None, number: int | None) -> CodebookVersion:
    """Version ``number`` of the codebook ``slug`` (see find_codebook), else the newest
    version anyone has coded with, else the newest. Raises LookupError naming the choices."""
    from ..models import LabelSet

    codebook = find_codebook(session, slug)
    versions = {version.number: version for version in codebook.versions}
    if not versions:
        raise LookupError(f"codebook {codebook.slug} has no version")
    if number is not None:
        if number not in versions:
            raise LookupError(
                f"codebook {codebook.slug} has no version {number} "
                f"(versions: {', '.join(map(str, sorted(versions)))})"
            )
        return versions[number]
    coded = session.scalar(
        select(CodebookVersion)
        .join(LabelSet, LabelSet.codebook_version_id == CodebookVersion.id)
        .where(CodebookVersion.codebook_id == codebook.id)
        .order_by(CodebookVersion.number.desc())
        .limit(1)
    )
    return coded or versions[max(versions)]
