"""`annotator demo`: a complete project from nothing, and a server that really answers.

Building the demo imports the whole bundled corpus, so these tests take seconds.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from annotator.demo import CODERS, CORPUS_DIR, METADATA_CSV, PI, SEED, build_demo
from annotator.extensions import db
from annotator.models import (
    Assignment,
    AssignmentBatch,
    Codebook,
    Document,
    LabelSet,
    LabelStatus,
    Role,
    User,
)
from annotator.reliability_report import ReliabilityAnalysis, verdict
from annotator.services.reliability import ratings_for

from .conftest import AuthActions, RequestPerContextClient
from .test_cli import free_port, serve_until_ready

pytestmark = pytest.mark.slow

ANNOTATOR = Path(sys.executable).with_name("annotator")
LOGIN_LINE = re.compile(r"^  (\S+)\s+(\S+)\s+\((PI|coder)\)$", re.MULTILINE)
CJK = re.compile(r"[\u4e00-\u9fff]")


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS_DIR.rglob("*") if p.is_file() and not p.name.startswith("."))


def cli_environment(instance: Path) -> dict[str, str]:
    """The environment of a person trying the demo: no settings, instance folder in tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_")}
    env["ANNOTATOR_INSTANCE_PATH"] = str(instance)
    return env


def test_the_demo_corpus_is_bundled() -> None:
    files = corpus_files()
    assert len(files) >= 12, (
        f"{CORPUS_DIR} holds {len(files)} files: run scripts/make_demo_corpus.py"
    )
    assert {p.suffix for p in files} >= {".pdf", ".html"}
    assert METADATA_CSV.exists()


def test_build_demo(tmp_path: Path) -> None:
    printed: list[str] = []
    app = build_demo(str(tmp_path), echo=printed.append)
    assert app.config["PRODUCTION_WARNINGS"] is False  # local and plain HTTP by design

    assert (tmp_path / "demo" / "demo.sqlite3").is_file()
    assert f"imported {len(corpus_files())}, duplicates 0, refused 0" in printed
    assert not [line for line in printed if "refused:" in line or "warning" in line]
    logins = {
        name: (password, role) for name, password, role in LOGIN_LINE.findall("\n".join(printed))
    }
    assert {name: role for name, (_, role) in logins.items()} == {
        PI: "PI",
        **{name: "coder" for name in CODERS},
    }

    with app.app_context():
        codebook = db.session.scalars(select(Codebook)).one()
        assert (codebook.slug, [v.number for v in codebook.versions]) == ("wechat_policing", [1])

        documents = db.session.scalars(select(Document)).all()
        assert len(documents) == len(corpus_files()) >= 12
        assert {d.format.value for d in documents} >= {"pdf", "html"}
        assert all(d.has_text for d in documents), [d.filename for d in documents if not d.has_text]
        chinese = [d for d in documents if CJK.search(" ".join(p.text for p in d.pages))]
        english = [d for d in documents if not CJK.search(" ".join(p.text for p in d.pages))]
        assert chinese and english
        # Both languages in both formats, so the demo shows what the tool reads.
        assert {d.format.value for d in chinese} >= {"pdf", "html"}
        assert {d.format.value for d in english} >= {"pdf", "html"}
        # The metadata CSV was applied.
        assert all(d.province and d.year for d in documents)

        users = {u.username: u.role for u in db.session.scalars(select(User))}
        assert users == {PI: Role.PI, **{name: Role.CODER for name in CODERS}}

        batch = db.session.scalars(select(AssignmentBatch)).one()
        assert batch.seed == SEED
        coders_per_document = Counter(db.session.scalars(select(Assignment.document_id)).all())
        assert set(coders_per_document) == {d.id for d in documents}  # every document assigned
        overlap = [doc for doc, n in coders_per_document.items() if n >= 2]
        assert len(overlap) == math.ceil(0.3 * len(documents))  # the reliability sample
        assert db.session.scalar(
            select(func.count()).where(Assignment.reliability.is_(True))
        ) == 2 * len(overlap)

        # The reliability sample is coded and submitted by both coders, with a quote each;
        # the other documents are left to do.
        label_sets = db.session.scalars(select(LabelSet)).all()
        sample = db.session.execute(
            select(Assignment.document_id, Assignment.coder_id).where(
                Assignment.reliability.is_(True)
            )
        )
        assert sorted((ls.document_id, ls.coder_id) for ls in label_sets) == sorted(
            (document_id, coder_id) for document_id, coder_id in sample
        )
        assert all(ls.status is LabelStatus.SUBMITTED and ls.evidence for ls in label_sets)
        codebook_definition, ratings = ratings_for(db.session, codebook.latest)
        results = ReliabilityAnalysis.from_codebook(codebook_definition, ratings).run(samples=0)
        verdicts = {verdict(result.alpha) for result in results}
        assert {"reliable", "unreliable"} <= verdicts, verdicts
        assert all(r.n_units == len(overlap) for r in results if r.alpha is not None)

        # Log in with the passwords the demo printed.
        # One app context per request, as in a server: logging out clears the session, and
        # a shared flask.g would keep serving the cleared session's CSRF token.
        app.test_client_class = RequestPerContextClient
        client = app.test_client()
        auth = AuthActions(client)
        coder = CODERS[0]
        assert auth.login(coder, "not the password").status_code != 302
        assert "/login" in client.get("/", follow_redirects=False).location
        response = auth.login(coder, logins[coder][0])
        assert response.status_code == 302
        assert client.get("/", follow_redirects=False).location.endswith("/code/")
        queue = client.get("/code/").get_data(as_text=True)
        mine = db.session.scalars(
            select(Document.filename).join(Assignment).where(Assignment.coder.has(username=coder))
        ).all()
        assert mine and all(filename in queue for filename in mine)
        auth.logout()
        auth.login(PI, logins[PI][0])
        assert client.get("/", follow_redirects=False).location.endswith("/admin/")
        db.engine.dispose()

    # A second demo starts again from scratch, with new passwords.
    again: list[str] = []
    app = build_demo(str(tmp_path), echo=again.append)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == len(documents)
        db.engine.dispose()
    new_logins = dict(
        (name, password) for name, password, _ in LOGIN_LINE.findall("\n".join(again))
    )
    assert all(new_logins[name] != password for name, (password, _) in logins.items())


def test_annotator_demo_no_serve(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    result = subprocess.run(
        [str(ANNOTATOR), "demo", "--no-serve"],
        env=cli_environment(instance),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Log in with one of these" in result.stdout
    assert len(LOGIN_LINE.findall(result.stdout)) == 1 + len(CODERS)
    assert (instance / "demo" / "demo.sqlite3").is_file()
    assert len(list((instance / "demo" / "documents").rglob("*"))) > len(corpus_files())


def test_annotator_demo_serves(tmp_path: Path) -> None:
    port = free_port()
    status, log = serve_until_ready(
        ["demo", "--port", str(port)], cli_environment(tmp_path / "instance"), tmp_path, port
    )
    assert status == 200, log
    assert f"Serving the demo on http://127.0.0.1:{port}/" in log
