"""The project's labels as ratings for the reliability engine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from annotator.extensions import db
from annotator.models import (
    Codebook,
    CodebookVersion,
    Document,
    Evidence,
    LabelSet,
    LabelStatus,
    User,
)
from annotator.services import labels as label_service
from annotator.services.reliability import (
    Quote,
    RatingFilter,
    SampleCounts,
    analyse,
    analysed_versions,
    categorical_option_counts,
    coder_pairs,
    coders_of,
    disagreements,
    metadata_values,
    rating_value,
    ratings_for,
    results_for,
    sample_counts,
    unit_names,
)

from .conftest import Project

SHARED = "zh_cid_font.pdf"


def code(project: Project, coder: str, values: dict[str, Any], *, submit: bool) -> None:
    user = db.session.get(User, project.users[coder])
    document = db.session.get(Document, project.document_ids[SHARED])
    version = db.session.get(Codebook, project.codebook_id).latest
    label_set = label_service.label_set_for(db.session, document, user, version, create=True)
    assert label_set is not None and user is not None
    label_service.save_labels(db.session, label_set, user, values)
    if submit:
        # Set directly: submitting through the service needs every required value.
        label_set.status = LabelStatus.SUBMITTED
    db.session.commit()


def test_ratings_hold_submitted_values_by_variable_unit_and_coder(project: Project) -> None:
    code(
        project,
        "alice",
        {
            "document_kind": "tender",
            "service_type": ["emergency_alarm"],
            "year": 2019,
            "vendor_is_tencent": True,
            "city": "福州",
        },
        submit=True,
    )
    code(project, "bob", {"document_kind": "award", "year": 2019}, submit=True)
    version = db.session.get(Codebook, project.codebook_id).latest
    assert version is not None
    codebook, ratings = ratings_for(db.session, version)
    assert ratings["document_kind"] == {SHARED: {"alice": "tender", "bob": "award"}}
    assert ratings["service_type"] == {SHARED: {"alice": frozenset({"emergency_alarm"})}}
    assert ratings["year"] == {SHARED: {"alice": 2019.0, "bob": 2019.0}}
    assert ratings["vendor_is_tencent"] == {SHARED: {"alice": "yes"}}
    assert "city" not in ratings  # free text is quoted, not coded
    assert ratings["province"] == {}
    assert set(ratings) == {v.id for v in codebook.variables if v.type.value != "text"}


def test_label_sets_in_progress_count_only_when_asked(project: Project) -> None:
    code(project, "alice", {"document_kind": "tender"}, submit=False)
    version = db.session.get(Codebook, project.codebook_id).latest
    assert version is not None
    assert ratings_for(db.session, version)[1]["document_kind"] == {}
    everything = ratings_for(db.session, version, submitted_only=False)[1]
    assert everything["document_kind"] == {SHARED: {"alice": "tender"}}


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("document_kind", "tender", "tender"),
        ("integration_depth", "symbolic", "symbolic"),
        ("service_type", ["a", "b"], frozenset({"a", "b"})),
        ("service_type", [], None),
        ("year", 2019, 2019.0),
        ("procurement_value_cny", 0.5, 0.5),
        ("vendor_is_tencent", False, "no"),
        ("document_kind", None, None),
    ],
)
def test_rating_value(variable: str, value: Any, expected: Any) -> None:
    from annotator.codebook import load_codebook

    from .test_codebook import ROOT

    codebook = load_codebook(ROOT / "codebook" / "wechat_policing.yaml")
    assert rating_value(codebook.variable(variable), value) == expected


# --- filters, disagreements, coder pairs, the planner's counts ----------------------------


def submit_as(project: Project, coder: str, document: str, values: dict[str, Any]) -> LabelSet:
    """A coder's label set on a document with values, submitted (set directly, dated now)."""
    user = db.session.get(User, project.users[coder])
    doc = db.session.get(Document, project.document_ids[document])
    version = db.session.get(Codebook, project.codebook_id).latest
    label_set = label_service.label_set_for(db.session, doc, user, version, create=True)
    assert label_set is not None and user is not None
    label_service.save_labels(db.session, label_set, user, values)
    label_set.status = LabelStatus.SUBMITTED
    label_set.submitted_at = datetime(2024, 3, 15, 12, tzinfo=UTC)
    db.session.commit()
    return label_set


def latest(project: Project) -> CodebookVersion:
    version = db.session.get(Codebook, project.codebook_id).latest
    assert version is not None
    return version


@pytest.mark.parametrize(
    ("rating_filter", "units"),
    [
        (RatingFilter(), {SHARED: {"alice": "tender", "bob": "award"}}),
        (RatingFilter(coders=("alice",)), {SHARED: {"alice": "tender"}}),
        (RatingFilter(coders=("carol",)), {}),
        (RatingFilter(metadata=(("year", "2019"),)), {}),
        (RatingFilter(submitted_from=date(2024, 3, 15), submitted_to=date(2024, 3, 15)), None),
        (RatingFilter(submitted_from=date(2024, 3, 16)), {}),
        (RatingFilter(submitted_to=date(2024, 3, 14)), {}),
    ],
)
def test_ratings_follow_the_filter(
    project: Project, rating_filter: RatingFilter, units: dict[str, Any] | None
) -> None:
    submit_as(project, "alice", SHARED, {"document_kind": "tender"})
    submit_as(project, "bob", SHARED, {"document_kind": "award"})
    ratings = ratings_for(db.session, latest(project), rating_filter=rating_filter)[1]
    expected = units if units is not None else {SHARED: {"alice": "tender", "bob": "award"}}
    assert ratings["document_kind"] == expected


def test_metadata_filter_matches_document_columns(project: Project) -> None:
    submit_as(project, "alice", SHARED, {"document_kind": "tender"})
    document = db.session.get(Document, project.document_ids[SHARED])
    document.province, document.year = "福建", 2019
    db.session.commit()
    both = RatingFilter(metadata=(("province", "福建"), ("year", "2019")))
    assert ratings_for(db.session, latest(project), rating_filter=both)[1]["document_kind"]
    other = RatingFilter(metadata=(("province", "浙江"),))
    assert not ratings_for(db.session, latest(project), rating_filter=other)[1]["document_kind"]
    assert metadata_values(db.session)["province"] == ["福建"]
    assert metadata_values(db.session)["year"] == ["2019"]


def test_filter_refuses_an_unknown_field() -> None:
    with pytest.raises(ValueError, match="unknown metadata field"):
        RatingFilter(metadata=(("sha256", "x"),))


def test_in_progress_filter_counts_label_sets_in_progress(project: Project) -> None:
    code(project, "alice", {"document_kind": "tender"}, submit=False)
    version = latest(project)
    assert ratings_for(db.session, version)[1]["document_kind"] == {}
    with_drafts = RatingFilter(include_in_progress=True)
    assert ratings_for(db.session, version, rating_filter=with_drafts)[1]["document_kind"]


def test_analysis_counts_double_coded_documents_and_coders(project: Project) -> None:
    submit_as(project, "alice", SHARED, {"document_kind": "tender", "year": 2019})
    submit_as(project, "bob", SHARED, {"document_kind": "award", "year": 2019})
    submit_as(project, "alice", "en_two_pages.pdf", {"document_kind": "tender"})
    analysis = analyse(db.session, latest(project), samples=50, seed=3)
    assert (analysis.n_units, analysis.coders) == (1, ["alice", "bob"])
    by_variable = {result.variable: result for result in analysis.results}
    assert by_variable["document_kind"].n_units == 1
    assert by_variable["year"].alpha is None  # one unit, equal values: no variation
    assert by_variable["year"].undefined_reason == "no variation"
    assert by_variable["service_type"].options  # one binary result per option
    assert results_for(db.session, latest(project), samples=50, seed=3) == analysis.results


def test_disagreements_list_values_and_quotes(project: Project) -> None:
    alice = submit_as(project, "alice", SHARED, {"document_kind": "tender", "year": 2019})
    bob = submit_as(project, "bob", SHARED, {"document_kind": "award", "year": 2019})
    db.session.add(
        Evidence(
            label_set_id=alice.id, variable="document_kind", page=1, quote="A-QUOTE", start=0, end=7
        )
    )
    db.session.add(
        Evidence(
            label_set_id=bob.id, variable="document_kind", page=2, quote="B-QUOTE", start=0, end=7
        )
    )
    db.session.add(
        Evidence(label_set_id=bob.id, variable="year", page=1, quote="Y-QUOTE", start=0, end=7)
    )
    db.session.commit()
    version = latest(project)
    [row] = disagreements(db.session, version, "document_kind")
    assert (row.document_id, row.unit) == (project.document_ids[SHARED], SHARED)
    assert [(v.coder, v.value, v.quotes) for v in row.values] == [
        ("alice", "tender", (Quote(1, "A-QUOTE"),)),
        ("bob", "award", (Quote(2, "B-QUOTE"),)),
    ]
    assert disagreements(db.session, version, "year") == []
    assert disagreements(db.session, version, "document_kind", RatingFilter(coders=("bob",))) == []
    with pytest.raises(KeyError):
        disagreements(db.session, version, "no_such_variable")


def test_a_missing_value_against_a_given_one_is_a_disagreement(project: Project) -> None:
    submit_as(project, "alice", SHARED, {"document_kind": "tender"})
    submit_as(project, "bob", SHARED, {"year": 2019})
    [row] = disagreements(db.session, latest(project), "document_kind")
    assert [(v.coder, v.value) for v in row.values] == [("alice", "tender"), ("bob", None)]
    assert disagreements(db.session, latest(project), "admin_level") == []  # nobody coded it


def test_coder_pairs() -> None:
    ratings = {
        "kind": {"d1": {"a": "x", "b": "x", "c": "y"}, "d2": {"a": "x", "b": "y"}},
        "year": {"d1": {"a": 1.0, "b": 1.0}},
    }
    pairs = {(p.first, p.second): p for p in coder_pairs(ratings)}  # type: ignore[arg-type]
    assert set(pairs) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert (pairs["a", "b"].n_units, pairs["a", "b"].n_compared, pairs["a", "b"].n_agreed) == (
        2,
        3,
        2,
    )
    assert pairs["a", "c"].agreement == 0.0
    assert coder_pairs({"kind": {"d1": {"a": "x"}}}) == []


def test_unit_names_disambiguate_equal_file_names() -> None:
    documents = [
        Document(id=1, filename="a.pdf"),
        Document(id=2, filename="a.pdf"),
        Document(id=3, filename="b.pdf"),
    ]
    assert unit_names(documents) == {1: "a.pdf (#1)", 2: "a.pdf (#2)", 3: "b.pdf"}


def test_categorical_option_counts(project: Project) -> None:
    codebook = latest(project).parsed()
    counted = categorical_option_counts(codebook)
    assert [variable.id for variable, _ in counted] == [
        v.id for v in codebook.variables if v.type.takes_options or v.type.value == "yesno"
    ]
    assert all(
        count == (2 if variable.type.value == "yesno" else len(variable.options))
        for variable, count in counted
    )


def test_sample_counts(project: Project) -> None:
    codebook = db.session.get(Codebook, project.codebook_id)
    assert sample_counts(db.session, codebook) == SampleCounts(planned=1, coded=0, unassigned=1)
    submit_as(project, "alice", SHARED, {"document_kind": "tender"})
    submit_as(project, "bob", SHARED, {"document_kind": "award"})
    assert sample_counts(db.session, codebook).coded == 1


def test_analysed_versions_and_coders(project: Project) -> None:
    assert analysed_versions(db.session) == []
    submit_as(project, "bob", SHARED, {"document_kind": "award"})
    assert analysed_versions(db.session) == [latest(project)]
    assert coders_of(db.session, latest(project)) == ["bob"]
