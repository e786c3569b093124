"""The assignment rule: coverage, overlap, even spread, reproducible draws."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotator.assignment import (
    PlanError,
    parse_share_or_count,
    plan_assignments,
    reliability_sample_size,
)


@pytest.mark.parametrize(
    ("n", "share", "count", "expected"),
    [
        (53, 0.2, None, 11),  # rounded up: 10.6 documents is 11
        (53, None, 10, 10),
        (10, 0.0, None, 0),
        (10, 1.0, None, 10),
        (10, None, None, 0),
        (3, 0.5, None, 2),
        (10, 0.3, None, 3),  # 0.3 * 10 is 3.0000000000000004 in floating point
    ],
)
def test_reliability_sample_size(
    n: int, share: float | None, count: int | None, expected: int
) -> None:
    assert reliability_sample_size(n, share=share, count=count) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"share": 0.2, "count": 3}, "not both"),
        ({"share": 1.5, "count": None}, "between 0 % and 100 %"),
        ({"share": None, "count": 11}, "needs 11 documents; there are 10"),
        ({"share": None, "count": -1}, "cannot be negative"),
    ],
)
def test_reliability_sample_size_refuses(kwargs: dict, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        reliability_sample_size(10, **kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20%", (0.2, None)), (" 15 % ".replace(" %", "%"), (0.15, None)), ("12", (None, 12))],
)
def test_parse_share_or_count(text: str, expected: tuple) -> None:
    assert parse_share_or_count(text) == expected


def test_parse_share_or_count_refuses_words() -> None:
    with pytest.raises(PlanError, match="neither a percentage"):
        parse_share_or_count("a fifth")


@pytest.mark.parametrize(
    ("coders", "kwargs", "message"),
    [
        ([], {}, "no coders"),
        ([1, 1], {}, "listed twice"),
        ([1, 2], {"reliability_count": 2, "coders_per_document": 3}, "only 2 coders"),
        ([1, 2], {"reliability_count": 2, "coders_per_document": 1}, "at least 2 coders"),
    ],
)
def test_plan_refuses(coders: list[int], kwargs: dict, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan_assignments(list(range(10)), coders, **kwargs)


def test_study_sized_plan() -> None:
    documents = list(range(100, 153))  # the study's 53 documents
    plan = plan_assignments(
        documents, [1, 2, 3], reliability_share=0.2, coders_per_document=2, seed=7
    )
    per_document = Counter(doc for doc, _ in plan.pairs)
    assert set(per_document) == set(documents)
    assert len(plan.reliability_documents) == 11
    for document in documents:
        expected = 2 if document in plan.reliability_documents else 1
        assert per_document[document] == expected
        assert len(set(plan.coders_of(document))) == expected
    load = Counter(coder for _, coder in plan.pairs)
    assert sum(load.values()) == 53 + 11
    assert max(load.values()) - min(load.values()) <= 1


def test_same_seed_same_plan_other_seed_other_sample() -> None:
    documents = list(range(40))
    first = plan_assignments(documents, [1, 2, 3, 4], reliability_count=8, seed=123)
    again = plan_assignments(list(reversed(documents)), [1, 2, 3, 4], reliability_count=8, seed=123)
    other = plan_assignments(documents, [1, 2, 3, 4], reliability_count=8, seed=124)
    assert first == again
    assert first.reliability_documents != other.reliability_documents


def test_seed_is_recorded_when_drawn() -> None:
    plan = plan_assignments(list(range(5)), [1, 2], reliability_count=2)
    assert plan == plan_assignments(list(range(5)), [1, 2], reliability_count=2, seed=plan.seed)


def test_existing_load_is_evened_out() -> None:
    plan = plan_assignments(list(range(6)), [1, 2, 3], seed=1, existing_load={1: 4, 2: 0, 3: 0})
    load = Counter(coder for _, coder in plan.pairs)
    assert load[1] == 0
    assert load[2] == load[3] == 3


@given(
    n_documents=st.integers(min_value=1, max_value=60),
    n_coders=st.integers(min_value=2, max_value=6),
    k=st.integers(min_value=2, max_value=6),
    share=st.floats(min_value=0, max_value=1),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_plan_properties(n_documents: int, n_coders: int, k: int, share: float, seed: int) -> None:
    k = min(k, n_coders)
    documents = list(range(n_documents))
    coders = list(range(1000, 1000 + n_coders))
    plan = plan_assignments(
        documents, coders, reliability_share=share, coders_per_document=k, seed=seed
    )
    per_document = Counter(doc for doc, _ in plan.pairs)
    assert set(per_document) == set(documents)
    assert len(set(plan.pairs)) == len(plan.pairs)
    for document, times in per_document.items():
        assert times == (k if document in plan.reliability_documents else 1)
    load = Counter({coder: 0 for coder in coders})
    load.update(coder for _, coder in plan.pairs)
    assert max(load.values()) - min(load.values()) <= 1
