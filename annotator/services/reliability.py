"""The coded data of a codebook version as ratings, and what the reliability pages show of it.

``ratings_for`` turns label sets into the input of the reliability engine
(``annotator.reliability``); a ``RatingFilter`` narrows them to some coders, documents and
dates. ``analyse`` runs the engine on every coded variable, ``disagreements`` lists the
documents where coders differ on one variable with their values and quotes, and
``coder_pairs`` sums up how often each pair of coders agrees. This module imports no Flask.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import combinations
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import selectinload

from ..codebook import Codebook as CodebookDefinition
from ..codebook import Variable, VariableType
from ..models import (
    Assignment,
    Codebook,
    CodebookVersion,
    Document,
    Evidence,
    LabelSet,
    LabelStatus,
    User,
)
from ..ratings import Ratings, Value
from ..reliability import VariableReliability
from ..reliability_report import ReliabilityAnalysis
from . import Session

# Document columns a PI can filter the analysis by (study metadata from the import CSV).
METADATA_FIELDS = ("province", "city", "level", "year", "kind", "language")
DEFAULT_SAMPLES = 1000
# A fixed seed, so that the dashboard and the downloaded report show the same intervals.
DEFAULT_SEED = 1


@dataclass(frozen=True)
class RatingFilter:
    """Which label sets enter an analysis. The default takes every submitted label set.

    ``coders`` are user names (empty: everyone); ``metadata`` pairs a field of
    ``METADATA_FIELDS`` with the value a document must have; ``submitted_from`` and
    ``submitted_to`` are inclusive days (UTC) of submission. A label set in progress, which
    counts only with ``include_in_progress``, is dated by its last change.
    """

    coders: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    submitted_from: date | None = None
    submitted_to: date | None = None
    include_in_progress: bool = False

    def __post_init__(self) -> None:
        for name, _ in self.metadata:
            if name not in METADATA_FIELDS:
                raise ValueError(
                    f"unknown metadata field {name!r} (fields: {', '.join(METADATA_FIELDS)})"
                )

    @property
    def is_default(self) -> bool:
        """Whether the filter takes every submitted label set."""
        return self == RatingFilter()


def rating_value(variable: Variable, value: Any) -> Value | None:
    """A stored label value in the form ratings hold (None: missing)."""
    if value is None or value == [] or value == "":
        return None
    match variable.type:
        case VariableType.MULTIPLE:
            return frozenset(str(code) for code in value)
        case VariableType.NUMBER:
            return float(value)
        case VariableType.YESNO:
            return "yes" if value else "no"
        case _:
            return str(value)


def coded_variables(codebook: CodebookDefinition) -> list[Variable]:
    """The variables whose reliability is computed: all but free text, which is quoted."""
    return [v for v in codebook.variables if v.type is not VariableType.TEXT]


def metadata_value(name: str, value: str) -> object:
    """A filter value in the column's type (year is a number)."""
    if name == "year":
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"year {value!r} is not a whole number") from None
    return value


def _filtered(query: Any, rating_filter: RatingFilter) -> Any:
    """Add a filter's conditions to a query that joins LabelSet, Document and User."""
    if not rating_filter.include_in_progress:
        query = query.where(LabelSet.status == LabelStatus.SUBMITTED)
    if rating_filter.coders:
        query = query.where(User.username.in_(rating_filter.coders))
    for name, value in rating_filter.metadata:
        query = query.where(getattr(Document, name) == metadata_value(name, value))
    when = func.coalesce(LabelSet.submitted_at, LabelSet.updated_at)
    if rating_filter.submitted_from is not None:
        start = datetime.combine(rating_filter.submitted_from, time(), UTC)
        query = query.where(when >= start)
    if rating_filter.submitted_to is not None:
        end = datetime.combine(rating_filter.submitted_to + timedelta(days=1), time(), UTC)
        query = query.where(when < end)
    return query


def label_sets(
    session: Session, version: CodebookVersion, rating_filter: RatingFilter
) -> list[tuple[LabelSet, Document, str]]:
    """The label sets of a version that pass the filter, with their document and coder."""
    query = (
        select(LabelSet, Document, User.username)
        .join(Document, LabelSet.document_id == Document.id)
        .join(User, LabelSet.coder_id == User.id)
        .where(LabelSet.codebook_version_id == version.id)
        .options(selectinload(LabelSet.labels))
        .order_by(Document.filename, Document.id, User.username)
    )
    return [
        (label_set, document, coder)
        for label_set, document, coder in session.execute(_filtered(query, rating_filter))
    ]


def coded_document_ids(
    session: Session, version: CodebookVersion, rating_filter: RatingFilter
) -> set[int]:
    """The ids of the documents with at least one label set of a version that passes the filter.

    The analysis page narrows the final values with it: documents coded by the chosen
    coders, in the chosen dates.
    """
    query = (
        select(LabelSet.document_id)
        .join(Document, LabelSet.document_id == Document.id)
        .join(User, LabelSet.coder_id == User.id)
        .where(LabelSet.codebook_version_id == version.id)
        .distinct()
    )
    return set(session.scalars(_filtered(query, rating_filter)))


def unit_names(documents: Iterable[Document]) -> dict[int, str]:
    """A unit name per document id: its file name, with the id when two share a name."""
    by_id = {document.id: document for document in documents}
    taken = Counter(document.filename for document in by_id.values())
    return {
        id: document.filename if taken[document.filename] == 1 else f"{document.filename} (#{id})"
        for id, document in by_id.items()
    }


def ratings_for(
    session: Session,
    version: CodebookVersion,
    *,
    submitted_only: bool = True,
    rating_filter: RatingFilter | None = None,
) -> tuple[CodebookDefinition, Ratings]:
    """Every labelled value under a codebook version: variable -> document -> coder -> value.

    Units are named by document file name (with the document id when two documents share
    one) and coders by user name. Only submitted label sets count unless ``submitted_only``
    is false or the filter includes those in progress: a label set in progress is not a
    coder's judgement yet. Free-text variables are left out: they are quoted, not coded.
    """
    rating_filter = rating_filter or RatingFilter()
    if not submitted_only and not rating_filter.include_in_progress:
        rating_filter = RatingFilter(
            rating_filter.coders,
            rating_filter.metadata,
            rating_filter.submitted_from,
            rating_filter.submitted_to,
            include_in_progress=True,
        )
    codebook = version.parsed()
    rows = label_sets(session, version, rating_filter)
    names = unit_names(document for _, document, _ in rows)
    coded = coded_variables(codebook)
    ratings: Ratings = {v.id: {} for v in coded}
    for label_set, document, coder in rows:
        values = label_set.values()
        for variable in coded:
            value = rating_value(variable, values.get(variable.id))
            if value is not None:
                ratings[variable.id].setdefault(names[document.id], {})[coder] = value
    return codebook, ratings


@dataclass(frozen=True)
class Analysis:
    """The reliability of every coded variable of a version, and what it was computed on."""

    codebook: CodebookDefinition
    results: list[VariableReliability]
    # Documents with values from at least two coders (for any variable), and those coders.
    n_units: int
    coders: list[str]
    pairs: list[CoderPair]
    samples: int
    seed: int | None


def analyse(
    session: Session,
    version: CodebookVersion,
    rating_filter: RatingFilter | None = None,
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int | None = DEFAULT_SEED,
) -> Analysis:
    """Compute every coefficient for every coded variable of a version, in codebook order."""
    codebook, ratings = ratings_for(session, version, rating_filter=rating_filter)
    analysis = ReliabilityAnalysis.from_codebook(codebook, ratings)
    n_units, coders = analysis.coverage()
    return Analysis(
        codebook,
        analysis.run(samples=samples, seed=seed),
        n_units,
        coders,
        coder_pairs(ratings),
        samples=samples,
        seed=seed,
    )


def results_for(
    session: Session,
    version: CodebookVersion,
    rating_filter: RatingFilter | None = None,
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int | None = DEFAULT_SEED,
) -> list[VariableReliability]:
    """The reliability of every coded variable of a version, in codebook order."""
    return analyse(session, version, rating_filter, samples=samples, seed=seed).results


@dataclass(frozen=True)
class CoderPair:
    """How two coders agree over every variable of the units both coded."""

    first: str
    second: str
    n_units: int  # documents both gave at least one value
    n_compared: int  # (document, variable) pairs both gave a value
    n_agreed: int

    @property
    def agreement(self) -> float | None:
        """The share of compared values that are equal; None when nothing was compared."""
        return self.n_agreed / self.n_compared if self.n_compared else None


def coder_pairs(ratings: Ratings) -> list[CoderPair]:
    """Every pair of coders with their shared documents and raw agreement, by name."""
    units: dict[tuple[str, str], set[str]] = {}
    compared: Counter[tuple[str, str]] = Counter()
    agreed: Counter[tuple[str, str]] = Counter()
    everyone: set[str] = set()
    for by_unit in ratings.values():
        for unit, by_coder in by_unit.items():
            everyone.update(by_coder)
            for first, second in combinations(sorted(by_coder), 2):
                key = (first, second)
                units.setdefault(key, set()).add(unit)
                compared[key] += 1
                agreed[key] += by_coder[first] == by_coder[second]
    return [
        CoderPair(
            first,
            second,
            len(units.get((first, second), ())),
            compared[(first, second)],
            agreed[(first, second)],
        )
        for first, second in combinations(sorted(everyone), 2)
    ]


@dataclass(frozen=True)
class Quote:
    """An evidence quote a coder attached to a variable."""

    page: int
    quote: str


@dataclass(frozen=True)
class CoderValue:
    """One coder's value of a variable for a document, with the quotes behind it."""

    coder: str
    value: Any  # as stored: an option code, a list of codes, a number, a bool, or None
    quotes: tuple[Quote, ...] = ()
    submitted: bool = True


@dataclass(frozen=True)
class Disagreement:
    """A document where coders gave a variable different values."""

    document_id: int
    unit: str
    title: str | None
    values: tuple[CoderValue, ...] = field(default=())


def disagreements(
    session: Session,
    version: CodebookVersion,
    variable_id: str,
    rating_filter: RatingFilter | None = None,
) -> list[Disagreement]:
    """The documents where the filtered coders differ on a variable, in unit order.

    A document is listed when at least two coders coded it, at least one gave the variable a
    value, and their values are not all the same; a missing value differs from a given one
    here (alpha leaves it out, but the PI will want to see it). Raises KeyError for a
    variable the version does not have.
    """
    rating_filter = rating_filter or RatingFilter()
    variable = version.parsed().variable(variable_id)
    rows = label_sets(session, version, rating_filter)
    names = unit_names(document for _, document, _ in rows)
    by_document: dict[int, list[tuple[LabelSet, str]]] = {}
    documents: dict[int, Document] = {}
    for label_set, document, coder in rows:
        by_document.setdefault(document.id, []).append((label_set, coder))
        documents[document.id] = document
    differing = {
        document_id: coded
        for document_id, coded in by_document.items()
        if len(coded) >= 2
        and len({rating_value(variable, ls.values().get(variable.id)) for ls, _ in coded}) > 1
    }
    quotes: dict[int, list[Quote]] = {}
    label_set_ids = [ls.id for coded in differing.values() for ls, _ in coded]
    if label_set_ids:
        for evidence in session.scalars(
            select(Evidence)
            .where(Evidence.label_set_id.in_(label_set_ids), Evidence.variable == variable_id)
            .order_by(Evidence.page, Evidence.start, Evidence.id)
        ):
            quotes.setdefault(evidence.label_set_id, []).append(
                Quote(evidence.page, evidence.quote)
            )
    return sorted(
        (
            Disagreement(
                document_id,
                names[document_id],
                documents[document_id].title,
                tuple(
                    CoderValue(
                        coder,
                        ls.values().get(variable.id),
                        tuple(quotes.get(ls.id, ())),
                        ls.status is LabelStatus.SUBMITTED,
                    )
                    for ls, coder in coded
                ),
            )
            for document_id, coded in differing.items()
        ),
        key=lambda disagreement: disagreement.unit,
    )


# --- what the filters and the planner offer ------------------------------------------------


def analysed_versions(session: Session) -> list[CodebookVersion]:
    """Codebook versions that have label sets, newest first (by load time)."""
    return list(
        session.scalars(
            select(CodebookVersion)
            .where(CodebookVersion.id.in_(select(LabelSet.codebook_version_id)))
            .order_by(CodebookVersion.created_at.desc(), CodebookVersion.id.desc())
        )
    )


def coders_of(session: Session, version: CodebookVersion) -> list[str]:
    """The user names of everyone with a label set under a version."""
    return list(
        session.scalars(
            select(User.username)
            .join(LabelSet, LabelSet.coder_id == User.id)
            .where(LabelSet.codebook_version_id == version.id)
            .distinct()
            .order_by(User.username)
        )
    )


def metadata_values(session: Session) -> dict[str, list[str]]:
    """Each metadata field with the values present among the documents, sorted."""
    values: dict[str, list[str]] = {}
    for name in METADATA_FIELDS:
        column = getattr(Document, name)
        present = session.scalars(select(column).where(column.is_not(None)).distinct())
        values[name] = [str(value) for value in sorted(present)]
    return values


def categorical_option_counts(codebook: CodebookDefinition) -> list[tuple[Variable, int]]:
    """The categorical variables of a codebook in codebook order, with their numbers of values.

    Options count for single, ordinal and multiple-choice variables; yes/no has two. The
    planner plans for one of them: 1 / the count is the share of the rarest value when every
    value is equally common.
    """
    counted = []
    for variable in codebook.variables:
        if variable.type.takes_options:
            counted.append((variable, max(2, len(variable.options))))
        elif variable.type is VariableType.YESNO:
            counted.append((variable, 2))
    return counted


@dataclass(frozen=True)
class SampleCounts:
    """Where a codebook's reliability sample stands, for the planner."""

    planned: int  # documents in the reliability sample (assigned to several coders)
    coded: int  # of those, coded by at least two coders (submitted)
    unassigned: int  # documents not yet assigned with this codebook


def sample_counts(session: Session, codebook: Codebook) -> SampleCounts:
    """Documents in a codebook's reliability sample, those already double-coded, and the rest."""
    planned = session.scalar(
        select(func.count(distinct(Assignment.document_id))).where(
            Assignment.codebook_id == codebook.id, Assignment.reliability.is_(True)
        )
    )
    coded = session.scalar(
        select(func.count()).select_from(
            select(LabelSet.document_id)
            .join(CodebookVersion, LabelSet.codebook_version_id == CodebookVersion.id)
            .where(
                CodebookVersion.codebook_id == codebook.id,
                LabelSet.status == LabelStatus.SUBMITTED,
            )
            .group_by(LabelSet.document_id)
            .having(func.count(distinct(LabelSet.coder_id)) >= 2)
            .subquery()
        )
    )
    assigned = select(Assignment.document_id).where(Assignment.codebook_id == codebook.id)
    unassigned = session.scalar(
        select(func.count()).select_from(Document).where(Document.id.not_in(assigned))
    )
    return SampleCounts(planned or 0, coded or 0, unassigned or 0)
