"""The `annotator` command line: one real end-to-end run, then each command in detail.

The end-to-end test runs the installed `annotator` script in subprocesses, configured only
by the environment, as a researcher would. The others use Flask's CLI runner, which is
faster, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import func, select, text

from annotator import MIGRATIONS_DIR
from annotator.assignment import plan_assignments
from annotator.cli import codebook_group, commands
from annotator.extensions import db
from annotator.extraction import DocumentFormat
from annotator.models import (
    Assignment,
    AssignmentBatch,
    Codebook,
    CodebookVersion,
    Document,
    Role,
    User,
)
from annotator.schema import expected_heads
from annotator.services import users as user_service
from annotator.services.codebooks import load_codebook_text

from .conftest import FIXTURES, ROOT, STUDY_CODEBOOK, make_app, migrate_to_head

ANNOTATOR = Path(sys.executable).with_name("annotator")
CODEBOOKS = sorted((ROOT / "codebook").glob("*.yaml"))
CLIMATE_CODEBOOK = ROOT / "codebook" / "climate_adaptation_news.yaml"
UPGRADE_HINT = "run `annotator db upgrade` to create or upgrade it"
PASSWORD_SHOWN = re.compile(r"^password: (\S+)$", re.MULTILINE)


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --- end to end, in subprocesses ------------------------------------------------------


@dataclass
class Shell:
    """Runs `annotator` as a person would: own process, configured by the environment."""

    env: dict[str, str]
    cwd: Path

    def __call__(
        self, *args: str | Path, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ANNOTATOR), *map(str, args)],
            env=self.env,
            cwd=self.cwd,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_")}
    env |= {
        "ANNOTATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'study.sqlite3'}",
        "ANNOTATOR_DATA_DIR": str(tmp_path / "files"),
        # Nothing may land in the checkout's instance folder.
        "ANNOTATOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    return Shell(env, tmp_path)


def test_a_study_set_up_from_the_command_line(shell: Shell, tmp_path: Path) -> None:
    assert ANNOTATOR.exists(), f"{ANNOTATOR} is missing: pip install -e ."
    # Before `db upgrade`, database commands refuse and say what to do.
    before = shell("codebook", "list")
    assert before.returncode == 1
    assert UPGRADE_HINT in before.stderr

    upgraded = shell("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr

    loaded = shell("codebook", "load", STUDY_CODEBOOK)
    assert (loaded.returncode, loaded.stdout) == (
        0,
        "codebook 'wechat_policing': loaded as version 1\n",
    )

    documents = tmp_path / "documents"
    for name, where in [
        ("en_two_pages.pdf", "."),
        ("zh_cid_font.pdf", "2016"),
        ("report.html", "2016/news"),
        ("gbk.txt", "2017"),
        ("notes.md", "2017/deep/er"),
        ("corrupt.pdf", "2017"),
    ]:
        (documents / where).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / name, documents / where / name)
    metadata = tmp_path / "metadata.csv"
    metadata.write_text(
        "filename,province,year,value,newspaper\n"
        'zh_cid_font.pdf,Fujian,2016,"12,800,000",\n'
        "report.html,Shanghai,2019,,Example Daily\n"
        "no_such_file.pdf,Gansu,2020,,\n",
        encoding="utf-8",
    )
    imported = shell("import", documents, "--metadata", metadata)
    assert imported.returncode == 1  # one file was refused
    assert "Importing" in imported.stdout  # the progress bar's label
    assert "imported 5, duplicates 0, refused 1" in imported.stdout
    assert f"refused: {documents / '2017' / 'corrupt.pdf'}: corrupt PDF" in imported.stdout
    assert "warning: the metadata names 'no_such_file.pdf'" in imported.stderr

    pi = shell("users", "add", "pi", "--role", "pi", "--generate-password")
    assert pi.returncode == 0, pi.stderr
    assert "added pi 'pi'" in pi.stdout
    pi_password = PASSWORD_SHOWN.search(pi.stdout)
    assert pi_password, pi.stdout

    # Typed twice at the prompt (the confirmation), as a person would.
    alice = shell("users", "add", "alice", "--role", "coder", input="tea-and-cake\ntea-and-cake\n")
    assert alice.returncode == 0, alice.stderr
    assert "added coder 'alice'" in alice.stdout
    assert "tea-and-cake" not in alice.stdout + alice.stderr
    for name in ("bo", "chen"):
        added = shell("users", "add", name, "--role", "coder", "--generate-password")
        assert added.returncode == 0, added.stderr

    assigned = shell("assign", "--sample", "50%", "--seed", "1")
    assert assigned.returncode == 0, assigned.stderr
    lines = assigned.stdout.splitlines()
    # 5 documents; ceil(50 % of 5) = 3 coded twice: 8 assignments, spread 3/3/2.
    assert (
        lines[0] == "assigned 5 documents (8 assignments); reliability sample: 3 documents; seed 1"
    )
    assert sorted(re.findall(r"^  \w+: (\d+) documents", assigned.stdout, re.M)) == ["2", "3", "3"]

    listed = shell("users", "list")
    assert [line.split("\t")[:2] for line in listed.stdout.splitlines()] == [
        ["alice", "coder"],
        ["bo", "coder"],
        ["chen", "coder"],
        ["pi", "pi"],
    ]

    # What the commands stored, read back by the app.
    app = make_app(shell.env["ANNOTATOR_DATABASE_URL"], Path(shell.env["ANNOTATOR_DATA_DIR"]))
    with app.app_context():
        by_name = {d.filename: d for d in db.session.scalars(select(Document))}
        assert sorted(by_name) == [
            "en_two_pages.pdf",
            "gbk.txt",
            "notes.md",
            "report.html",
            "zh_cid_font.pdf",
        ]
        fujian = by_name["zh_cid_font.pdf"]
        assert (fujian.province, fujian.year, fujian.value) == (
            "Fujian",
            2016,
            Decimal("12800000.00"),
        )
        assert by_name["report.html"].extra == {"newspaper": "Example Daily"}
        users = {u.username: u for u in db.session.scalars(select(User))}
        assert users["pi"].role is Role.PI and users["pi"].check_password(pi_password[1])
        assert users["alice"].check_password("tea-and-cake")
        batch = db.session.scalars(select(AssignmentBatch)).one()
        assert batch.seed == 1
        assert count(Assignment) == 8
        db.engine.dispose()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_until_ready(
    args: list[str], env: dict[str, str], cwd: Path, port: int, timeout: float = 120
) -> tuple[int | None, str]:
    """Start `annotator ARGS`, poll /login until it answers, stop it; the status and output.

    The status is None when the server exits or does not answer in time.
    """
    log = cwd / f"server-{port}.log"
    status = None
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(ANNOTATOR), *args], env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + timeout
            while status is None and server.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                        status = int(r.status)
                except urllib.error.HTTPError as error:
                    status = error.code
                except OSError:
                    time.sleep(0.2)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return status, log.read_text()


def test_annotator_serve_serves(shell: Shell) -> None:
    migrate_to_head(shell.env["ANNOTATOR_DATABASE_URL"], Path(shell.env["ANNOTATOR_DATA_DIR"]))
    port = free_port()
    env = shell.env | {"ANNOTATOR_SECRET_KEY": "a-key-for-this-test"}
    status, log = serve_until_ready(["serve", "--port", str(port)], env, shell.cwd, port)
    assert status == 200, log


# --- every database command refuses an empty or outdated schema ------------------------

DATABASE_COMMANDS = [
    ["codebook", "load", str(STUDY_CODEBOOK)],
    ["codebook", "list"],
    ["import", str(FIXTURES / "notes.md")],
    ["users", "add", "zoe", "--role", "coder", "--generate-password"],
    ["users", "list"],
    ["assign", "--sample", "20%"],
    ["assign", "--document", "1", "--coder", "zoe"],
]


@pytest.fixture(scope="module")
def outdated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated, then marked as at a revision this code does not have."""
    path = tmp_path_factory.mktemp("outdated") / "outdated.sqlite3"
    migrate_to_head(f"sqlite:///{path}", path.parent / "data")
    app = make_app(f"sqlite:///{path}", path.parent / "data")
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with app.app_context():
        db.engine.dispose()
    return path


@pytest.mark.parametrize("state", ["empty", "outdated"])
@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=lambda args: "-".join(args[:2]))
def test_database_commands_refuse_an_old_schema(
    state: str, args: list[str], tmp_path: Path, outdated_template: Path
) -> None:
    path = tmp_path / "study.sqlite3"
    if state == "outdated":
        shutil.copyfile(outdated_template, path)
    app = make_app(f"sqlite:///{path}", tmp_path / "files")
    with app.app_context():
        result = app.test_cli_runner().invoke(args=args)

        assert result.exit_code == 1
        if state == "empty":
            assert f"has no schema yet: {UPGRADE_HINT}" in result.output
            assert db.session.execute(text("SELECT name FROM sqlite_master")).all() == []
        else:
            (head,) = expected_heads(MIGRATIONS_DIR)
            assert (
                f"is at revision 0000, this version of annotator needs {head}: {UPGRADE_HINT}"
                in result.output
            )
            assert count(User) == count(Codebook) == count(Document) == 0
        assert not (tmp_path / "files").exists()
        db.engine.dispose()


# --- codebook validate ------------------------------------------------------------------

VALID_HEAD = "id: test_book\ntitle: A test codebook\nvariables:\n"

# case, YAML, the problems expected as (line, words in the message)
INVALID_CODEBOOKS = [
    (
        "bad-syntax",
        "id: test_book\ntitle: [unclosed\nvariables: []\n",
        [(3, "invalid YAML at column 10")],
    ),
    (
        "tab-indent",
        VALID_HEAD + "  - id: a\n\ttype: text\n",
        [(5, "indent with spaces")],
    ),
    (
        "unknown-type",
        VALID_HEAD + "  - id: kind\n    type: singel\n    label: Kind\n",
        [(5, "variable 'kind': unknown type 'singel' (did you mean 'single'?)")],
    ),
    (
        "duplicate-id",
        VALID_HEAD
        + "  - id: kind\n    type: text\n    label: Kind\n"
        + "  - id: kind\n    type: yesno\n    label: Again\n",
        [(7, "duplicate variable id 'kind' (first used on line 4)")],
    ),
    (
        "ordinal-with-one-option",
        VALID_HEAD
        + "  - id: depth\n    type: ordinal\n    label: Depth\n    options:\n"
        + "      - code: low\n        label: Low\n",
        [(7, "variable 'depth': ordinal needs at least 2 options, found 1")],
    ),
    (
        "missing-label",
        VALID_HEAD + "  - id: note\n    type: text\n",
        [(4, "variable 'note': missing 'label'")],
    ),
    (
        "yes-as-option-code",
        VALID_HEAD
        + "  - id: answer\n    type: single\n    label: Answer\n    options:\n"
        + "      - code: yes\n        label: Yes\n",
        [(8, "option code yes reads as true/false; put it in quotes")],
    ),
    (
        "no-variables",
        "id: test_book\ntitle: A test codebook\n",
        [(1, "missing 'variables'")],
    ),
    (
        "every-problem-at-once",
        "id: Test Book\ntitle: A test codebook\nvariables:\n"
        "  - id: kind\n    type: singel\n    label: Kind\n"
        "  - id: kind\n    type: yesno\n    label: Again\n"
        "  - id: depth\n    type: ordinal\n    label: Depth\n    options:\n"
        "      - code: low\n        label: Low\n"
        "  - id: topic\n    type: single\n    options:\n"
        "      - code: a\n        label: A\n      - code: b\n",
        [
            (1, "codebook id 'Test Book' may contain only lowercase letters"),
            (5, "variable 'kind': unknown type 'singel'"),
            (7, "duplicate variable id 'kind' (first used on line 4)"),
            (13, "variable 'depth': ordinal needs at least 2 options, found 1"),
            (16, "variable 'topic': missing 'label'"),
            (21, "variable 'topic', option 'b': missing 'label'"),
        ],
    ),
]


def validate(*files: Path) -> Result:
    return CliRunner().invoke(codebook_group, ["validate", *map(str, files)])


def test_the_example_codebooks_are_valid() -> None:
    assert len(CODEBOOKS) >= 2, "codebook/ should hold the study codebook and another example"
    result = validate(*CODEBOOKS)
    assert result.exit_code == 0, result.output
    for path in CODEBOOKS:
        assert re.search(
            rf"^{re.escape(str(path))}: valid codebook '\w+' with \d+ variables$",
            result.stdout,
            re.M,
        )


@pytest.mark.parametrize(
    ("source", "problems"),
    [case[1:] for case in INVALID_CODEBOOKS],
    ids=[case[0] for case in INVALID_CODEBOOKS],
)
def test_validate_prints_every_problem_with_its_line(
    tmp_path: Path, source: str, problems: list[tuple[int, str]]
) -> None:
    path = tmp_path / "codebook.yaml"
    path.write_text(source, encoding="utf-8")

    result = validate(path)

    assert result.exit_code == 1
    printed = result.stderr.splitlines()
    assert len(printed) == len(problems), result.stderr
    for line, (number, words) in zip(printed, problems, strict=True):
        assert line.startswith(f"{path}:{number}: "), line
        assert words in line


def test_validate_checks_every_file_given(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(VALID_HEAD + "  - id: note\n    type: text\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(VALID_HEAD.encode() + "  - id: caf\xe9\n".encode("latin-1"))

    result = validate(broken, STUDY_CODEBOOK, latin1, tmp_path / "missing.yaml")

    assert result.exit_code == 1
    assert f"{STUDY_CODEBOOK}: valid codebook 'wechat_policing'" in result.stdout
    assert f"{broken}:4: variable 'note': missing 'label'" in result.stderr
    assert f"{latin1}:4: the file is not UTF-8 text" in result.stderr
    assert f"{tmp_path / 'missing.yaml'}: cannot read" in result.stderr


# --- codebook load and list -------------------------------------------------------------


def test_codebook_load_makes_versions(runner: Any, tmp_path: Path) -> None:
    path = tmp_path / "climate.yaml"
    original = CLIMATE_CODEBOOK.read_text(encoding="utf-8")
    path.write_text(original, encoding="utf-8")

    def load() -> Result:
        return runner.invoke(args=["codebook", "load", str(path)])

    first = load()
    assert (first.exit_code, first.output) == (
        0,
        "codebook 'climate_adaptation_news': loaded as version 1\n",
    )
    same = load()
    assert (same.exit_code, same.output) == (
        0,
        "codebook 'climate_adaptation_news': unchanged, still version 1\n",
    )
    # Comments are not content: no new version.
    path.write_text("# reviewed by the team\n" + original + "\n# end\n", encoding="utf-8")
    assert "unchanged, still version 1" in load().output
    path.write_text(
        original.replace("label: Outlet type", "label: Kind of outlet"), encoding="utf-8"
    )
    changed = load()
    assert (changed.exit_code, changed.output) == (
        0,
        "codebook 'climate_adaptation_news': loaded as version 2\n",
    )

    versions = db.session.scalars(select(CodebookVersion).order_by(CodebookVersion.number)).all()
    assert [(v.number, v.source_name) for v in versions] == [
        (1, "climate.yaml"),
        (2, "climate.yaml"),
    ]
    assert "Kind of outlet" in versions[1].source_text

    listed = runner.invoke(args=["codebook", "list"])
    rows = [line.split("\t") for line in listed.output.splitlines()]
    assert [(row[0], row[1], row[3], row[4]) for row in rows] == [
        ("climate_adaptation_news", "version 1", "climate.yaml", "11 variables"),
        ("climate_adaptation_news", "version 2", "climate.yaml", "11 variables"),
    ]


def test_codebook_load_refuses_an_invalid_file(runner: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(VALID_HEAD + "  - id: note\n    type: text\n", encoding="utf-8")
    result = runner.invoke(args=["codebook", "load", str(path)])
    assert result.exit_code == 1
    assert "broken.yaml:4: variable 'note': missing 'label'" in result.output
    assert count(Codebook) == count(CodebookVersion) == 0


# --- import -----------------------------------------------------------------------------


def _folder(root: Path, files: dict[str, str]) -> Path:
    """A folder tree: relative path -> fixture file to copy there."""
    for relative, fixture in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / fixture, root / relative)
    return root


def test_import_reports_every_file(runner: Any, tmp_path: Path) -> None:
    folder = _folder(
        tmp_path / "study",
        {
            "2016/fujian/tender.pdf": "zh_cid_font.pdf",
            "2016/fujian/tender copy.pdf": "zh_cid_font.pdf",
            "2017/summary.pdf": "en_two_pages.pdf",
            "2017/scan.pdf": "scanned_no_text.pdf",
            "2018/notice.pdf": "not_a_pdf.pdf",
            "2018/locked.pdf": "encrypted.pdf",
            ".trash/old.pdf": "corrupt.pdf",  # hidden: never looked at
            "report.html": "report.html",
        },
    )
    metadata = tmp_path / "metadata.csv"
    metadata.write_text(
        "filename,province,city,year,newspaper\n"
        "tender.pdf,Fujian,Fuzhou,2016,\n"
        "report.html,,,2019,Example Daily\n"
        "tendr.pdf,Fujian,,2016,\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["import", str(folder), "--metadata", str(metadata)])

    assert result.exit_code == 1
    assert "Importing" in result.stdout
    assert "warning: the metadata names 'tendr.pdf', which is not among the files" in result.stderr
    summary = result.stdout[result.stdout.index("imported ") :].splitlines()
    assert summary == [
        "imported 4, duplicates 1, refused 2",
        f"  imported with a warning: {folder / '2017/scan.pdf'}: no text: scanned?",
        f"  duplicate: {folder / '2016/fujian/tender.pdf'}: same content as document "
        f"{_id('tender copy.pdf')} (tender copy.pdf)",
        f"  refused: {folder / '2018/locked.pdf'}: encrypted PDF (password protected)",
        f"  refused: {folder / '2018/notice.pdf'}: not a PDF (the file starts with '<html>' "
        "despite the .pdf extension)",
    ]
    report = db.session.scalars(select(Document).where(Document.filename == "report.html")).one()
    assert (report.year, report.extra) == (2019, {"newspaper": "Example Daily"})


def _id(filename: str) -> int:
    return db.session.scalars(select(Document.id).where(Document.filename == filename)).one()


def test_import_exits_0_when_nothing_is_refused(runner: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "study", {"a.pdf": "en_two_pages.pdf", "b/notes.md": "notes.md"})
    first = runner.invoke(args=["import", str(folder)])
    assert first.exit_code == 0, first.output
    assert "imported 2, duplicates 0, refused 0" in first.stdout

    again = runner.invoke(args=["import", str(folder), str(FIXTURES / "gbk.txt")])
    assert again.exit_code == 0, again.output
    assert "imported 1, duplicates 2, refused 0" in again.stdout
    assert count(Document) == 3


def test_import_quiet_shows_no_progress_bar(runner: Any) -> None:
    result = runner.invoke(args=["import", "--quiet", str(FIXTURES / "notes.md")])
    assert result.exit_code == 0
    assert "Importing" not in result.output
    assert result.stdout == "imported 1, duplicates 0, refused 0\n"


def test_import_refuses_a_broken_metadata_file(runner: Any, tmp_path: Path) -> None:
    metadata = tmp_path / "metadata.csv"
    metadata.write_text("name,year\nnotes.md,twenty\n", encoding="utf-8")
    result = runner.invoke(args=["import", str(FIXTURES / "notes.md"), "--metadata", str(metadata)])
    assert result.exit_code == 1
    assert "metadata.csv:1: no 'filename' column" in result.output
    assert "nothing was imported" in result.output
    assert count(Document) == 0


# --- users ------------------------------------------------------------------------------


def test_users_add_with_a_generated_password(runner: Any) -> None:
    result = runner.invoke(
        args=["users", "add", "pi", "--role", "pi", "--name", "Dr Wang", "--generate-password"]
    )
    assert result.exit_code == 0, result.output
    shown = PASSWORD_SHOWN.search(result.output)
    assert shown
    user = db.session.scalars(select(User)).one()
    assert (user.username, user.role, user.display_name) == ("pi", Role.PI, "Dr Wang")
    assert user.check_password(shown[1])
    assert len(shown[1]) >= user_service.MIN_PASSWORD_LENGTH


def test_users_add_asks_for_the_password_twice(runner: Any) -> None:
    # The first confirmation does not match: the prompt says so and asks again.
    typed = "first-try-1\nfirst-try-2\nsecond-try\nsecond-try\n"
    result = runner.invoke(args=["users", "add", "alice", "--role", "coder"], input=typed)
    assert result.exit_code == 0, result.output
    assert "The two entered values do not match" in result.output
    assert "added coder 'alice'" in result.output
    assert "password:" not in result.output  # a password typed in is not printed
    user = db.session.scalars(select(User)).one()
    assert user.check_password("second-try")


@pytest.mark.parametrize(
    ("args", "typed", "exit_code", "message"),
    [
        (["users", "add", "bob", "--role", "coder"], "short\nshort\n", 1, "at least 8 characters"),
        (["users", "add", "alice", "--role", "coder", "--generate-password"], None, 1, "a user named 'alice' already exists"),
        (["users", "add", "Bob Smith", "--role", "coder", "--generate-password"], None, 1, "'Bob Smith' is not a valid user name"),
        (["users", "add", "bob", "--role", "admin", "--generate-password"], None, 2, "'admin' is not one of 'pi', 'coder'"),
        (["users", "add", "bob", "--generate-password"], None, 2, "Missing option '--role'"),
    ],
    ids=["short-password", "duplicate", "bad-name", "bad-role", "no-role"],
)  # fmt: skip
def test_users_add_refuses(
    runner: Any, args: list[str], typed: str | None, exit_code: int, message: str
) -> None:
    user_service.add_user(db.session, "alice", Role.CODER, "long enough")
    db.session.commit()
    result = runner.invoke(args=args, input=typed)
    assert result.exit_code == exit_code
    assert message in result.output
    assert [u.username for u in db.session.scalars(select(User))] == ["alice"]


def test_users_list(runner: Any) -> None:
    user_service.add_user(db.session, "pi", Role.PI, "long enough", "Dr Wang")
    user_service.add_user(db.session, "bo", Role.CODER, "long enough")
    db.session.commit()
    db.session.scalars(select(User).where(User.username == "bo")).one().active = False
    db.session.commit()
    result = runner.invoke(args=["users", "list"])
    assert result.output == "bo\tcoder\t\t(inactive)\npi\tpi\tDr Wang\n"


# --- assign -----------------------------------------------------------------------------

CODERS = ("alice", "bob", "carol")


@pytest.fixture
def study(app: Flask) -> Iterator[list[int]]:
    """The study codebook, ten documents, a PI and three coders; yields the document ids."""
    load_codebook_text(db.session, STUDY_CODEBOOK.read_text(encoding="utf-8"), "study.yaml")
    user_service.add_user(db.session, "pi", Role.PI, "long enough")
    for name in CODERS:
        user_service.add_user(db.session, name, Role.CODER, "long enough")
    yield _add_documents(10)


def _add_documents(n: int) -> list[int]:
    start = count(Document)
    documents = [
        Document(
            sha256=f"{start + i:064x}",
            filename=f"doc{start + i}.pdf",
            format=DocumentFormat.PDF,
            size_bytes=1,
            page_count=1,
            has_text=True,
        )
        for i in range(n)
    ]
    db.session.add_all(documents)
    db.session.commit()
    return [d.id for d in documents]


def coders_by_document() -> dict[int, list[str]]:
    result: dict[int, list[str]] = {}
    for assignment in db.session.scalars(select(Assignment).order_by(Assignment.id)):
        result.setdefault(assignment.document_id, []).append(assignment.coder.username)
    return result


def test_assign_by_rule(runner: Any, study: list[int]) -> None:
    result = runner.invoke(args=["assign", "--sample", "50%", "--seed", "1"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0]
        == "assigned 10 documents (15 assignments); reliability sample: 5 documents; seed 1"
    )
    assert lines[1:] == [
        f"  {name}: 5 documents, {_overlap(name)} in the reliability sample" for name in CODERS
    ]

    coders = coders_by_document()
    assert sorted(coders) == study  # every document, once or more
    sample = {doc for doc, names in coders.items() if len(names) == 2}
    assert len(sample) == 5
    assert all(len(set(names)) == len(names) for names in coders.values())  # no one twice
    assert all(len(names) in (1, 2) for names in coders.values())
    for assignment in db.session.scalars(select(Assignment)):
        assert assignment.reliability == (assignment.document_id in sample)
        assert assignment.coder.username in CODERS  # never the PI

    batch = db.session.scalars(select(AssignmentBatch)).one()
    assert batch.seed == 1
    assert batch.parameters["reliability_documents"] == sorted(sample)
    assert {a.batch_id for a in db.session.scalars(select(Assignment))} == {batch.id}


def _overlap(name: str) -> int:
    return count(
        Assignment, Assignment.reliability.is_(True), Assignment.coder.has(User.username == name)
    )


def test_the_recorded_seed_reproduces_the_draw(runner: Any, study: list[int]) -> None:
    result = runner.invoke(args=["assign", "--sample", "3", "--coders-per-document", "3"])
    assert result.exit_code == 0, result.output
    batch = db.session.scalars(select(AssignmentBatch)).one()
    assert f"seed {batch.seed}" in result.output.splitlines()[0]  # drawn, then printed

    coder_ids = {u.username: u.id for u in db.session.scalars(select(User))}
    again = plan_assignments(
        batch.parameters["documents"],
        [coder_ids[name] for name in batch.parameters["coders"]],
        reliability_count=batch.parameters["reliability_count"],
        coders_per_document=batch.parameters["coders_per_document"],
        seed=batch.seed,
    )
    stored = {(a.document_id, a.coder_id) for a in db.session.scalars(select(Assignment))}
    assert set(again.pairs) == stored
    assert Counter(len(c) for c in coders_by_document().values()) == {3: 3, 1: 7}


def test_assign_only_the_coders_named(runner: Any, study: list[int]) -> None:
    result = runner.invoke(args=["assign", "--coder", "alice", "--coder", "bob", "--sample", "0"])
    assert result.exit_code == 0, result.output
    loads = Counter(name for names in coders_by_document().values() for name in names)
    assert loads == {"alice": 5, "bob": 5}


def test_assign_again_takes_only_new_documents_and_evens_the_load(
    runner: Any, study: list[int]
) -> None:
    assert runner.invoke(args=["assign", "--sample", "0", "--seed", "7"]).exit_code == 0
    nothing_new = runner.invoke(args=["assign"])
    assert nothing_new.exit_code == 1
    assert "every document is already assigned for codebook 'wechat_policing'" in nothing_new.output

    new = _add_documents(2)
    again = runner.invoke(args=["assign", "--sample", "0"])
    assert again.exit_code == 0, again.output
    assert count(AssignmentBatch) == 2
    coders = coders_by_document()
    assert all(len(coders[doc]) == 1 for doc in new)
    # 10 documents made loads 4/3/3; the two new ones go to the two with 3.
    assert sorted(Counter(n for names in coders.values() for n in names).values()) == [4, 4, 4]


def test_assign_by_hand(runner: Any, study: list[int]) -> None:
    first, second = study[:2]
    result = runner.invoke(
        args=["assign", "--document", str(first), "--document", str(second), "--coder", "carol"]
    )
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == f"assigned document {first} to carol\nassigned document {second} to carol\n"
    )
    assert coders_by_document() == {first: ["carol"], second: ["carol"]}
    assert count(AssignmentBatch) == 0


# arguments of `annotator assign`, its exit code, what it says
ASSIGN_REFUSALS = [
    (["--coders-per-document", "4"], 1, "4 coders per reliability document, but only 3 coders"),
    (["--coder", "pi"], 1, "'pi' is not a coder"),
    (["--coder", "nobody"], 1, "there is no user named 'nobody'"),
    (["--coder", "alice", "--coder", "alice"], 1, "a coder is listed twice"),
    (["--sample", "a fifth"], 1, "'a fifth' is neither a percentage"),
    (["--sample", "150%"], 1, "between 0 % and 100 %"),
    (["--sample", "11"], 1, "a reliability sample of 11 needs 11 documents; there are 10"),
    (["--codebook", "nope"], 1, "there is no codebook 'nope' (known: wechat_policing)"),
    (["--seed", str(2**31)], 2, "Invalid value for '--seed'"),
    (["--document", "1"], 1, "by hand, name the coder(s) with --coder"),
    (["--document", "{first}", "--document", "9999", "--coder", "alice"], 1, "there is no document 9999"),
    (["--document", "{first}", "--coder", "pi"], 1, "'pi' is not a coder"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    ASSIGN_REFUSALS,
    ids=[" ".join(args) for args, _, _ in ASSIGN_REFUSALS],
)
def test_assign_refuses(
    runner: Any, study: list[int], args: list[str], exit_code: int, message: str
) -> None:
    result = runner.invoke(args=["assign", *(a.format(first=study[0]) for a in args)])

    assert result.exit_code == exit_code
    assert message in result.output
    # Nothing half-done: a refused command leaves no assignment and no batch.
    assert count(Assignment) == count(AssignmentBatch) == 0


@pytest.mark.parametrize(
    "args",
    [["--coder", "carol"], ["--document", "{first}", "--coder", "carol"]],
    ids=["rule", "by hand"],
)
def test_assign_refuses_a_deactivated_coder(runner: Any, study: list[int], args: list[str]) -> None:
    user_service.find_user(db.session, "carol").active = False
    db.session.commit()
    result = runner.invoke(args=["assign", *(a.format(first=study[0]) for a in args)])
    assert result.exit_code == 1
    assert "'carol' is deactivated" in result.output
    assert count(Assignment) == 0


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    app = make_app(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none", tmp_path)
    result = app.test_cli_runner().invoke(args=["users", "list"])
    assert result.exit_code == 1
    assert (
        f"Error: cannot reach the database postgresql+psycopg://nobody@127.0.0.1:{port}/none"
        in result.output
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no-coders", "Error: there are no coders to assign documents to"),
        ("no-codebook", "Error: no codebook is loaded yet: run `annotator codebook load FILE` first"),
        ("two-codebooks", "Error: several codebooks are loaded (climate_adaptation_news, wechat_policing): name one"),
    ],
    ids=["no-coders", "no-codebook", "two-codebooks"],
)  # fmt: skip
def test_assign_needs_coders_and_one_codebook(runner: Any, setup: str, message: str) -> None:
    if setup != "no-codebook":
        load_codebook_text(db.session, STUDY_CODEBOOK.read_text(encoding="utf-8"), "study.yaml")
    if setup == "two-codebooks":
        load_codebook_text(db.session, CLIMATE_CODEBOOK.read_text(encoding="utf-8"), "c.yaml")
    if setup != "no-coders":
        user_service.add_user(db.session, "alice", Role.CODER, "long enough")
    user_service.add_user(db.session, "pi", Role.PI, "long enough")
    _add_documents(3)

    result = runner.invoke(args=["assign"])

    assert result.exit_code == 1
    assert message in result.output
    assert count(Assignment) == 0


def _command_paths(command: Any, path: str = "annotator") -> Iterator[tuple[str, Any]]:
    path = f"{path} {command.name}"
    yield path, command
    for sub in getattr(command, "commands", {}).values():
        yield from _command_paths(sub, path)


def test_every_command_and_option_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `annotator")]
    undocumented = []
    for path, command in (p for c in commands() for p in _command_paths(c)):
        mine = [row for row in rows if row.startswith(f"| `{path}")]
        if getattr(command, "commands", None):
            continue  # a group is documented through its commands
        if not mine:
            undocumented.append(path)
            continue
        for parameter in command.params:
            names = [name for name in parameter.opts if name.startswith("--")]
            if names and not any(name in row for name in names for row in mine):
                undocumented.append(f"{path} {names[0]}")
    assert rows and undocumented == []
