"""Model helpers: the process-wide cache of parsed codebook versions."""

from __future__ import annotations

from flask import Flask

from annotator import models
from annotator.extensions import db
from annotator.models import CodebookVersion
from annotator.services.codebooks import load_codebook_text

CODEBOOK = """\
id: cached
title: A codebook to cache
variables:
  - id: kind
    label: Document kind
    type: single
    options:
      - {code: tender, label: Tender}
      - {code: award, label: Award}
"""


def test_parsed_codebook_is_cached_per_fingerprint(app: Flask) -> None:
    first = load_codebook_text(db.session, CODEBOOK, "cached.yaml").version
    second = load_codebook_text(
        db.session, CODEBOOK.replace("Award", "Contract award"), "cached.yaml"
    ).version
    db.session.commit()
    first_id, second_id = first.id, second.id
    assert first.fingerprint != second.fingerprint

    parsed = first.parsed()
    # A fresh load of the same row (a new request) gets the same parsed object.
    db.session.expunge_all()
    again = db.session.get(CodebookVersion, first_id)
    assert again is not None and again is not first
    # ... without reading the definition: a deferred column, loaded only on a cache miss.
    assert "definition" not in again.__dict__
    assert again.parsed() is parsed
    assert "definition" not in again.__dict__
    assert parsed.fingerprint() == again.fingerprint

    # Different content, a different codebook.
    other = db.session.get(CodebookVersion, second_id)
    assert other is not None
    assert other.parsed() is not parsed
    assert other.parsed().variable("kind").option("award").label.en == "Contract award"  # type: ignore[union-attr]
    assert parsed.variable("kind").option("award").label.en == "Award"  # type: ignore[union-attr]


def test_definition_that_does_not_match_its_fingerprint_is_not_cached(app: Flask) -> None:
    version = load_codebook_text(db.session, CODEBOOK, "cached.yaml").version
    db.session.commit()
    wrong = "0" * 64
    first = models.parsed_definition(wrong, lambda: version.definition)
    assert first.fingerprint() == version.fingerprint
    assert models.parsed_definition(wrong, lambda: version.definition) is not first
    assert wrong not in models._parsed_cache


def test_cache_keeps_at_most_its_size() -> None:
    assert len(models._parsed_cache) <= models._PARSED_CACHE_SIZE
