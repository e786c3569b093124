"""The demo project: the study's codebook, a synthetic corpus, a PI and three coders.

The corpus in ``corpus/`` is made by ``scripts/make_demo_corpus.py``; its metadata is in
``metadata.csv``.
"""

from __future__ import annotations

import random
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

HERE = Path(__file__).parent
CORPUS_DIR = HERE / "corpus"
METADATA_CSV = HERE / "metadata.csv"
STUDY_CODEBOOK = HERE.parent.parent / "codebook" / "wechat_policing.yaml"
CODERS = ("alice", "bo", "chen")
PI = "pi"
# A fixed seed: every demo project has the same assignments, which makes it easy to talk about.
SEED = 20190601


def build_demo(instance_path: str, echo: Callable[[str], None] = print) -> Flask:
    """Create the demo project from scratch under ``<instance>/demo`` and return its app."""
    from flask_migrate import upgrade

    from .. import MIGRATIONS_DIR, create_app
    from ..extensions import db
    from ..metadata import read_metadata_csv
    from ..models import Role
    from ..services import assignments as assignment_service
    from ..services import users as user_service
    from ..services.codebooks import load_codebook_text
    from ..services.documents import collect_files, import_files

    root = Path(instance_path) / "demo"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    app = create_app(
        {
            "SECRET_KEY": secrets.token_hex(32),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{root / 'demo.sqlite3'}",
            "DATA_DIR": str(root / "documents"),
            # Served on 127.0.0.1 over plain HTTP by design: no warning about cookies.
            "PRODUCTION_WARNINGS": False,
        }
    )
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        codebook = load_codebook_text(
            db.session, STUDY_CODEBOOK.read_text(encoding="utf-8"), STUDY_CODEBOOK.name
        ).version.codebook
        db.session.commit()
        echo(f"Loaded codebook '{codebook.slug}'.")
        report = import_files(
            db.session,
            collect_files([CORPUS_DIR]),
            data_dir=app.config["DATA_DIR"],
            max_bytes=app.config["MAX_DOCUMENT_BYTES"],
            metadata=read_metadata_csv(METADATA_CSV),
        )
        for line in report.summary_lines():
            echo(line)
        passwords = {PI: user_service.generate_password()}
        user_service.add_user(db.session, PI, Role.PI, passwords[PI], "Principal investigator")
        for name in CODERS:
            passwords[name] = user_service.generate_password()
            user_service.add_user(db.session, name, Role.CODER, passwords[name], name.capitalize())
        coders = user_service.coders(db.session)
        _, plan = assignment_service.assign_by_rule(
            db.session, codebook, coders, reliability_share=0.3, coders_per_document=2, seed=SEED
        )
        db.session.commit()
        for line in assignment_service.describe_plan(plan, coders):
            echo(line)
        coded = code_reliability_sample(db.session, codebook)
        db.session.commit()
        echo(
            f"Coded and submitted the {coded} reliability-sample documents for both of their "
            "coders, so that the reliability pages have data; the other documents are left to do."
        )
        echo("")
        echo("Log in with one of these (passwords are new for every demo):")
        for name, password in passwords.items():
            echo(f"  {name:<6} {password}   ({'PI' if name == PI else 'coder'})")
    return app


def code_reliability_sample(session: Any, codebook: Any) -> int:
    """Code every document of the reliability sample, as each of its coders would, and submit.

    Each document gets a plausible coding (from its metadata where there is some, else drawn
    with the demo's seed) and each coder departs from it now and then, more often on the
    variables that are hard to code, so that the dashboard shows reliable, tentative and
    unreliable variables and the disagreement explorer has something to explore. Each
    coder quotes a line of the document as evidence for the service type. Returns the number
    of documents coded.
    """
    from sqlalchemy import select

    from ..models import Assignment, Page
    from ..services import labels as label_service

    rng = random.Random(SEED)
    version = codebook.latest
    definition = version.parsed()
    coders_of: dict[int, list[Any]] = {}
    for assignment in session.scalars(
        select(Assignment).where(Assignment.reliability.is_(True)).order_by(Assignment.id)
    ):
        coders_of.setdefault(assignment.document_id, []).append(assignment)
    for assignments in coders_of.values():
        document = assignments[0].document
        truth = _demo_truth(document, definition, rng)
        lines = [
            line.strip()
            for text in session.scalars(
                select(Page.text).where(Page.document_id == document.id, Page.number == 1)
            )
            for line in text.splitlines()
            if len(line.strip()) >= 8
        ]
        for turn, assignment in enumerate(assignments):
            label_set = label_service.label_set_for(
                session, document, assignment.coder, version, create=True
            )
            assert label_set is not None  # create=True always gives one
            if lines:
                label_service.add_evidence(
                    session,
                    label_set,
                    assignment.coder,
                    variable="service_type",
                    page=1,
                    quote=lines[min(turn, len(lines) - 1)][:60],
                )
            values = {
                variable.id: _demo_departure(variable, value, rng)
                for variable, value in truth.items()
            }
            label_service.save_labels(session, label_set, assignment.coder, values, submit=True)
    return len(coders_of)


# How often a demo coder departs from a document's coding, per variable: the hard calls
# (how deep the integration goes, what data are collected) more often than the facts.
_DEPARTURE = {
    "service_type": 0.3,
    "integration_depth": 0.35,
    "data_collected": 0.4,
    "document_kind": 0.08,
    "province": 0.0,
    "admin_level": 0.15,
    "year": 0.05,
    "service_count": 0.3,
    "vendor_is_tencent": 0.1,
}


def _demo_truth(document: Any, definition: Any, rng: random.Random) -> dict[Any, Any]:
    """A plausible coding of a demo document: metadata where the corpus has it."""
    kinds = {"report": "media_report"}
    variables = {variable.id: variable for variable in definition.variables}
    services = rng.sample(variables["service_type"].codes, rng.randint(1, 3))
    province = (document.province or "").lower().replace(" ", "_")
    kind = kinds.get(document.kind or "", document.kind or "other")
    level = document.level if document.level in variables["admin_level"].codes else "county"
    values = {
        "service_type": services,
        "service_count": len(services),
        "integration_depth": rng.choice(variables["integration_depth"].codes),
        "data_collected": rng.sample(variables["data_collected"].codes, rng.randint(1, 3)),
        "document_kind": kind if kind in variables["document_kind"].codes else "other",
        "province": province if province in variables["province"].codes else "not_stated",
        "admin_level": level,
        "year": document.year or 2018,
        "vendor_is_tencent": "腾讯" in (document.vendor or ""),
    }
    return {variables[name]: value for name, value in values.items()}


def _demo_departure(variable: Any, value: Any, rng: random.Random) -> Any:
    """The value as one coder gives it: usually the same, sometimes a neighbour or another."""
    if rng.random() >= _DEPARTURE.get(variable.id, 0.0):
        return value
    codes = list(variable.codes)
    if variable.type.value == "multiple":
        other = rng.choice([code for code in codes if code not in value] or codes)
        return value[:-1] if len(value) > 1 and rng.random() < 0.5 else [*value, other]
    if variable.type.value == "ordinal":
        at = codes.index(value) + rng.choice((-1, 1))
        return codes[min(max(at, 0), len(codes) - 1)]
    if variable.type.value == "single":
        return rng.choice([code for code in codes if code != value])
    if variable.type.value == "yesno":
        return not value
    return value + rng.choice((-1, 1))
