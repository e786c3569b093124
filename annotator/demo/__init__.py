"""The demo project: the study's codebook, a synthetic corpus, a PI and three coders.

The corpus in ``corpus/`` is made by ``scripts/make_demo_corpus.py``; its metadata is in
``metadata.csv``.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

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
        echo("")
        echo("Log in with one of these (passwords are new for every demo):")
        for name, password in passwords.items():
            echo(f"  {name:<6} {password}   ({'PI' if name == PI else 'coder'})")
    return app
