"""Record assignments: by hand, or by the rule in ``annotator.assignment``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from ..assignment import AssignmentPlan, PlanError, plan_assignments
from ..models import Assignment, AssignmentBatch, Codebook, Document, User
from . import Session


def check_assignable(coder: User) -> None:
    """Refuse people who cannot receive documents: non-coders and deactivated accounts."""
    if not coder.role.can_be_assigned():
        raise PlanError(f"'{coder.username}' is not a coder")
    if not coder.active:
        raise PlanError(f"'{coder.username}' is deactivated")


def assign_by_hand(
    session: Session, document: Document, coder: User, codebook: Codebook, reliability: bool = False
) -> Assignment:
    """Give one document to one coder; an existing assignment is returned unchanged."""
    check_assignable(coder)
    existing = session.scalar(
        select(Assignment).where(
            Assignment.document_id == document.id,
            Assignment.coder_id == coder.id,
            Assignment.codebook_id == codebook.id,
        )
    )
    if existing is not None:
        return existing
    assignment = Assignment(
        document=document, coder=coder, codebook=codebook, reliability=reliability
    )
    session.add(assignment)
    session.flush()
    return assignment


def unassigned_documents(session: Session, codebook: Codebook) -> list[int]:
    """Documents that nobody has been given yet for this codebook."""
    assigned = select(Assignment.document_id).where(Assignment.codebook_id == codebook.id)
    return list(
        session.scalars(
            select(Document.id).where(Document.id.not_in(assigned)).order_by(Document.id)
        )
    )


def current_load(session: Session, codebook: Codebook) -> dict[int, int]:
    """How many documents each coder already has for this codebook."""
    rows = session.execute(
        select(Assignment.coder_id, func.count())
        .where(Assignment.codebook_id == codebook.id)
        .group_by(Assignment.coder_id)
    )
    return {coder_id: count for coder_id, count in rows}


def assign_by_rule(
    session: Session,
    codebook: Codebook,
    coders: list[User],
    *,
    reliability_share: float | None = None,
    reliability_count: int | None = None,
    coders_per_document: int = 2,
    seed: int | None = None,
    created_by: User | None = None,
) -> tuple[AssignmentBatch, AssignmentPlan]:
    """Assign every unassigned document, with a reliability overlap, and record the draw."""
    for coder in coders:
        check_assignable(coder)
    documents = unassigned_documents(session, codebook)
    if not documents:
        raise PlanError(f"every document is already assigned for codebook '{codebook.slug}'")
    plan = plan_assignments(
        documents,
        [coder.id for coder in coders],
        reliability_share=reliability_share,
        reliability_count=reliability_count,
        coders_per_document=coders_per_document,
        seed=seed,
        existing_load=current_load(session, codebook),
    )
    parameters: dict[str, Any] = {
        "reliability_share": reliability_share,
        "reliability_count": reliability_count,
        "coders_per_document": coders_per_document,
        "coders": [coder.username for coder in coders],
        "documents": documents,
        "reliability_documents": sorted(plan.reliability_documents),
    }
    batch = AssignmentBatch(
        codebook_id=codebook.id,
        seed=plan.seed,
        parameters=parameters,
        created_by_id=created_by.id if created_by else None,
    )
    session.add(batch)
    session.flush()
    session.add_all(
        Assignment(
            document_id=document,
            coder_id=coder,
            codebook_id=codebook.id,
            reliability=document in plan.reliability_documents,
            batch_id=batch.id,
        )
        for document, coder in plan.pairs
    )
    session.flush()
    return batch, plan


def describe_plan(plan: AssignmentPlan, coders: list[User]) -> list[str]:
    """Lines that say what a plan did, per coder."""
    names = {coder.id: coder.username for coder in coders}
    per_coder = Counter(coder for _, coder in plan.pairs)
    overlap = Counter(coder for doc, coder in plan.pairs if doc in plan.reliability_documents)
    documents = {doc for doc, _ in plan.pairs}
    lines = [
        f"assigned {len(documents)} documents ({len(plan.pairs)} assignments); "
        f"reliability sample: {len(plan.reliability_documents)} documents; seed {plan.seed}"
    ]
    for coder_id, name in sorted(names.items(), key=lambda item: item[1]):
        lines.append(
            f"  {name}: {per_coder[coder_id]} documents, {overlap[coder_id]} in the reliability sample"
        )
    return lines
