"""The data model: codebooks, documents, people, assignments, labels and their history.

See ``docs/architecture.md`` for the entity diagram. Values of variables are stored as JSON
in the form the codebook module defines (``annotator.codebook``), so that a new codebook
never needs a new table.
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .codebook import Codebook as CodebookDefinition
from .extensions import db
from .extraction import DocumentFormat


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(db.TypeDecorator):  # type: ignore[name-defined]
    """A timestamp that comes back timezone-aware (UTC) on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use annotator.models.utcnow()")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Role(enum.StrEnum):
    """What a person may do. Views ask ``user.role.can_*()``, never compare role names."""

    PI = "pi"
    CODER = "coder"

    def can_administer(self) -> bool:
        """Manage codebooks, documents, people and assignments."""
        return self is Role.PI

    def can_code(self) -> bool:
        """Record labels on documents assigned to oneself."""
        return True

    def can_see_all_labels(self) -> bool:
        """See other people's labels (coders are blind to each other's)."""
        return self is Role.PI

    def can_be_assigned(self) -> bool:
        """Receive documents to code."""
        return self is Role.CODER

    def can_import(self) -> bool:
        """Upload and import documents."""
        return self is Role.PI

    def can_adjudicate(self) -> bool:
        """Decide final values without being granted the right (``User.can_adjudicate``)."""
        return self is Role.PI


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    """A person who logs in: the PI or a coder."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            name="role",
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The interface language (a key of ``locales.LOCALES``); None follows the browser.
    locale: Mapped[str | None] = mapped_column(String(20))
    # The adjudicator right, which the PI may give a coder: deciding final values of
    # documents the coder did not code (``may_adjudicate``).
    can_adjudicate: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def may_adjudicate(self) -> bool:
        """Whether this person may open the adjudication pages at all."""
        return self.role.can_adjudicate() or self.can_adjudicate

    def set_password(self, password: str) -> None:
        """Store a salted hash of ``password``."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Whether ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def name(self) -> str:
        """The name to show: display name, else user name."""
        return self.display_name or self.username

    def __repr__(self) -> str:
        return f"<User {self.username} ({self.role.value})>"


class Codebook(db.Model):  # type: ignore[name-defined]
    """A codebook, identified by the ``id`` in its file; its content lives in versions."""

    __tablename__ = "codebook"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[CodebookVersion]] = relationship(
        back_populates="codebook", order_by="CodebookVersion.number"
    )

    @property
    def latest(self) -> CodebookVersion | None:
        """The newest version, which new label sets are made under."""
        return self.versions[-1] if self.versions else None


class CodebookVersion(db.Model):  # type: ignore[name-defined]
    """One loaded state of a codebook. Labels stay tied to the version they were made under."""

    __tablename__ = "codebook_version"
    __table_args__ = (
        UniqueConstraint("codebook_id", "number"),
        UniqueConstraint("codebook_id", "fingerprint"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    codebook_id: Mapped[int] = mapped_column(ForeignKey("codebook.id"))
    number: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str] = mapped_column(String(300))
    # Deferred: a save or a page load needs only the fingerprint (the parsed codebook is
    # cached under it), and decoding the definition's JSON on every query cost a save more
    # than all its SQL.
    source_text: Mapped[str] = mapped_column(Text, deferred=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    codebook: Mapped[Codebook] = relationship(back_populates="versions")

    def parsed(self) -> CodebookDefinition:
        """The codebook this version holds, parsed once per process and fingerprint.

        Versions never change, and the fingerprint is the SHA-256 of the codebook's content,
        so every row with the same fingerprint holds the same codebook (see
        ``parsed_definition``).
        """
        cached = self.__dict__.get("_parsed")
        if cached is None:
            # The definition is a deferred column: read (one query) only on a cache miss.
            cached = parsed_definition(self.fingerprint, lambda: self.definition)
            self.__dict__["_parsed"] = cached
        return cached


_PARSED_CACHE_SIZE = 64
_parsed_cache: OrderedDict[str, CodebookDefinition] = OrderedDict()
_parsed_cache_lock = threading.Lock()


def parsed_definition(
    fingerprint: str, definition: Callable[[], dict[str, Any]]
) -> CodebookDefinition:
    """A codebook version's definition, parsed and checked once per process (LRU of 64).

    Parsing checks the whole definition like a codebook file, which costs milliseconds;
    the coding page and every save need it. The parse is cached under the fingerprint only
    when the parsed codebook has that fingerprint, so a row whose definition was changed
    behind the application's back is parsed afresh rather than served another's codebook.
    The codebook objects are frozen, so sharing one between requests and threads is safe.
    """
    with _parsed_cache_lock:
        cached = _parsed_cache.get(fingerprint)
        if cached is not None:
            _parsed_cache.move_to_end(fingerprint)
            return cached
    parsed = CodebookDefinition.from_dict(definition())
    if parsed.fingerprint() != fingerprint:
        return parsed
    with _parsed_cache_lock:
        cached = _parsed_cache.setdefault(fingerprint, parsed)
        _parsed_cache.move_to_end(fingerprint)
        while len(_parsed_cache) > _PARSED_CACHE_SIZE:
            _parsed_cache.popitem(last=False)
    return cached


class Document(db.Model):  # type: ignore[name-defined]
    """An imported file: stored once by its SHA-256, its text kept per page."""

    __tablename__ = "document"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(500))
    format: Mapped[DocumentFormat] = mapped_column(
        Enum(
            DocumentFormat,
            name="document_format",
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    size_bytes: Mapped[int] = mapped_column(Integer)
    page_count: Mapped[int] = mapped_column(Integer)
    has_text: Mapped[bool] = mapped_column(Boolean)
    title: Mapped[str | None] = mapped_column(String(500))
    # Study metadata, from the import CSV; anything else goes to ``extra``.
    province: Mapped[str | None] = mapped_column(String(100), index=True)
    city: Mapped[str | None] = mapped_column(String(100))
    level: Mapped[str | None] = mapped_column(String(50))
    year: Mapped[int | None] = mapped_column(Integer, index=True)
    value: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    vendor: Mapped[str | None] = mapped_column(String(300))
    kind: Mapped[str | None] = mapped_column(String(50))
    source_url: Mapped[str | None] = mapped_column(String(2000))
    language: Mapped[str | None] = mapped_column(String(20))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    pages: Mapped[list[Page]] = relationship(
        back_populates="document", order_by="Page.number", cascade="all, delete-orphan"
    )

    @property
    def flags(self) -> list[str]:
        """Warnings a reader should see next to the document."""
        return [] if self.has_text else ["no text: scanned?"]

    @property
    def storage_name(self) -> str:
        """File name under the data directory: the hash, fanned out by its first bytes."""
        return f"{self.sha256[:2]}/{self.sha256}"


class Page(db.Model):  # type: ignore[name-defined]
    """The extracted text of one page, with its offset in the whole document's text."""

    __tablename__ = "page"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    char_start: Mapped[int] = mapped_column(Integer)

    document: Mapped[Document] = relationship(back_populates="pages")


class AssignmentBatch(db.Model):  # type: ignore[name-defined]
    """One run of the assignment rule, recorded so the draw can be reproduced."""

    __tablename__ = "assignment_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    codebook_id: Mapped[int] = mapped_column(ForeignKey("codebook.id"))
    seed: Mapped[int] = mapped_column(Integer)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class Assignment(db.Model):  # type: ignore[name-defined]
    """A document given to a coder to code with a codebook."""

    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("document_id", "coder_id", "codebook_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"))
    coder_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    codebook_id: Mapped[int] = mapped_column(ForeignKey("codebook.id"))
    reliability: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("assignment_batch.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    document: Mapped[Document] = relationship()
    coder: Mapped[User] = relationship()
    codebook: Mapped[Codebook] = relationship()


class LabelStatus(enum.StrEnum):
    """Where a coder is with a label set."""

    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"


class LabelSet(db.Model):  # type: ignore[name-defined]
    """One coder's coding of one document under one codebook version."""

    __tablename__ = "label_set"
    __table_args__ = (UniqueConstraint("document_id", "coder_id", "codebook_version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"))
    coder_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    codebook_version_id: Mapped[int] = mapped_column(ForeignKey("codebook_version.id"))
    status: Mapped[LabelStatus] = mapped_column(
        Enum(
            LabelStatus,
            name="label_status",
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=LabelStatus.IN_PROGRESS,
    )
    note: Mapped[str] = mapped_column(Text, default="")
    # Bumped on every write; a client that saves with an older number is refused.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    document: Mapped[Document] = relationship()
    coder: Mapped[User] = relationship()
    codebook_version: Mapped[CodebookVersion] = relationship()
    labels: Mapped[list[Label]] = relationship(
        back_populates="label_set", cascade="all, delete-orphan", order_by="Label.id"
    )
    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="label_set", cascade="all, delete-orphan", order_by="Evidence.id"
    )

    def values(self) -> dict[str, Any]:
        """The value of every labelled variable, by variable id."""
        return {label.variable: label.value for label in self.labels}


class Label(db.Model):  # type: ignore[name-defined]
    """The value a coder gave one variable."""

    __tablename__ = "label"
    __table_args__ = (UniqueConstraint("label_set_id", "variable"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    label_set_id: Mapped[int] = mapped_column(ForeignKey("label_set.id", ondelete="CASCADE"))
    variable: Mapped[str] = mapped_column(String(100))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)

    label_set: Mapped[LabelSet] = relationship(back_populates="labels")


class Evidence(db.Model):  # type: ignore[name-defined]
    """A quoted passage that justifies a variable's value, located by page and offsets."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    label_set_id: Mapped[int] = mapped_column(
        ForeignKey("label_set.id", ondelete="CASCADE"), index=True
    )
    variable: Mapped[str] = mapped_column(String(100))
    page: Mapped[int] = mapped_column(Integer)
    quote: Mapped[str] = mapped_column(Text)
    # Character offsets within the page's extracted text, end exclusive.
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    label_set: Mapped[LabelSet] = relationship(back_populates="evidence")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form, as kept in the history."""
        return {
            "id": self.id,
            "variable": self.variable,
            "page": self.page,
            "quote": self.quote,
            "start": self.start,
            "end": self.end,
        }


class LabelEvent(db.Model):  # type: ignore[name-defined]
    """One change to a label set: who, when, what it was before and after. Append-only."""

    __tablename__ = "label_event"
    __table_args__ = (Index("ix_label_event_label_set_id_at", "label_set_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    label_set_id: Mapped[int] = mapped_column(ForeignKey("label_set.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(30))
    variable: Mapped[str | None] = mapped_column(String(100))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)

    user: Mapped[User] = relationship()


class HistoryIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete a recorded label event."""


@event.listens_for(LabelEvent, "before_update")
@event.listens_for(LabelEvent, "before_delete")
def _refuse_history_change(mapper: Any, connection: Any, target: LabelEvent) -> None:
    raise HistoryIsAppendOnly(f"label event {target.id} is part of the history and cannot change")


class FinalValue(db.Model):  # type: ignore[name-defined]
    """The final ("gold") value of one variable of a document, decided in adjudication.

    Kept apart from the coders' labels: who decided, when, and from which coder's value
    (``source_coder_id`` is None when the adjudicator typed the value).
    """

    __tablename__ = "final_value"
    __table_args__ = (UniqueConstraint("document_id", "codebook_version_id", "variable"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"))
    codebook_version_id: Mapped[int] = mapped_column(ForeignKey("codebook_version.id"))
    variable: Mapped[str] = mapped_column(String(100))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    source_coder_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")

    document: Mapped[Document] = relationship()
    codebook_version: Mapped[CodebookVersion] = relationship()
    source_coder: Mapped[User | None] = relationship(foreign_keys=[source_coder_id])
    decided_by: Mapped[User] = relationship(foreign_keys=[decided_by_id])


class FinalEvent(db.Model):  # type: ignore[name-defined]
    """One change to a final value: set, accepted as agreed, or cleared. Append-only."""

    __tablename__ = "final_event"
    __table_args__ = (Index("ix_final_event_document_id_at", "document_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"))
    codebook_version_id: Mapped[int] = mapped_column(ForeignKey("codebook_version.id"))
    variable: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(30))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    source_coder_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str] = mapped_column(Text, default="")

    user: Mapped[User] = relationship(foreign_keys=[user_id])


@event.listens_for(FinalEvent, "before_update")
@event.listens_for(FinalEvent, "before_delete")
def _refuse_final_history_change(mapper: Any, connection: Any, target: FinalEvent) -> None:
    raise HistoryIsAppendOnly(f"final event {target.id} is part of the history and cannot change")


class LoginAttempt(db.Model):  # type: ignore[name-defined]
    """A failed login, kept for the rate limit (``services.login_limits``) for one window.

    In the database rather than in a worker's memory, so that every gunicorn worker counts
    the same attempts.
    """

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # As typed (lowercased, cut to the column), whether or not such a person exists.
    username: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
