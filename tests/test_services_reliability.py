"""The project's labels as ratings for the reliability engine."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.extensions import db
from annotator.models import Codebook, Document, LabelStatus, User
from annotator.services import labels as label_service
from annotator.services.reliability import rating_value, ratings_for

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
