"""`annotator reliability`: from a ratings file or the project's database, in three formats."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from annotator.cli import main
from annotator.codebook import load_codebook
from annotator.extensions import db
from annotator.models import Codebook, Document, LabelStatus, User
from annotator.reliability import variable_reliability
from annotator.services import labels as label_service

from .conftest import STUDY_CODEBOOK, Project
from .test_reliability import JSON_KEYS

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 coders,
# 12 units, values 1-5 with missing data; nominal alpha 0.743, ordinal 0.815, interval 0.849.
KRIPPENDORFF_2011_C = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def long_csv(rows: list[tuple[str, str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["unit", "coder", "variable", "value"])
    writer.writerows(rows)
    return out.getvalue()


def krippendorff_rows(variable: str = "v") -> list[tuple[str, str, str, str]]:
    return [
        (f"u{unit + 1}", coder, variable, "" if value is None else str(value))
        for coder, values in KRIPPENDORFF_2011_C.items()
        for unit, value in enumerate(values)
    ]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Runs `annotator` in-process, outside any project: --from-csv needs no database."""
    monkeypatch.chdir(tmp_path)
    for name in ("ANNOTATOR_DATABASE_URL", "ANNOTATOR_INSTANCE_PATH"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return run


def write(tmp_path: Path, text: str, name: str = "ratings.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("level", "alpha"),
    [
        # Krippendorff (2011), section C.
        ("nominal", "0.743"),
        ("ordinal", "0.815"),
        ("interval", "0.849"),
    ],
)
def test_table_from_csv_reproduces_a_published_alpha(
    cli: Any, tmp_path: Path, level: str, alpha: str
) -> None:
    path = write(tmp_path, long_csv(krippendorff_rows()))
    result = cli("reliability", "--from-csv", path, "--level", level, "--seed", "7")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()[:2]
    assert header.split()[:3] == ["variable", "level", "alpha"]
    assert row.split()[:3] == ["v", level, alpha]
    assert (
        "Inter-coder reliability was assessed on 11 documents coded independently by 4 coders"
        in result.stdout
    )
    assert "1,000 bootstrap samples" in result.stdout
    assert "random seed 7" in result.stdout
    assert "bootstrap seed" not in result.stderr  # a given seed is not announced


def test_json_has_exactly_the_documented_shape(cli: Any, tmp_path: Path) -> None:
    rows = [
        *krippendorff_rows(),
        ("u1", "A", "data", "name|phone"),
        ("u1", "B", "data", "name"),
        ("u2", "A", "data", "phone"),
        ("u2", "B", "data", "phone"),
    ]
    path = write(tmp_path, long_csv(rows))
    codebook = write(
        tmp_path,
        """id: tiny
title: Tiny
variables:
  - id: v
    label: V
    type: ordinal
    options: [{code: "1", label: one}, {code: "2", label: two}, {code: "3", label: three},
              {code: "4", label: four}, {code: "5", label: five}]
  - id: data
    label: Data
    type: multiple
    options: [{code: name, label: Name}, {code: phone, label: Phone}, {code: id, label: ID}]
""",
        "tiny.yaml",
    )
    result = cli(
        "reliability", "--from-csv", path, "--codebook", codebook, "--format", "json", "--seed", "1"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["variables"]
    v, sets = data["variables"]
    assert list(v) == JSON_KEYS and list(sets) == JSON_KEYS
    assert (v["variable"], v["level"], round(v["alpha"], 3)) == ("v", "ordinal", 0.815)
    assert len(v["ci95"]) == 2 and v["ci95"][0] <= v["alpha"] <= v["ci95"][1]
    assert set(v["q_below"]) == {"0.667", "0.8"}
    assert (v["n_units"], v["n_coders"], v["n_pairable"]) == (11, 4, 40)
    assert set(v["cohen_kappa"]) == {"A|B", "A|C", "A|D", "B|C", "B|D", "C|D"}
    assert v["options"] == []
    assert sets["level"] == "masi"
    assert [option["variable"] for option in sets["options"]] == [
        "data=name",
        "data=phone",
        "data=id",
    ]
    assert all(list(option) == JSON_KEYS for option in sets["options"])


def test_without_bootstrap_the_interval_is_null(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, long_csv(krippendorff_rows()))
    result = cli("reliability", "--from-csv", path, "--bootstrap", "0", "--format", "json")
    assert result.exit_code == 0, result.output
    (v,) = json.loads(result.stdout)["variables"]
    assert v["ci95"] is None and v["q_below"] is None
    assert "seed" not in result.stderr


def test_a_seed_reproduces_the_interval_and_a_missing_one_is_printed(
    cli: Any, tmp_path: Path
) -> None:
    path = write(tmp_path, long_csv(krippendorff_rows()))
    first = cli("reliability", "--from-csv", path, "--format", "json")
    announced = re.search(r"bootstrap seed: (\d+) \(pass --seed \1 to repeat\)", first.stderr)
    assert announced, first.stderr
    seed = announced.group(1)
    again = cli("reliability", "--from-csv", path, "--format", "json", "--seed", seed)
    assert json.loads(first.stdout) == json.loads(again.stdout)
    other = cli("reliability", "--from-csv", path, "--format", "json", "--seed", str(int(seed) + 1))
    assert json.loads(other.stdout) != json.loads(first.stdout)


def test_csv_output_matches_the_engine(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, long_csv(krippendorff_rows()))
    result = cli("reliability", "--from-csv", path, "--format", "csv", "--seed", "3")
    assert result.exit_code == 0, result.output
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    ratings = {
        f"u{unit + 1}": {
            coder: str(values[unit])
            for coder, values in KRIPPENDORFF_2011_C.items()
            if values[unit]
        }
        for unit in range(12)
    }
    expected = variable_reliability("v", ratings, "nominal", samples=1000, seed=3)
    assert float(row["alpha"]) == expected.alpha
    assert expected.ci95 is not None
    assert (float(row["ci95_low"]), float(row["ci95_high"])) == expected.ci95
    assert row["option"] == "" and row["undefined_reason"] == ""


def test_only_the_variables_asked_for(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, long_csv(krippendorff_rows("a") + krippendorff_rows("b")))
    result = cli("reliability", "--from-csv", path, "--variable", "b", "--format", "json")
    assert [v["variable"] for v in json.loads(result.stdout)["variables"]] == ["b"]
    result = cli("reliability", "--from-csv", path, "--variable", "c")
    assert result.exit_code == 2
    assert "no variable c (variables: a, b)" in result.stderr


def test_undefined_alpha_is_reported_with_its_reason(cli: Any, tmp_path: Path) -> None:
    rows = [("u1", "A", "same", "x"), ("u1", "B", "same", "x"), ("u1", "A", "alone", "x")]
    result = cli("reliability", "--from-csv", write(tmp_path, long_csv(rows)), "--format", "json")
    same, alone = json.loads(result.stdout)["variables"]
    assert (same["alpha"], same["undefined_reason"]) == (None, "no variation")
    assert (alone["alpha"], alone["undefined_reason"]) == (None, "a single coder")
    table = cli("reliability", "--from-csv", write(tmp_path, long_csv(rows)), "--bootstrap", "0")
    assert "no variation" in table.stdout
    assert "Alpha was undefined for same, alone (a single coder; no variation)." in table.stdout


@pytest.mark.parametrize(
    ("text", "args", "messages"),
    [
        (
            "unit,coder,variable,value\nu1,A,n,abc\nu1,B,n,\nu2,,n,3\n",
            ["--level", "interval"],
            ["ratings.csv: line 2: 'abc' is not a number (n is interval)", "line 4: empty coder"],
        ),
        ("unit,coder,value\n", [], ["ratings.csv: line 1: missing column variable"]),
        (
            "unit,coder,variable,value\nu1,A,n,x\nu1,B,n,y\n",
            ["--level", "ordinal"],
            ["Error: n: ordinal codes other than numbers need the codebook's order of options"],
        ),
    ],
)
def test_bad_files_are_refused_with_a_reason(
    cli: Any, tmp_path: Path, text: str, args: list[str], messages: list[str]
) -> None:
    result = cli("reliability", "--from-csv", write(tmp_path, text), *args)
    assert result.exit_code == 1
    for message in messages:
        assert message in result.stderr
    assert result.stdout == ""


def test_a_codebook_gives_levels_and_checks_codes(cli: Any, tmp_path: Path) -> None:
    codebook = load_codebook(STUDY_CODEBOOK)
    ordinal = next(v for v in codebook.variables if v.level == "ordinal")
    yesno = next(v for v in codebook.variables if v.type.value == "yesno")
    low, high = ordinal.codes[0], ordinal.codes[-1]
    rows = [
        ("d1", "A", ordinal.id, low),
        ("d1", "B", ordinal.id, low),
        ("d2", "A", ordinal.id, high),
        ("d2", "B", ordinal.id, high),
        ("d1", "A", yesno.id, "yes"),
        ("d1", "B", yesno.id, "no"),
        ("d2", "A", yesno.id, "no"),
        ("d2", "B", yesno.id, "no"),
    ]
    path = write(tmp_path, long_csv(rows))
    result = cli(
        "reliability", "--from-csv", path, "--codebook", str(STUDY_CODEBOOK), "--format", "json"
    )
    assert result.exit_code == 0, result.output
    found = {v["variable"]: v for v in json.loads(result.stdout)["variables"]}
    assert found[ordinal.id]["level"] == "ordinal" and found[ordinal.id]["alpha"] == 1.0
    assert found[yesno.id]["level"] == "nominal" and found[yesno.id]["alpha"] == 0.0
    assert not any(v.type.value == "text" and v.id in found for v in codebook.variables)

    unknown = write(tmp_path, long_csv([*rows, ("d1", "A", "colour", "red")]), "other.csv")
    result = cli("reliability", "--from-csv", unknown, "--codebook", str(STUDY_CODEBOOK))
    assert result.exit_code == 1
    assert "other.csv: variable colour not in the codebook wechat_policing" in result.stderr

    bad_code = write(tmp_path, long_csv([*rows, ("d3", "A", ordinal.id, "nope")]), "bad.csv")
    result = cli("reliability", "--from-csv", bad_code, "--codebook", str(STUDY_CODEBOOK))
    assert result.exit_code == 1
    assert (
        f"bad.csv: {ordinal.id}: unit d3, coder A: 'nope' is not a value of the variable "
        f"(options: {', '.join(ordinal.codes)})"
    ) in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--codebook", "x.yaml"], "--codebook goes with --from-csv"),
        (["--level", "ordinal"], "--level goes with --from-csv"),
        (["--from-csv", "ratings.csv", "--version", "2"], "--version is for the database"),
        (["--from-csv", "ratings.csv", "--codebook-id", "x"], "--codebook-id is for the database"),
        (["--format", "xml"], "'xml' is not one of 'table', 'json', 'csv'"),
        (["--bootstrap", "-1"], "-1 is not in the range x>=0"),
    ],
)
def test_misused_options_are_refused(
    cli: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    write(tmp_path, long_csv(krippendorff_rows()))
    (tmp_path / "x.yaml").write_text("id: x\n", encoding="utf-8")
    result = cli("reliability", *args)
    assert result.exit_code == 2
    assert message in result.stderr


# --- from the project's database ----------------------------------------------------------


def code(project: Project, coder: str, document: str, values: dict[str, Any]) -> None:
    user = db.session.get(User, project.users[coder])
    doc = db.session.get(Document, project.document_ids[document])
    version = db.session.get(Codebook, project.codebook_id).latest
    label_set = label_service.label_set_for(db.session, doc, user, version, create=True)
    assert label_set is not None and user is not None
    label_service.save_labels(db.session, label_set, user, values)
    label_set.status = LabelStatus.SUBMITTED
    db.session.commit()


def test_from_the_database(runner: Any, project: Project) -> None:
    code(project, "alice", "zh_cid_font.pdf", {"document_kind": "tender", "year": 2019})
    code(project, "bob", "zh_cid_font.pdf", {"document_kind": "tender", "year": 2019})
    code(project, "alice", "en_two_pages.pdf", {"document_kind": "award", "year": 2020})
    code(project, "bob", "en_two_pages.pdf", {"document_kind": "tender", "year": 2020})
    result = runner.invoke(args=["reliability", "--format", "json", "--seed", "5"])
    assert result.exit_code == 0, result.output
    found = {v["variable"]: v for v in json.loads(result.stdout)["variables"]}
    kind = found["document_kind"]
    assert (kind["n_units"], kind["n_coders"], kind["n_pairable"]) == (2, 2, 4)
    assert kind["percent_agreement"] == 0.5 and kind["cohen_kappa"] == {"alice|bob": 0.0}
    assert found["year"]["level"] == "interval" and found["year"]["alpha"] == 1.0
    assert found["province"]["undefined_reason"] == "no coder has coded this variable"

    table = runner.invoke(args=["reliability", "--variable", "document_kind", "--seed", "5"])
    assert table.exit_code == 0, table.output
    assert "assessed on 2 documents coded independently by 2 coders (alice, bob)" in table.stdout

    missing = runner.invoke(args=["reliability", "--version", "9"])
    assert missing.exit_code == 1
    assert "has no version 9 (versions: 1)" in missing.output
