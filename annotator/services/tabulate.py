"""The coded values of a codebook version by document, for the analysis page's tables.

Two sources: the final values (adjudicated, or a single coder's submitted values; see
``services.adjudication.final_values``), or one coder's own values. Both honour a
``RatingFilter``, the reliability dashboard's filters, as follows:

- one coder's values: the filter's label sets of that coder (``source`` takes the place of
  the filter's coders), with its metadata, dates and, if asked, label sets in progress;
- final values: the documents with the metadata asked for and, when the filter names
  coders or dates, with at least one *submitted* label set of those coders in those dates.
  Whether label sets in progress count does not apply: a label set in progress never gives
  a final value, and counting a document as "coded by bob" because bob has begun it would
  show values that are not his.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select

from ..models import CodebookVersion, Document
from . import Session
from .reliability import RatingFilter, coded_document_ids, label_sets, metadata_value

FINAL = "final"


def document_values(
    session: Session,
    version: CodebookVersion,
    source: str,
    rating_filter: RatingFilter | None = None,
    *,
    agreement_is_final: bool = False,
) -> list[tuple[Document, dict[str, Any]]]:
    """(document, {variable: value}) for every document with values from ``source``.

    ``source`` is FINAL or a coder's user name. Values are as stored (codes, lists of codes,
    numbers, booleans), in document file-name order.
    """
    rating_filter = rating_filter or RatingFilter()
    if source != FINAL:
        rows = label_sets(session, version, replace(rating_filter, coders=(source,)))
        return [(document, label_set.values()) for label_set, document, _ in rows]
    from .adjudication import final_values

    finals = final_values(session, version, agreement_is_final=agreement_is_final)
    wanted = set(finals)
    if rating_filter.coders or rating_filter.submitted_from or rating_filter.submitted_to:
        wanted &= coded_document_ids(
            session, version, replace(rating_filter, metadata=(), include_in_progress=False)
        )
    query = select(Document).where(Document.id.in_(list(wanted)))
    for name, value in rating_filter.metadata:
        query = query.where(getattr(Document, name) == metadata_value(name, value))
    documents = session.scalars(query.order_by(Document.filename, Document.id))
    return [(document, finals[document.id]) for document in documents]
