"""The coded values of a codebook version by document, for the analysis page's tables.

Two sources: the final values (adjudicated, or a single coder's submitted values; see
``services.adjudication.final_values``), or one coder's own values. Both honour the
metadata part of a ``RatingFilter``; a coder's values also honour its dates and whether
label sets in progress count.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select

from ..models import CodebookVersion, Document
from . import Session
from .reliability import RatingFilter, label_sets, metadata_value

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
    query = select(Document).where(Document.id.in_(list(finals)))
    for name, value in rating_filter.metadata:
        query = query.where(getattr(Document, name) == metadata_value(name, value))
    documents = session.scalars(query.order_by(Document.filename, Document.id))
    return [(document, finals[document.id]) for document in documents]
