"""The coded data of a codebook version as ratings, the input of the reliability engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..codebook import Codebook as CodebookDefinition
from ..codebook import Variable, VariableType
from ..models import CodebookVersion, Document, LabelSet, LabelStatus, User
from ..ratings import Ratings, Value
from . import Session


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


def ratings_for(
    session: Session, version: CodebookVersion, *, submitted_only: bool = True
) -> tuple[CodebookDefinition, Ratings]:
    """Every labelled value under a codebook version: variable -> document -> coder -> value.

    Units are named by document file name and coders by user name. Only submitted label
    sets count unless ``submitted_only`` is false: a label set in progress is not a coder's
    judgement yet. Free-text variables are left out: they are quoted, not coded.
    """
    codebook = version.parsed()
    query = (
        select(LabelSet, Document.filename, User.username)
        .join(Document, LabelSet.document_id == Document.id)
        .join(User, LabelSet.coder_id == User.id)
        .where(LabelSet.codebook_version_id == version.id)
        .options(selectinload(LabelSet.labels))
        .order_by(Document.filename, User.username)
    )
    if submitted_only:
        query = query.where(LabelSet.status == LabelStatus.SUBMITTED)
    coded = [v for v in codebook.variables if v.type is not VariableType.TEXT]
    ratings: Ratings = {v.id: {} for v in coded}
    for label_set, unit, coder in session.execute(query):
        values = label_set.values()
        for variable in coded:
            value = rating_value(variable, values.get(variable.id))
            if value is not None:
                ratings[variable.id].setdefault(unit, {})[coder] = value
    return codebook, ratings
