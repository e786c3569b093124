"""The coder's pages: the coding form built from the codebook, saving, submitting, evidence."""

from __future__ import annotations

import re
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import text

from annotator.extensions import db
from annotator.models import CodebookVersion, LabelSet, LabelStatus, Page
from annotator.services import labels as label_service

from .conftest import AuthActions, Project, csrf_token

SHARED = "zh_cid_font.pdf"  # alice's first assignment (bob codes it too)
SECOND = "en_two_pages.pdf"  # alice's second
PAGE_1_LINE = "采购人：福建省公安厅"
PAGE_2_LINE = "采购需求：微信报警、实名认证、人脸识别、警务云对接。"
REQUIRED_FILLED = {
    "v_service_type": ["emergency_alarm", "identity_verification"],
    "v_integration_depth": "deep_data",
    "v_data_collected": ["real_name", "photo_face"],
    "v_document_kind": "tender",
    "v_province": "fujian",
    "v_admin_level": "provincial",
    "v_year": "2019",
}


@pytest.fixture
def alice(auth: AuthActions, project: Project) -> AuthActions:
    """Alice, logged in."""
    assert auth.login("alice").status_code == 302
    return auth


class LabelPage(HTMLParser):
    """What a browser sees of the coding page: the label form's values, errors and messages."""

    def __init__(self, html: str):
        super().__init__()
        self.fields: dict[str, list[str]] = {}  # what submitting the form would send
        self.errors: dict[str, list[str]] = {}  # variable id: messages shown at it
        self.flashes: list[str] = []
        self.disabled = False
        self._in_form = False
        self._textarea: str | None = None
        self._variable: str | None = None
        self._capture: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "form":
            self._in_form = a.get("id") == "label-form"
        elif tag == "div" and (a.get("id") or "").startswith("variable-"):
            self._variable = (a.get("id") or "").removeprefix("variable-")
        elif tag == "p" and "field-error" in classes and self._variable:
            self._capture = self.errors.setdefault(self._variable, [])
        elif tag == "li" and "flash" in classes:
            self._capture = self.flashes
        if not self._in_form:
            return
        name = a.get("name") or ""
        if tag == "fieldset" and "disabled" in a:
            self.disabled = True
        elif tag == "input" and a.get("type") in ("radio", "checkbox"):
            self.fields.setdefault(name, [])
            if "checked" in a:
                self.fields[name].append(a.get("value") or "")
        elif tag == "input" and a.get("type") != "submit":
            self.fields[name] = [a.get("value") or ""]
        elif tag == "textarea":
            self._textarea = name
            self.fields[name] = [""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "textarea" and self._textarea:
            # WTForms starts a textarea with a newline, which browsers drop.
            text = self.fields[self._textarea][0]
            self.fields[self._textarea] = [text.removeprefix("\r\n").removeprefix("\n")]
            self._textarea = None
        elif tag in ("p", "li"):
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea][0] += data
        elif self._capture is not None:
            self._capture.append(data)

    def value(self, name: str) -> list[str]:
        """The values a field would send (empty list when nothing is entered)."""
        return [v for v in self.fields.get(name, []) if v]


def open_page(client: FlaskClient, document_id: int) -> LabelPage:
    response = client.get(f"/code/{document_id}")
    assert response.status_code == 200
    return LabelPage(response.get_data(as_text=True))


def alices_label_set(project: Project, document: str = SHARED) -> LabelSet | None:
    db.session.expire_all()
    return db.session.scalar(
        db.select(LabelSet).where(
            LabelSet.coder_id == project.users["alice"],
            LabelSet.document_id == project.document_ids[document],
        )
    )


def codebook_of(project: Project) -> Any:
    version = db.session.scalar(
        db.select(CodebookVersion).where(CodebookVersion.codebook_id == project.codebook_id)
    )
    return version.parsed()


# --- the page -----------------------------------------------------------------------------


def test_page_shows_the_document_text(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    html = client.get(f"/code/{project.document_ids[SHARED]}").get_data(as_text=True)
    assert SHARED in html
    assert PAGE_1_LINE in html
    assert PAGE_2_LINE in html
    assert html.index('id="page-1"') < html.index(PAGE_1_LINE) < html.index('id="page-2"')
    assert f'href="/documents/{project.document_ids[SHARED]}/file"' in html
    assert f"<title>{SHARED} · annotator</title>" in html
    assert '<main class="workspace">' in html
    assert html.count('src="/static/coding.js"') == 1


def test_pdf_gets_the_viewer_and_keeps_the_extracted_text(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    # The browser side is tested in tests/browser/test_pdf_viewer.py.
    import annotator

    html = client.get(f"/code/{project.document_ids[SHARED]}").get_data(as_text=True)
    viewer = re.search(r'<section class="pdf-viewer"[^>]*>', html)
    assert viewer
    assert f'data-pdf-url="/documents/{project.document_ids[SHARED]}/file"' in viewer.group()
    base = re.search(r'data-pdfjs-base="/static/([^"]+)"', viewer.group())
    assert base
    assert '<script type="module" src="/static/pdf-viewer.js">' in html
    assert '<details class="extracted-text">' in html
    assert html.index('<details class="extracted-text">') < html.index(PAGE_1_LINE)
    # Every file the viewer loads is vendored, and served as JavaScript where it is a module.
    static = Path(annotator.__file__).parent / "static"
    for name in ("build/pdf.min.mjs", "build/pdf.worker.min.mjs", "cmaps/UniGB-UCS2-H.bcmap"):
        assert (static / base.group(1) / name).is_file(), name
    module = client.get(f"/static/{base.group(1)}build/pdf.min.mjs")
    assert module.mimetype == "text/javascript"
    module.close()


def document_pane(html: str) -> str:
    """The document side of the coding page (a document may hold an <article> of its own)."""
    return html[
        html.index('<article class="document-pane">') : html.index('<aside class="form-pane">')
    ]


def test_html_document_is_shown_sanitised_and_keeps_the_text_view(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    """report.html, with its script, handler, comment and remote links, shown as safe HTML."""
    assert auth.login("bob").status_code == 302
    html = client.get(f"/code/{project.document_ids['report.html']}").get_data(as_text=True)
    assert "pdf-viewer" not in html
    pane = document_pane(html)
    start = '<div class="document-html" data-role="document-html" lang="" data-page="1">'
    assert start in pane
    shown = pane[pane.index(start) : pane.index('<details class="extracted-text">')]
    folded = pane[pane.index('<details class="extracted-text">') :]
    assert "<h1>某市公安局“微信警务”平台正式上线</h1>" in shown
    assert "<b>“微信警务”</b>平台已开通" in shown
    assert "<ul><li>微信报警</li><li>实名认证</li></ul>" in shown
    for absent in ("SCRIPT-CONTENT", "ONERROR", "COMMENT-MUST", "NOSCRIPT", "font-family"):
        assert absent not in html
    assert "<script" not in pane
    assert not re.search(r"\son[a-z]+\s*=", pane)
    # (?<![\w-]): the page's own data-action attributes load nothing.
    assert not re.search(r"""(?<![\w-])(src|srcset|action|poster|background)\s*=""", pane)
    assert not re.search(r"""href="(?!/documents/)""", pane)  # only the link to the original
    # The extracted text, which evidence is checked against, is still on the page.
    assert 'class="document-text"' in folded
    assert "据介绍，平台上线三个月，共受理群众举报线索1200余条，&lt;不含重复&gt;。" in folded


def test_markdown_document_renders_its_headings(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    from annotator.models import Codebook, Document, User
    from annotator.services.assignments import assign_by_hand

    document = db.session.get(Document, project.document_ids["notes.md"])
    carol = db.session.get(User, project.users["carol"])
    assign_by_hand(db.session, document, carol, db.session.get(Codebook, project.codebook_id))
    db.session.commit()
    assert auth.login("carol").status_code == 302
    pane = document_pane(client.get(f"/code/{document.id}").get_data(as_text=True))
    shown = pane[pane.index('data-role="document-html"') : pane.index('class="extracted-text"')]
    assert "<h1>编码说明：微信警务研究</h1>" in shown
    assert "<h2>Second-level heading</h2>" in shown
    assert "<li>服务类型：可多选</li>" in shown
    assert "# 编码说明：微信警务研究" in pane[pane.index('class="extracted-text"') :]


def test_html_document_without_its_stored_file_still_shows_its_text(
    app: Any, client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    from annotator.models import Document

    document = db.session.get(Document, project.document_ids["report.html"])
    (Path(app.config["DATA_DIR"]) / document.storage_name).unlink()
    assert auth.login("bob").status_code == 302
    response = client.get(f"/code/{document.id}")
    assert response.status_code == 200
    pane = document_pane(response.get_data(as_text=True))
    assert 'data-role="document-html"' not in pane
    assert '<p class="flag">The original file cannot be shown' in pane
    assert 'class="document-text"' in pane
    assert "据介绍，平台上线三个月" in pane


def test_form_has_one_field_per_variable_with_its_definitions(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    html = client.get(f"/code/{project.document_ids[SHARED]}").get_data(as_text=True)
    page = LabelPage(html)
    codebook = codebook_of(project)
    names = {name for name in page.fields if name.startswith("v_")}
    assert names == {f"v_{variable.id}" for variable in codebook.variables}
    for variable in codebook.variables:
        assert html.count(f'id="variable-{variable.id}"') == 1
        assert str(escape(variable.label.en)) in html
        if variable.description:
            assert str(escape(variable.description.en)) in html, variable.id
        for option in variable.options:
            assert str(escape(option.label.en)) in html, option.code
            if option.definition:
                assert str(escape(option.definition.en)) in html, option.code
            for rule in (*option.include, *option.exclude):
                assert str(escape(rule)) in html, rule


def test_required_variables_are_marked(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    html = client.get(f"/code/{project.document_ids[SHARED]}").get_data(as_text=True)
    for variable in codebook_of(project).variables:
        label = re.search(
            rf'<label class="variable-label" for="v_{variable.id}">(.*?)</label>', html, re.S
        )
        assert label, variable.id
        assert ('class="required"' in label.group(1)) == variable.required, variable.id
    assert html.count('class="required"') == 7


# --- saving -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "posted", "stored", "shown"),
    [
        ("integration_depth", "operational", "operational", ["operational"]),  # ordinal: radio
        ("document_kind", "award", "award", ["award"]),  # single: radio
        (  # multiple: check boxes, stored in codebook order
            "service_type",
            ["tips_and_wanted", "public_relations"],
            ["public_relations", "tips_and_wanted"],
            ["public_relations", "tips_and_wanted"],
        ),
        ("service_count", "12", 12, ["12"]),
        ("year", "2019", 2019, ["2019"]),  # not "2019.00"
        ("procurement_value_cny", "1280000.125", 1280000.125, ["1280000.125"]),  # not rounded
        ("vendor_is_tencent", "yes", True, ["yes"]),
        ("vendor_is_tencent", "no", False, ["no"]),
        ("city", "  福州市 ", "福州市", ["福州市"]),
        ("note", "见第二页", "见第二页", ["见第二页"]),  # the codebook's own "note" variable
    ],
)
def test_save_stores_each_kind_of_value(
    client: FlaskClient,
    alice: AuthActions,
    project: Project,
    variable: str,
    posted: Any,
    stored: Any,
    shown: list[str],
) -> None:
    document_id = project.document_ids[SHARED]
    response = alice.post(
        f"/code/{document_id}", {f"v_{variable}": posted, "revision": "0", "action": "save"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/code/{document_id}"
    label_set = alices_label_set(project)
    assert label_set is not None
    assert label_set.values() == {variable: stored}
    assert label_set.status is LabelStatus.IN_PROGRESS
    page = open_page(client, document_id)
    assert page.value(f"v_{variable}") == shown
    assert page.flashes == ["Saved."]
    # Saving the page again as shown changes nothing: what is displayed is what is stored.
    alice.post(f"/code/{document_id}", {**page.fields, "action": "save"})
    assert alices_label_set(project).values() == {variable: stored}  # type: ignore[union-attr]


def test_save_keeps_the_note_and_counts_revisions(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    document_id = project.document_ids[SHARED]
    page = open_page(client, document_id)
    assert page.value("revision") == ["0"]
    alice.post(
        f"/code/{document_id}",
        {**page.fields, "v_city": "福州", "note": "check page 2", "action": "save"},
    )
    page = open_page(client, document_id)
    assert page.value("note") == ["check page 2"]
    assert page.value("v_city") == ["福州"]
    assert page.value("revision") == ["1"]
    alice.post(f"/code/{document_id}", {**page.fields, "v_city": "", "action": "save"})
    label_set = alices_label_set(project)
    assert label_set is not None
    assert (label_set.revision, label_set.values()["city"], label_set.note) == (
        2,
        None,
        "check page 2",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("v_service_count", "-3", "-3 is below the minimum of 0"),
        ("v_year", "1990", "1990 is below the minimum of 2011"),
        ("v_service_count", "a dozen", "Not a valid decimal value"),
        ("v_integration_depth", "very deep", "Not a valid choice"),
        ("v_service_type", ["public_relations", "spying"], "not a valid choice"),
    ],
)
def test_invalid_value_saves_nothing_and_keeps_the_entries(
    client: FlaskClient,
    alice: AuthActions,
    project: Project,
    field: str,
    value: Any,
    message: str,
) -> None:
    document_id = project.document_ids[SHARED]
    response = alice.post(
        f"/code/{document_id}",
        {"v_city": "福州", "note": "keep me", field: value, "revision": "0", "action": "save"},
    )
    assert response.status_code == 422
    page = LabelPage(response.get_data(as_text=True))
    variable = field.removeprefix("v_")
    assert any(message.lower() in error.lower() for error in page.errors[variable])
    assert set(page.errors) == {variable}
    assert "Nothing was saved: correct the marked fields." in page.flashes
    assert page.value("v_city") == ["福州"]
    assert page.value("note") == ["keep me"]
    label_set = alices_label_set(project)
    assert label_set is None or label_set.values() == {}


# --- submitting ---------------------------------------------------------------------------


def test_submit_with_a_required_value_missing_is_422_and_loses_nothing(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    document_id = project.document_ids[SHARED]
    entered = {k: v for k, v in REQUIRED_FILLED.items() if k != "v_year"}
    response = alice.post(
        f"/code/{document_id}",
        {
            **entered,
            "v_city": "福州",
            "v_service_count": "7",
            "v_vendor_is_tencent": "no",
            "note": "almost done",
            "revision": "0",
            "action": "submit",
        },
    )
    assert response.status_code == 422
    page = LabelPage(response.get_data(as_text=True))
    assert page.errors == {"year": ["required: give a value before submitting"]}
    assert "Not submitted: correct the marked fields." in page.flashes
    for name, value in entered.items():
        assert page.value(name) == (value if isinstance(value, list) else [value]), name
    assert page.value("v_city") == ["福州"]
    assert page.value("v_service_count") == ["7"]
    assert page.value("v_vendor_is_tencent") == ["no"]
    assert page.value("note") == ["almost done"]
    assert not page.disabled
    label_set = alices_label_set(project)
    assert label_set is None or label_set.status is LabelStatus.IN_PROGRESS


def test_submit_complete_goes_to_the_next_uncoded_document(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    document_id = project.document_ids[SHARED]
    response = alice.post(
        f"/code/{document_id}", {**REQUIRED_FILLED, "revision": "0", "action": "submit"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/code/next"
    assert client.get("/code/next").headers["Location"] == f"/code/{project.document_ids[SECOND]}"
    label_set = alices_label_set(project)
    assert label_set is not None
    assert label_set.status is LabelStatus.SUBMITTED
    assert label_set.submitted_at is not None
    assert label_set.values()["year"] == 2019
    html = client.get(f"/code/{document_id}").get_data(as_text=True)
    assert 'Status: <strong data-role="status">submitted</strong>' in html
    assert LabelPage(html).disabled
    assert f'action="/code/{document_id}/reopen"' in html


def test_submitted_labels_change_only_after_reopening(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    document_id = project.document_ids[SHARED]
    alice.post(f"/code/{document_id}", {**REQUIRED_FILLED, "revision": "0", "action": "submit"})
    page = open_page(client, document_id)
    changed = {**page.fields, "v_city": "厦门", "action": "save"}
    response = alice.post(f"/code/{document_id}", changed)
    assert response.status_code == 422
    assert (
        "this label set is submitted: reopen it to change it"
        in LabelPage(response.get_data(as_text=True)).flashes
    )
    assert alices_label_set(project).values().get("city") is None  # type: ignore[union-attr]

    response = alice.post(f"/code/{document_id}/reopen")
    assert response.status_code == 302
    label_set = alices_label_set(project)
    assert label_set is not None
    assert (label_set.status, label_set.submitted_at) == (LabelStatus.IN_PROGRESS, None)
    page = open_page(client, document_id)
    assert not page.disabled
    assert page.value("v_year") == ["2019"]  # reopening keeps the values
    alice.post(f"/code/{document_id}", {**page.fields, "v_city": "厦门", "action": "save"})
    assert alices_label_set(project).values()["city"] == "厦门"  # type: ignore[union-attr]


def test_stale_revision_from_a_second_tab_is_409_and_keeps_its_entries(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    document_id = project.document_ids[SHARED]
    first_tab = open_page(client, document_id)
    second_tab = open_page(client, document_id)
    saved = alice.post(
        f"/code/{document_id}", {**first_tab.fields, "v_city": "first tab", "action": "save"}
    )
    assert saved.status_code == 302
    response = alice.post(
        f"/code/{document_id}",
        {
            **second_tab.fields,
            "v_city": "second tab",
            "v_integration_depth": "symbolic",
            "note": "typed in the second tab",
            "action": "save",
        },
    )
    assert response.status_code == 409
    page = LabelPage(response.get_data(as_text=True))
    assert page.value("v_city") == ["second tab"]
    assert page.value("v_integration_depth") == ["symbolic"]
    assert page.value("note") == ["typed in the second tab"]
    assert any("saved in another window" in message for message in page.flashes)
    label_set = alices_label_set(project)
    assert label_set is not None
    assert label_set.values()["city"] == "first tab"
    assert label_set.values().get("integration_depth") is None
    assert label_set.revision == 1
    # What differs is listed, variable by variable, in the codebook's words.
    assert conflict_rows(response.get_data(as_text=True)) == [
        ["Integration depth", "Symbolic or public-relations use", ""],
        ["City", "second tab", "first tab"],
        ["Note", "typed in the second tab", ""],
    ]
    # Saving again is now a choice made with the differences in view, and it goes through.
    assert page.value("revision") == ["1"]
    again = alice.post(f"/code/{document_id}", {**page.fields, "action": "save"})
    assert again.status_code == 302
    label_set = alices_label_set(project)
    assert label_set is not None
    assert label_set.values()["city"] == "second tab"
    assert label_set.revision == 2


def test_page_without_a_conflict_hides_the_conflict_panel(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    html = client.get(f"/code/{project.document_ids[SHARED]}").get_data(as_text=True)
    assert re.search(r'<section class="conflict" data-role="conflict" role="alert" hidden>', html)
    assert conflict_rows(html) == []


def conflict_rows(html: str) -> list[list[str]]:
    """The rows of the conflict panel: variable, yours, saved."""
    body = re.search(r'<tbody data-role="conflict-rows">(.*?)</tbody>', html, re.S)
    assert body
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


# --- evidence -----------------------------------------------------------------------------


def add_evidence(alice: AuthActions, document_id: int, variable: str, page: Any, quote: str) -> Any:
    return alice.post(
        f"/code/{document_id}/evidence",
        {"evidence-variable": variable, "evidence-page": page, "evidence-quote": quote},
    )


def test_evidence_is_added_from_the_page_text_and_removed(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    document_id = project.document_ids[SHARED]
    response = add_evidence(alice, document_id, "province", "1", f"  {PAGE_1_LINE}\n")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/code/{document_id}"
    html = client.get(f"/code/{document_id}").get_data(as_text=True)
    assert "Evidence added." in LabelPage(html).flashes
    evidence_list = re.search(
        r'id="variable-province".*?<ul class="evidence">(.*?)</ul>', html, re.S
    )
    assert evidence_list and f"p. 1: “{PAGE_1_LINE}”" in evidence_list.group(1)
    label_set = alices_label_set(project)
    assert label_set is not None
    [evidence] = label_set.evidence
    assert (evidence.variable, evidence.page, evidence.quote) == ("province", 1, PAGE_1_LINE)
    # Located in the page text, so that anyone can check it against the document.
    text = db.session.scalar(
        db.select(Page.text).where(Page.document_id == document_id, Page.number == 1)
    )
    assert text[evidence.start : evidence.end] == PAGE_1_LINE

    response = alice.post(f"/code/{document_id}/evidence/{evidence.id}/delete")
    assert response.status_code == 302
    assert 'class="evidence"' not in client.get(f"/code/{document_id}").get_data(as_text=True)
    assert alices_label_set(project).evidence == []  # type: ignore[union-attr]


@pytest.mark.parametrize("change", ["remove evidence", "reopen"])
def test_a_change_that_raises_the_revision_makes_a_request_landing_meanwhile_wait(
    app: Flask,
    client: FlaskClient,
    alice: AuthActions,
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """Removing a quote or reopening reads the revision it raises: nothing may come between.

    The request locks its label set first (PostgreSQL's row lock, SQLite's write lock), so
    what alice's other tab sends meanwhile waits for it: an autosave is then made on the
    new revision, a second reopen finds the label set open. Without the lock, on
    PostgreSQL, the autosave would land in between and share its revision number with
    the removal, and both reopens would be recorded.
    """
    document_id = project.document_ids[SHARED]
    if change == "remove evidence":
        assert add_evidence(alice, document_id, "province", "1", PAGE_1_LINE).status_code == 302
        label_set = alices_label_set(project)
        assert label_set is not None
        [evidence] = label_set.evidence
        url, service = f"/code/{document_id}/evidence/{evidence.id}/delete", "remove_evidence"
    else:
        submitted = {**REQUIRED_FILLED, "revision": "0", "action": "submit"}
        assert alice.post(f"/code/{document_id}", submitted).status_code == 302
        url, service = f"/code/{document_id}/reopen", "reopen"
    label_set = alices_label_set(project)
    assert label_set is not None
    before = label_set.revision
    db.session.rollback()
    other_tab = AuthActions(app.test_client())
    assert other_tab.login("alice").status_code == 302
    answers: list[Any] = []

    def meanwhile() -> None:
        if change == "remove evidence":
            answers.append(
                other_tab.post_json(
                    f"/code/{document_id}/labels.json", {"values": {"city": "福州"}}
                )
            )
        else:
            answers.append(other_tab.post(url))

    other = threading.Thread(target=meanwhile)
    original = getattr(label_service, service)
    waited: list[bool] = []

    def waits_for_this_request(session: Any) -> bool:
        """Whether the other tab's request waits: for the row lock, on PostgreSQL."""
        if session.get_bind().dialect.name != "postgresql":
            other.join(0.5)  # SQLite's writers wait on a lock of the process, not seen here
            return other.is_alive()
        waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        while other.is_alive():
            if session.scalar(waiting):
                return True
            time.sleep(0.02)
        return False

    def with_a_request_meanwhile(session: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is other:  # the other tab's own reopen
            return original(session, *args, **kwargs)
        other.start()  # it lands now, unless the label set is locked
        waited.append(waits_for_this_request(session))
        return original(session, *args, **kwargs)

    monkeypatch.setattr(label_service, service, with_a_request_meanwhile)
    assert alice.post(url).status_code == 302
    other.join(10)
    assert waited == [True]
    [answer] = answers
    label_set = alices_label_set(project)
    assert label_set is not None
    events = [e.action for e in label_service.history(db.session, label_set)]
    if change == "remove evidence":
        assert (answer.status_code, answer.get_json()["revision"]) == (200, before + 2)
        assert (label_set.revision, label_set.evidence) == (before + 2, [])
        assert label_set.values()["city"] == "福州"
        assert events[-2:] == ["remove_evidence", "set_value"]
    else:
        assert answer.status_code == 302
        assert (label_set.revision, label_set.status) == (before + 1, LabelStatus.IN_PROGRESS)
        assert events.count("reopen") == 1


@pytest.mark.parametrize(
    ("variable", "page", "quote", "message"),
    [
        ("province", "1", "福建省公安局", "the quote is not on page 1"),
        ("province", "2", PAGE_1_LINE, "the quote is not on page 2"),  # right text, wrong page
        ("province", "3", PAGE_1_LINE, "the document has no page 3"),
        ("province", "1", "   ", "quote: This field is required."),
        ("province", "0", PAGE_1_LINE, "page: Number must be at least 1."),
        ("no_such_variable", "1", PAGE_1_LINE, "variable: Not a valid choice."),
    ],
)
def test_bad_evidence_is_refused_with_a_message(
    client: FlaskClient,
    alice: AuthActions,
    project: Project,
    variable: str,
    page: str,
    quote: str,
    message: str,
) -> None:
    document_id = project.document_ids[SHARED]
    response = add_evidence(alice, document_id, variable, page, quote)
    assert response.status_code == 302
    flashes = open_page(client, document_id).flashes
    assert len(flashes) == 1
    assert flashes[0].startswith("Evidence not added: ")
    assert message in flashes[0]
    label_set = alices_label_set(project)
    assert label_set is None or label_set.evidence == []


# --- evidence as JSON (the "Attach to…" control) --------------------------------------------


def page_text(document_id: int, number: int) -> str:
    return db.session.scalar(
        db.select(Page.text).where(Page.document_id == document_id, Page.number == number)
    )


def test_json_evidence_with_start_is_checked_at_that_offset(
    alice: AuthActions, project: Project
) -> None:
    document_id = project.document_ids[SHARED]
    url = f"/code/{document_id}/evidence.json"
    start = page_text(document_id, 1).index(PAGE_1_LINE)
    response = alice.post_json(
        url, {"variable": "province", "page": 1, "quote": PAGE_1_LINE, "start": start}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["evidence"]["quote"] == PAGE_1_LINE
    assert (body["evidence"]["start"], body["evidence"]["end"]) == (
        start,
        start + len(PAGE_1_LINE),
    )
    assert body["revision"] == alices_label_set(project).revision  # type: ignore[union-attr]

    wrong = alice.post_json(
        url, {"variable": "province", "page": 1, "quote": PAGE_1_LINE, "start": start + 1}
    )
    assert wrong.status_code == 422
    assert f"not at offset {start + 1}" in wrong.get_json()["error"]
    assert len(alices_label_set(project).evidence) == 1  # type: ignore[union-attr]


def test_json_evidence_from_the_text_layer_is_located_ignoring_whitespace(
    alice: AuthActions, project: Project
) -> None:
    document_id = project.document_ids[SHARED]
    text = page_text(document_id, 1)
    # As copied from the pdf.js text layer: spaces inside, the line break elsewhere.
    copied = " 采购人： 福建省 公安厅 "
    response = alice.post_json(
        f"/code/{document_id}/evidence.json",
        {"variable": "province", "page": 1, "quote": copied},
    )
    assert response.status_code == 200, response.get_json()
    item = response.get_json()["evidence"]
    assert text[item["start"] : item["end"]] == item["quote"]
    assert "".join(item["quote"].split()) == PAGE_1_LINE


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"variable": "province", "page": 1, "quote": "福建省公安局"}, 422, "not on page 1"),
        ({"variable": "province", "page": 3, "quote": PAGE_1_LINE}, 422, "no page 3"),
        ({"variable": "nope", "page": 1, "quote": PAGE_1_LINE}, 422, "not a variable"),
        ({"variable": "province", "page": 1, "quote": "  "}, 422, "empty"),
        ({"variable": "province", "page": "1", "quote": PAGE_1_LINE}, 400, "'page'"),
        ({"variable": "province", "page": 1, "quote": PAGE_1_LINE, "start": True}, 400, "'start'"),
        ({"variable": "province", "page": 1}, 400, "'quote'"),
        (["not", "an", "object"], 400, "JSON object"),
    ],
)
def test_bad_json_evidence_is_refused(
    alice: AuthActions, project: Project, payload: Any, status: int, message: str
) -> None:
    document_id = project.document_ids[SHARED]
    response = alice.post_json(f"/code/{document_id}/evidence.json", payload)
    assert response.status_code == status
    assert message in response.get_json()["error"]
    label_set = alices_label_set(project)
    assert label_set is None or label_set.evidence == []


def test_json_routes_answer_401_json_to_anonymous_requests(
    client: FlaskClient, project: Project
) -> None:
    document_id = project.document_ids[SHARED]
    for url in (f"/code/{document_id}/labels.json", f"/code/{document_id}/evidence.json"):
        response = client.post(url, json={}, headers={"X-CSRFToken": csrf_token(client)})
        assert response.status_code == 401
        assert response.get_json() == {"error": "login required"}
    # A person opening a page still gets the login page.
    page = client.get(f"/code/{document_id}")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login")


def test_json_write_with_a_stale_csrf_token_gets_json_and_a_fresh_token_works(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    """A page kept open across a new login holds the old session's token: it asks for one."""
    document_id = project.document_ids[SHARED]
    url = f"/code/{document_id}/labels.json"
    assert client.get("/code/csrf-token.json").status_code == 401
    assert auth.login("alice").status_code == 302
    old_token = csrf_token(client)
    auth.logout()
    assert auth.login("alice").status_code == 302  # a new session: the old token is void
    refused = client.post(
        url, json={"values": {"city": "福州"}}, headers={"X-CSRFToken": old_token}
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "csrf"
    missing = client.post(url, json={"values": {"city": "福州"}})
    assert missing.status_code == 400
    assert missing.get_json()["error"] == "csrf"
    fresh = client.get("/code/csrf-token.json")
    assert fresh.headers["Cache-Control"] == "no-store"
    token = fresh.get_json()["csrf_token"]
    saved = client.post(url, json={"values": {"city": "福州"}}, headers={"X-CSRFToken": token})
    assert saved.status_code == 200
    assert alices_label_set(project).values() == {"city": "福州"}  # type: ignore[union-attr]
    # A form post without a token still gets the HTML error page.
    form = client.post(f"/code/{document_id}", data={"v_city": "x"})
    assert form.status_code == 400
    assert form.mimetype == "text/html"


def test_highlight_data_is_on_the_coding_page(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    document_id = project.document_ids[SHARED]
    item = alice.post_json(
        f"/code/{document_id}/evidence.json",
        {"variable": "province", "page": 1, "quote": PAGE_1_LINE},
    ).get_json()["evidence"]
    html = client.get(f"/code/{document_id}").get_data(as_text=True)
    assert (
        f'data-evidence-id="{item["id"]}" data-page="1" '
        f'data-start="{item["start"]}" data-end="{item["end"]}"'
    ) in html
    assert "/static/coding.js" in html


# --- the JSON endpoint --------------------------------------------------------------------


def test_json_save_stale_and_invalid(alice: AuthActions, project: Project) -> None:
    url = f"/code/{project.document_ids[SHARED]}/labels.json"
    saved = alice.post_json(
        url, {"values": {"city": " 福州 ", "service_type": ["emergency_alarm"]}, "revision": 0}
    )
    assert saved.status_code == 200
    assert saved.get_json() == {
        "revision": 1,
        "status": "in_progress",
        "values": {"city": "福州", "service_type": ["emergency_alarm"]},
    }

    stale = alice.post_json(
        url,
        {
            "values": {"city": "厦门", "service_type": ["emergency_alarm"], "year": "2019"},
            "note": "mine",
            "revision": 0,
        },
    )
    assert stale.status_code == 409
    assert stale.get_json() == {
        "error": "stale",
        "revision": 1,
        "values": {"city": "福州", "service_type": ["emergency_alarm"]},
        "differences": [
            {"variable": "city", "label": "City", "mine": "厦门", "theirs": "福州"},
            {"variable": "year", "label": "Year", "mine": "2019", "theirs": ""},
            {"variable": "note", "label": "Note", "mine": "mine", "theirs": ""},
        ],
    }

    invalid = alice.post_json(
        url, {"values": {"year": 1990, "province": "atlantis", "city": "x"}, "revision": 1}
    )
    assert invalid.status_code == 422
    body = invalid.get_json()
    assert body["error"] == "invalid"
    assert set(body["errors"]) == {"year", "province"}
    assert alices_label_set(project).values()["city"] == "福州"  # type: ignore[union-attr]

    incomplete = alice.post_json(url, {"submit": True, "revision": 1})
    assert incomplete.status_code == 422
    assert "year" in incomplete.get_json()["errors"]

    values = {k.removeprefix("v_"): v for k, v in REQUIRED_FILLED.items()}
    submitted = alice.post_json(url, {"values": {**values, "year": 2019}, "submit": True})
    assert submitted.status_code == 200
    assert submitted.get_json()["status"] == "submitted"


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "values",
        {"values": ["city", "福州"]},
        {"values": {}, "revision": "latest"},
        {"values": {}, "revision": [1]},
        {"values": {}, "revision": True},
        {"values": {}, "note": 5},
        {"values": {}, "note": ["a"]},
    ],
)
def test_json_malformed_payload_is_400(alice: AuthActions, project: Project, payload: Any) -> None:
    url = f"/code/{project.document_ids[SHARED]}/labels.json"
    response = alice.post_json(url, payload)
    assert response.status_code == 400
    assert "error" in response.get_json()
    label_set = alices_label_set(project)
    assert label_set is None or label_set.revision == 0


# --- the queue ----------------------------------------------------------------------------


def test_queue_shows_status_and_progress(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    html = client.get("/code/").get_data(as_text=True)
    assert "0 of 2 submitted." in html
    assert html.count('class="status-new">not started') == 2
    assert '<progress max="2" value="0">' in html

    shared = project.document_ids[SHARED]
    alice.post(f"/code/{shared}", {**REQUIRED_FILLED, "revision": "0", "action": "submit"})
    alice.post(
        f"/code/{project.document_ids[SECOND]}",
        {"v_city": "上海", "revision": "0", "action": "save"},
    )
    html = client.get("/code/").get_data(as_text=True)
    assert "1 of 2 submitted." in html
    assert '<progress max="2" value="1">' in html
    rows = re.findall(r"<tr>\s*<td><a href=\"/code/(\d+)\">.*?class=\"status-(\w+)\"", html, re.S)
    assert rows == [(str(shared), "submitted"), (str(project.document_ids[SECOND]), "in_progress")]


def test_next_goes_to_the_first_unsubmitted(
    client: FlaskClient, alice: AuthActions, project: Project
) -> None:
    shared, second = project.document_ids[SHARED], project.document_ids[SECOND]
    # Started but not submitted still counts as uncoded.
    alice.post(f"/code/{shared}", {"v_city": "福州", "revision": "0", "action": "save"})
    assert client.get("/code/next").headers["Location"] == f"/code/{shared}"
    alice.post(f"/code/{shared}", {**REQUIRED_FILLED, "revision": "1", "action": "submit"})
    assert client.get("/code/next").headers["Location"] == f"/code/{second}"
    alice.post(f"/code/{second}", {**REQUIRED_FILLED, "revision": "0", "action": "submit"})
    response = client.get("/code/next")
    assert response.headers["Location"] == "/code/"
    assert "Every assigned document is submitted." in client.get("/code/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("locale", "primary", "secondary", "option"),
    [
        (None, "Service type", "服务类型", "Tender notice"),
        ("zh_Hans", "服务类型", "Service type", "招标（采购）公告"),
    ],
)
def test_codebook_texts_follow_the_interface_language(
    client: FlaskClient,
    alice: AuthActions,
    project: Project,
    locale: str | None,
    primary: str,
    secondary: str,
    option: str,
) -> None:
    from annotator.models import User

    user = db.session.get(User, project.users["alice"])
    assert user is not None
    user.locale = locale
    db.session.commit()
    html = client.get(f"/code/{project.document_ids[SHARED]}").get_data(as_text=True)
    head = re.search(
        r'<div class="variable-head">\s*<label[^>]*for="v_service_type"[^>]*>(.*?)</label>'
        r'\s*<span class="other-language"[^>]*>(.*?)</span>',
        html,
        re.S,
    )
    assert head, "no label for service_type"
    assert head.group(1).startswith(primary)
    assert head.group(2) == secondary
    assert f"> {option}</label>" in html or f">{option}</label>" in html
