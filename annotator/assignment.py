"""Plan who codes what: every document once, plus a reliability sample coded by several.

A pure module. The plan is drawn with ``random.Random(seed)`` so that a recorded seed
reproduces it exactly, and spreads the work evenly: each document goes to the coder(s)
with the least work so far, ties broken by the draw.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class PlanError(ValueError):
    """The assignment rule cannot be applied as asked; the message says why."""


@dataclass(frozen=True)
class AssignmentPlan:
    """The outcome of the rule: (document, coder) pairs and which documents overlap."""

    pairs: tuple[tuple[int, int], ...]
    reliability_documents: frozenset[int]
    seed: int
    load: Mapping[int, int] = field(default_factory=dict)

    def coders_of(self, document: int) -> list[int]:
        """The coders a document goes to, in the order they were drawn."""
        return [coder for doc, coder in self.pairs if doc == document]


def reliability_sample_size(n_documents: int, *, share: float | None, count: int | None) -> int:
    """How many documents the overlap holds: ``count``, or ``share`` of them rounded up."""
    if share is not None and count is not None:
        raise PlanError("give the reliability sample as a share or as a count, not both")
    if count is not None:
        if count < 0:
            raise PlanError(f"the reliability sample cannot be negative ({count})")
        if count > n_documents:
            raise PlanError(
                f"a reliability sample of {count} needs {count} documents; there are {n_documents}"
            )
        return count
    if share is None:
        return 0
    if not 0 <= share <= 1:
        raise PlanError(f"the reliability share must lie between 0 % and 100 % (got {share:.0%})")
    return math.ceil(share * n_documents - 1e-9)


def plan_assignments(
    documents: Sequence[int],
    coders: Sequence[int],
    *,
    reliability_share: float | None = None,
    reliability_count: int | None = None,
    coders_per_document: int = 2,
    seed: int | None = None,
    existing_load: Mapping[int, int] | None = None,
) -> AssignmentPlan:
    """Give every document to one coder and the reliability sample to ``coders_per_document``.

    ``existing_load`` counts documents the coders already have, so that a second round
    evens out the total rather than the round.
    """
    if not coders:
        raise PlanError("there are no coders to assign documents to")
    if len(set(coders)) != len(coders):
        raise PlanError("a coder is listed twice")
    if len(set(documents)) != len(documents):
        raise PlanError("a document is listed twice")
    n_sample = reliability_sample_size(
        len(documents), share=reliability_share, count=reliability_count
    )
    if n_sample and coders_per_document < 2:
        raise PlanError("independent coding needs at least 2 coders per document")
    if n_sample and coders_per_document > len(coders):
        raise PlanError(
            f"{coders_per_document} coders per reliability document, but only {len(coders)} coders"
        )
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)

    order = sorted(documents)
    rng.shuffle(order)
    sample = order[:n_sample]
    load = {coder: (existing_load or {}).get(coder, 0) for coder in coders}
    # A fixed random rank per coder breaks ties, so equal loads don't always favour the
    # first coder in the list.
    rank = {coder: rng.random() for coder in coders}

    def least_loaded(k: int) -> list[int]:
        chosen = sorted(coders, key=lambda c: (load[c], rank[c]))[:k]
        for coder in chosen:
            load[coder] += 1
            rank[coder] = rng.random()
        return chosen

    pairs: list[tuple[int, int]] = []
    for document in order:
        k = coders_per_document if document in sample else 1
        pairs.extend((document, coder) for coder in least_loaded(k))
    return AssignmentPlan(
        pairs=tuple(pairs), reliability_documents=frozenset(sample), seed=seed, load=dict(load)
    )


def parse_share_or_count(text: str) -> tuple[float | None, int | None]:
    """Read a reliability sample size as given by a person: ``20%`` or ``10``."""
    text = text.strip()
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100, None
        return None, int(text)
    except ValueError:
        raise PlanError(
            f"'{text}' is neither a percentage (like 20%) nor a number of documents"
        ) from None
