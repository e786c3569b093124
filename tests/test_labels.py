"""Label sets: values checked against the codebook, submit, evidence, versions, history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from annotator.extensions import db
from annotator.models import (
    Document,
    HistoryIsAppendOnly,
    LabelEvent,
    LabelSet,
    LabelStatus,
    Role,
    User,
)
from annotator.services import labels as label_service
from annotator.services.codebooks import load_codebook_text
from annotator.services.documents import import_files
from annotator.services.users import add_user

from .conftest import FIXTURES

CODEBOOK = """\
id: mini
title: A small codebook
variables:
  - id: kind
    label: Document kind
    type: single
    required: true
    options:
      - {code: tender, label: Tender}
      - {code: award, label: Award}
  - id: depth
    label: Integration depth
    type: ordinal
    options:
      - {code: low, label: Low}
      - {code: high, label: High}
  - id: data
    label: Data collected
    type: multiple
    options:
      - {code: name, label: Real name}
      - {code: phone, label: Phone}
      - {code: face, label: Face}
  - id: value
    label: Value (CNY)
    type: number
    level: ratio
    min: 0
  - id: tencent
    label: Tencent is the vendor
    type: yesno
  - id: remark
    label: Remark
    type: text
"""


@pytest.fixture
def setup(app: Flask) -> tuple[LabelSet, User]:
    version = load_codebook_text(db.session, CODEBOOK, "mini.yaml").version
    report = import_files(
        db.session, [FIXTURES / "zh_cid_font.pdf"], data_dir=app.config["DATA_DIR"], max_bytes=2**24
    )
    document = db.session.get(Document, report.outcomes[0].document_id)
    coder = add_user(db.session, "alice", Role.CODER, "password-1")
    label_set = label_service.label_set_for(db.session, document, coder, version, create=True)
    db.session.commit()
    assert label_set is not None
    return label_set, coder


def events(label_set: LabelSet) -> list[tuple[str, str | None, object, object]]:
    return [
        (e.action, e.variable, e.before, e.after)
        for e in label_service.history(db.session, label_set)
    ]


@pytest.mark.parametrize(
    ("values", "stored"),
    [
        ({"kind": "tender"}, {"kind": "tender"}),
        (
            {"data": ["face", "name", "face"]},
            {"data": ["name", "face"]},
        ),  # option order, no duplicates
        ({"value": 1250000.0}, {"value": 1250000}),
        ({"value": 12.5}, {"value": 12.5}),
        ({"tencent": False}, {"tencent": False}),
        ({"remark": "  见第3页  "}, {"remark": "见第3页"}),
        ({"remark": ""}, {}),  # an empty text is no value
    ],
)
def test_values_are_normalised(setup: tuple[LabelSet, User], values: dict, stored: dict) -> None:
    label_set, coder = setup
    label_service.save_labels(db.session, label_set, coder, values)
    db.session.commit()
    assert {k: v for k, v in label_set.values().items() if v is not None} == stored


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"kind": "contract"}, "kind"),
        ({"depth": "medium"}, "depth"),
        ({"data": ["name", "email"]}, "data"),
        ({"value": -1}, "value"),
        ({"value": "a lot"}, "value"),
        ({"tencent": "maybe"}, "tencent"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
def test_invalid_values_store_nothing(
    setup: tuple[LabelSet, User], values: dict, variable: str
) -> None:
    label_set, coder = setup
    with pytest.raises(label_service.LabelError) as error:
        label_service.save_labels(db.session, label_set, coder, {"remark": "kept?", **values})
    db.session.rollback()
    assert variable in error.value.errors
    assert label_set.values() == {}
    assert label_set.revision == 0


def test_submit_needs_required_values(setup: tuple[LabelSet, User]) -> None:
    label_set, coder = setup
    with pytest.raises(label_service.LabelError) as error:
        label_service.save_labels(db.session, label_set, coder, {"depth": "low"}, submit=True)
    db.session.rollback()
    assert error.value.errors == {"kind": "required: give a value before submitting"}
    assert label_set.status is LabelStatus.IN_PROGRESS

    label_service.save_labels(db.session, label_set, coder, {"kind": "award"}, submit=True)
    db.session.commit()
    assert label_set.status is LabelStatus.SUBMITTED
    assert label_set.submitted_at is not None


def test_submitted_set_must_be_reopened(setup: tuple[LabelSet, User]) -> None:
    label_set, coder = setup
    label_service.save_labels(db.session, label_set, coder, {"kind": "award"}, submit=True)
    with pytest.raises(label_service.LabelError, match="reopen"):
        label_service.save_labels(db.session, label_set, coder, {"kind": "tender"})
    label_service.reopen(db.session, label_set, coder)
    label_service.save_labels(db.session, label_set, coder, {"kind": "tender"})
    db.session.commit()
    assert label_set.values()["kind"] == "tender"
    assert [e[0] for e in events(label_set)] == ["set_value", "submit", "reopen", "set_value"]


def test_history_records_before_and_after(setup: tuple[LabelSet, User]) -> None:
    label_set, coder = setup
    label_service.save_labels(db.session, label_set, coder, {"kind": "tender", "data": ["phone"]})
    label_service.save_labels(
        db.session, label_set, coder, {"kind": "tender", "data": ["phone", "face"]}, note="n"
    )
    db.session.commit()
    assert events(label_set) == [
        ("set_value", "kind", None, "tender"),
        ("set_value", "data", None, ["phone"]),
        ("set_value", "data", ["phone"], ["phone", "face"]),
        ("set_note", None, "", "n"),
    ]
    assert label_set.revision == 2
    event = db.session.scalars(select(LabelEvent)).first()
    assert event is not None and event.user_id == coder.id and event.at.tzinfo is not None


def test_history_is_append_only(setup: tuple[LabelSet, User]) -> None:
    label_set, coder = setup
    label_service.save_labels(db.session, label_set, coder, {"kind": "tender"})
    db.session.commit()
    event = db.session.scalars(select(LabelEvent)).one()
    event.after = "award"
    with pytest.raises(HistoryIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.scalars(select(LabelEvent)).one())
    with pytest.raises(HistoryIsAppendOnly):
        db.session.commit()


def test_stale_revision_is_refused(setup: tuple[LabelSet, User]) -> None:
    label_set, coder = setup
    label_service.save_labels(db.session, label_set, coder, {"kind": "tender"}, expected_revision=0)
    db.session.commit()
    with pytest.raises(label_service.StaleRevision) as error:
        label_service.save_labels(
            db.session, label_set, coder, {"kind": "award"}, expected_revision=0
        )
    assert error.value.current_values == {"kind": "tender"}
    assert error.value.current_revision == 1


def read_then_overtaken(label_set: LabelSet, coder: User) -> label_service.LabelSetState:
    """The label set's state as read, after which another save sets kind and commits."""
    read = label_service.state_of(label_set)
    label_service.save_labels(db.session, label_set, coder, {"kind": "tender"})
    db.session.commit()
    return read


def test_a_save_on_an_overtaken_read_is_made_again_on_the_saved_state(
    setup: tuple[LabelSet, User],
) -> None:
    """Read, another save commits, then write: without a revision the save is redone."""
    label_set, coder = setup
    read = read_then_overtaken(label_set, coder)
    result = label_service.save_state(db.session, read, coder.id, {"depth": "high"}, note="n")
    db.session.commit()
    assert result.changed == ("depth", "note")
    assert (result.state.revision, result.state.values, result.state.note) == (
        2,
        {"kind": "tender", "depth": "high"},
        "n",
    )
    assert label_service.reread_state(db.session, label_set.id) == result.state
    assert [e[:2] for e in events(label_set)] == [
        ("set_value", "kind"),
        ("set_value", "depth"),
        ("set_note", None),
    ]


def test_a_save_that_lost_a_round_makes_its_next_round_on_a_locked_read(
    setup: tuple[LabelSet, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many tabs save at once, a save without a revision is made in two rounds."""
    label_set, coder = setup
    read = read_then_overtaken(label_set, coder)
    rereads: list[bool] = []
    original = label_service.reread_state

    def recorded(session: Any, label_set_id: int, *, lock: bool = False) -> Any:
        rereads.append(lock)
        return original(session, label_set_id, lock=lock)

    monkeypatch.setattr(label_service, "reread_state", recorded)
    result = label_service.save_state(db.session, read, coder.id, {"depth": "high"})
    if db.engine.dialect.name == "postgresql":
        # The row is held until this save commits: another writer waits instead of winning.
        with db.engine.connect() as other:
            other.execute(text("SET lock_timeout = '100ms'"))
            with pytest.raises(OperationalError, match="lock"):
                other.execute(
                    text("UPDATE label_set SET note = 'other' WHERE id = :id"),
                    {"id": label_set.id},
                )
    db.session.commit()
    assert rereads == [True]
    assert (result.state.revision, result.state.values) == (2, {"kind": "tender", "depth": "high"})


def test_a_save_naming_a_revision_overtaken_after_the_read_is_stale(
    setup: tuple[LabelSet, User],
) -> None:
    """The revision matched when read, but another save came before the write."""
    label_set, coder = setup
    read = read_then_overtaken(label_set, coder)
    with pytest.raises(label_service.StaleRevision) as error:
        label_service.save_state(db.session, read, coder.id, {"kind": "award"}, expected_revision=0)
    db.session.rollback()
    assert (error.value.current_revision, error.value.current_values) == (1, {"kind": "tender"})
    assert label_service.reread_state(db.session, label_set.id).values == {"kind": "tender"}
    assert len(events(label_set)) == 1


def test_a_submit_overtaken_by_another_submit_is_refused(setup: tuple[LabelSet, User]) -> None:
    label_set, coder = setup
    read = label_service.state_of(label_set)
    label_service.save_labels(db.session, label_set, coder, {"kind": "tender"}, submit=True)
    db.session.commit()
    with pytest.raises(label_service.LabelError, match="reopen"):
        label_service.save_state(db.session, read, coder.id, {"kind": "award"}, submit=True)


def test_a_first_save_that_lost_the_race_to_make_the_label_set_uses_the_winner(
    setup: tuple[LabelSet, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tabs' first saves: both read no label set, the second's insert is refused.

    The second tab's read came before the first tab's insert: ``setup``'s label set is
    that first tab's.
    """
    label_set, coder = setup
    version = label_set.codebook_version
    document_id, codebook_id = label_set.document_id, version.codebook_id
    reads = []
    read_state = label_service.read_state

    def counted(*args: object) -> label_service.LabelSetState | None:
        reads.append(args)
        return read_state(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(label_service, "read_state", counted)
    state = label_service.create_state(db.session, document_id, coder.id, codebook_id)
    assert len(reads) == 1  # the winner's, after the refused insert
    assert state is not None and state.id == label_set.id
    db.session.rollback()
    assert db.session.scalars(select(LabelSet)).all() == [label_set]


def test_a_refused_insert_that_was_not_the_race_is_not_hidden(
    setup: tuple[LabelSet, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert is refused, and no other label set is there to use: the error stands."""
    from sqlalchemy.exc import IntegrityError

    label_set, coder = setup
    monkeypatch.setattr(label_service, "read_state", lambda *args: None)
    with pytest.raises(IntegrityError):
        label_service.create_state(
            db.session, label_set.document_id, coder.id, label_set.codebook_version.codebook_id
        )
    db.session.rollback()


def test_create_state_makes_a_label_set_under_the_newest_version(
    setup: tuple[LabelSet, User],
) -> None:
    label_set, _coder = setup
    version = label_set.codebook_version
    bob = add_user(db.session, "bob", Role.CODER, "password-2")
    db.session.commit()
    state = label_service.create_state(
        db.session, label_set.document_id, bob.id, version.codebook_id
    )
    assert state is not None and state.id != label_set.id
    assert (state.codebook_version_id, state.revision, state.values) == (version.id, 0, {})
    result = label_service.save_state(db.session, state, bob.id, {"kind": "award"})
    db.session.commit()
    assert (
        label_service.read_state(db.session, label_set.document_id, bob.id, version.codebook_id)
        == result.state
    )


def test_unchanged_save_changes_nothing(setup: tuple[LabelSet, User]) -> None:
    label_set, coder = setup
    label_service.save_labels(db.session, label_set, coder, {"kind": "tender"})
    result = label_service.save_labels(
        db.session, label_set, coder, {"kind": "tender", "depth": None}
    )
    assert result.changed == ()
    assert label_set.revision == 1


def test_evidence_is_located_on_its_page(setup: tuple[LabelSet, User]) -> None:
    label_set, coder = setup
    page_text = label_set.document.pages[0].text
    quote = page_text.strip().splitlines()[0][:8]
    evidence = label_service.add_evidence(
        db.session, label_set, coder, variable="kind", page=1, quote=quote
    )
    db.session.commit()
    assert page_text[evidence.start : evidence.end] == quote
    assert any(quote and "\u4e00" <= ch <= "\u9fff" for ch in quote), (
        "the fixture's first line is Chinese"
    )
    assert events(label_set)[-1][0] == "add_evidence"

    label_service.remove_evidence(db.session, label_set, coder, evidence.id)
    db.session.commit()
    assert label_set.evidence == []
    assert events(label_set)[-1][:2] == ("remove_evidence", "kind")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variable": "kind", "page": 1, "quote": "这句话不在文件里"}, "not on page 1"),
        ({"variable": "kind", "page": 99, "quote": "x"}, "no page 99"),
        ({"variable": "kind", "page": 1, "quote": "   "}, "empty"),
        ({"variable": "nope", "page": 1, "quote": "x"}, "not a variable"),
        ({"variable": "kind", "page": 1, "quote": "x", "start": 10**6}, "not at offset"),
    ],
)
def test_bad_evidence_is_refused(setup: tuple[LabelSet, User], kwargs: dict, message: str) -> None:
    label_set, coder = setup
    with pytest.raises(label_service.LabelError, match=message):
        label_service.add_evidence(db.session, label_set, coder, **kwargs)


def test_labels_stay_with_their_codebook_version(
    setup: tuple[LabelSet, User], tmp_path: Path
) -> None:
    label_set, coder = setup
    label_service.save_labels(db.session, label_set, coder, {"kind": "tender"})
    db.session.commit()
    first = label_set.codebook_version
    changed = load_codebook_text(
        db.session, CODEBOOK.replace("Tender", "Tender notice"), "mini.yaml"
    )
    db.session.commit()
    assert changed.created and changed.version.number == 2
    again = label_service.label_set_for(
        db.session, label_set.document, coder, changed.version, create=True
    )
    assert again is label_set
    assert again.codebook_version is first


def test_assigned_state_reads_assignment_label_set_and_values_at_once(
    setup: tuple[LabelSet, User],
) -> None:
    from annotator.services.assignments import assign_by_hand

    label_set, coder = setup
    document, first = label_set.document, label_set.codebook_version
    assert label_service.assigned_state(db.session, document.id, coder.id) is None
    assign_by_hand(db.session, document, coder, first.codebook)
    bob = add_user(db.session, "bob", Role.CODER, "password-2")
    assign_by_hand(db.session, document, bob, first.codebook)
    label_service.save_labels(
        db.session, label_set, coder, {"kind": "tender", "data": ["phone", "name"]}, note="n"
    )
    db.session.commit()
    # Assigned, nothing saved yet: the codebook and no label set.
    assert label_service.assigned_state(db.session, document.id, bob.id) == (
        first.codebook_id,
        None,
    )
    codebook_id, state = label_service.assigned_state(db.session, document.id, coder.id) or (
        0,
        None,
    )
    assert codebook_id == first.codebook_id
    assert state == label_service.reread_state(db.session, label_set.id)
    assert state is not None and state.values == {"kind": "tender", "data": ["name", "phone"]}
    assert (state.note, state.revision, state.codebook_version_id) == ("n", 1, first.id)
    # A label set under a newer version of the codebook is the one read, with its values.
    newer = load_codebook_text(
        db.session, CODEBOOK.replace("Tender", "Tender notice"), "mini.yaml"
    ).version
    made = LabelSet(document=document, coder=coder, codebook_version=newer)
    db.session.add(made)
    db.session.flush()
    label_service.save_labels(db.session, made, coder, {"depth": "low"})
    db.session.commit()
    _codebook_id, newest = label_service.assigned_state(db.session, document.id, coder.id) or (
        0,
        None,
    )
    assert newest is not None
    assert (newest.id, newest.values) == (made.id, {"depth": "low"})
    assert newest == label_service.read_state(db.session, document.id, coder.id, codebook_id)
