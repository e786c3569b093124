"""No lost work, in a real browser: autosave, drafts that survive a reload, a dropped
connection and an ended session, two tabs that never overwrite each other silently, and the
split between the document and the form."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from annotator.extensions import db
from annotator.models import LabelSet, User

from ..conftest import PASSWORD, Project
from .conftest import PageProblems, log_in

pytestmark = pytest.mark.browser

DOCUMENT = "en_two_pages.pdf"  # alice's alone
DRAFT_KEYS = "() => Object.keys(localStorage).filter((key) => key.startsWith('annotator:draft:'))"


def saved_values(
    project: Project, coder: str = "alice", document: str = DOCUMENT
) -> dict[str, Any]:
    """What the database holds for the coder's label set (read afresh)."""
    db.session.rollback()
    label_set = db.session.scalar(
        db.select(LabelSet).where(
            LabelSet.coder_id == project.users[coder],
            LabelSet.document_id == project.document_ids[document],
        )
    )
    return {} if label_set is None else {**label_set.values(), "note": label_set.note}


def open_document(page: Any, live_server: str, project: Project, document: str = DOCUMENT) -> str:
    url = f"{live_server}/code/{project.document_ids[document]}"
    page.goto(url)
    page.wait_for_selector("#label-form")
    # The PDF has loaded: a test that cuts the connection cuts only the saves.
    page.wait_for_selector("[data-pdf-viewer][data-rendered-pages~='1']", state="attached")
    return url


def wait_saved(page: Any) -> None:
    # A save waits for the 0.8 s debounce and the server: on a loaded CI machine that has
    # taken more than Playwright's default 5 s.
    expect(page.locator("[data-role=save-state]")).to_have_attribute(
        "data-kind", "ok", timeout=15_000
    )


def test_changes_save_themselves_and_a_reload_keeps_what_was_not_saved_yet(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_document(page, live_server, project)
    page.fill("#v_city", "杭州市")
    page.check("#label-form [name=v_service_type][value=emergency_alarm]")
    wait_saved(page)
    assert saved_values(project)["city"] == "杭州市"
    assert saved_values(project)["service_type"] == ["emergency_alarm"]
    assert page.evaluate(DRAFT_KEYS) == []  # saved: no draft left behind

    # Typed, and the page reloaded before the pause that triggers a save.
    page.fill("#v_vendor", "某某科技有限公司")
    page.fill("#note", "见第二页")
    assert len(page.evaluate(DRAFT_KEYS)) == 1
    page.reload()
    expect(page.locator("#v_vendor")).to_have_value("某某科技有限公司")
    expect(page.locator("#note")).to_have_value("见第二页")
    wait_saved(page)
    assert saved_values(project)["vendor"] == "某某科技有限公司"
    assert saved_values(project)["note"] == "见第二页"
    assert page.evaluate(DRAFT_KEYS) == []
    assert problems.errors == []


def test_entries_made_offline_are_kept_and_saved_when_the_connection_returns(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_document(page, live_server, project)
    page.context.set_offline(True)
    page.fill("#v_city", "福州市")
    state = page.locator("[data-role=save-state]")
    expect(state).to_have_attribute("data-kind", "error")
    expect(state).to_contain_text("No connection")
    assert saved_values(project).get("city") is None
    assert len(page.evaluate(DRAFT_KEYS)) == 1
    page.context.set_offline(False)
    wait_saved(page)
    assert saved_values(project)["city"] == "福州市"
    # The failed fetches are the only console errors.
    assert all("ERR_INTERNET_DISCONNECTED" in e for e in problems.errors), problems.errors


def test_entries_made_after_the_session_ended_are_saved_after_logging_in_again(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    url = open_document(page, live_server, project)
    page.context.clear_cookies()  # the session ends (expired, or the server's key changed)
    page.fill("#v_city", "厦门市")
    state = page.locator("[data-role=save-state]")
    expect(state).to_contain_text("Your session has ended")
    assert saved_values(project).get("city") is None

    page.click("[data-role=save-state] a")  # "Log in again", and back to the document
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(url)
    expect(page.locator("#v_city")).to_have_value("厦门市")
    wait_saved(page)
    assert saved_values(project)["city"] == "厦门市"
    assert page.evaluate(DRAFT_KEYS) == []


def test_a_page_kept_open_across_a_new_login_fetches_a_fresh_token(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_document(page, live_server, project)
    other = page.context.new_page()  # logs out and in again in another tab: a new session
    other.goto(live_server + "/code/")
    other.click("form.logout button[type=submit]")
    log_in(other, live_server, "alice", PASSWORD)
    other.close()
    page.fill("#v_city", "泉州市")
    wait_saved(page)
    assert saved_values(project)["city"] == "泉州市"
    # Chromium logs the refused first try (400); nothing else went wrong.
    assert all("status of 400" in error for error in problems.errors), problems.errors


def test_two_tabs_never_overwrite_each_other_silently(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    url = open_document(page, live_server, project)
    second = page.context.new_page()
    second.goto(url)
    second.wait_for_selector("#label-form")

    page.fill("#v_city", "first tab")
    wait_saved(page)
    second.fill("#v_city", "second tab")
    panel = second.locator("[data-role=conflict]")
    expect(panel).to_be_visible()
    expect(panel.locator("tr[data-variable=city] td")).to_have_text(
        ["City", "second tab", "first tab"]
    )
    assert saved_values(project)["city"] == "first tab"  # refused, not overwritten

    second.click("[data-role=conflict] [data-action=keep-mine]")  # a deliberate choice
    expect(panel).to_be_hidden()
    wait_saved(second)
    assert saved_values(project)["city"] == "second tab"

    # The first tab is now the stale one; it takes the saved version.
    page.fill("#v_vendor", "腾讯")
    expect(page.locator("[data-role=conflict]")).to_be_visible()
    expect(page.locator("[data-role=conflict] tr[data-variable=city] td")).to_have_text(
        ["City", "first tab", "second tab"]
    )
    page.click("[data-role=conflict] [data-action=take-saved]")
    page.wait_for_selector("#label-form")
    expect(page.locator("#v_city")).to_have_value("second tab")
    expect(page.locator("#v_vendor")).to_have_value("")
    expect(page.locator("[data-role=conflict]")).to_be_hidden()
    assert page.evaluate(DRAFT_KEYS) == []
    assert saved_values(project).get("vendor") is None
    # Chromium logs each refused save (409); nothing else went wrong.
    assert all("status of 409" in error for error in problems.errors), problems.errors


@pytest.mark.parametrize(
    ("locale", "refusal"),
    [(None, "1890 is below the minimum of 2011"), ("zh_Hans", "1890 低于最小值 2011")],
)
def test_a_refused_value_is_kept_and_the_rest_is_saved(
    page: Any,
    problems: PageProblems,
    live_server: str,
    project: Project,
    locale: str | None,
    refusal: str,
) -> None:
    alice = db.session.get(User, project.users["alice"])
    assert alice is not None
    alice.locale = locale  # the refusal comes in the coder's language
    db.session.commit()
    log_in(page, live_server, "alice", PASSWORD)
    open_document(page, live_server, project)
    page.fill("#v_year", "1890")  # below the codebook's minimum
    page.fill("#v_city", "漳州市")
    state = page.locator("[data-role=save-state]")
    expect(state).to_have_attribute("data-kind", "warning")
    expect(page.locator("#variable-year .autosave-error")).to_contain_text(refusal)
    assert saved_values(project)["city"] == "漳州市"
    assert saved_values(project).get("year") is None
    page.reload()  # the refused entry is still there, from the draft
    expect(page.locator("#v_year")).to_have_value("1890")
    page.fill("#v_year", "2019")
    wait_saved(page)
    expect(page.locator("#variable-year .autosave-error")).to_have_count(0)
    assert saved_values(project)["year"] == 2019
    assert page.evaluate(DRAFT_KEYS) == []


def test_the_page_says_saved_only_once_what_was_typed_meanwhile_is_saved(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_document(page, live_server, project)
    held: list[Any] = []

    def hold_the_first_save(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)  # answered below, once the coder has typed on

    page.route("**/labels.json", hold_the_first_save)
    page.fill("#v_city", "漳州市")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the first save was not sent"
    page.fill("#v_city", "厦门市")  # while the first save is under way
    held[0].continue_()
    state = page.locator("[data-role=save-state]")
    # The first answer saved 漳州市 only: the page must not say that all is saved yet.
    expect(state).to_have_attribute("data-kind", "busy")
    wait_saved(page)
    assert saved_values(project)["city"] == "厦门市"


def test_drafts_of_another_coder_are_removed_from_a_shared_browser(
    page: Any, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_document(page, live_server, project, "zh_cid_font.pdf")
    page.context.set_offline(True)
    page.fill("#v_city", "alice's unsaved city")
    expect(page.locator("[data-role=save-state]")).to_have_attribute("data-kind", "error")
    page.context.set_offline(False)
    page.context.clear_cookies()
    log_in(page, live_server, "bob", PASSWORD)
    open_document(page, live_server, project, "zh_cid_font.pdf")
    expect(page.locator("#v_city")).to_have_value("")
    assert page.evaluate(DRAFT_KEYS) == []


def test_the_split_is_resized_by_drag_and_keys_and_remembered(
    page: Any, problems: PageProblems, live_server: str, project: Project
) -> None:
    log_in(page, live_server, "alice", PASSWORD)
    open_document(page, live_server, project)
    document_pane = page.locator(".document-pane")
    handle = page.locator("[data-role=split-handle]")
    before = document_pane.bounding_box()["width"]
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] - 300, box["y"] + 100, steps=5)
    page.mouse.up()
    narrower = document_pane.bounding_box()["width"]
    assert narrower < before - 250

    page.reload()
    page.wait_for_selector("#label-form")
    assert abs(document_pane.bounding_box()["width"] - narrower) < 5

    handle.focus()
    value = int(handle.get_attribute("aria-valuenow"))
    page.keyboard.press("ArrowRight")
    expect(handle).to_have_attribute("aria-valuenow", str(value + 2))
    page.keyboard.press("End")
    expect(handle).to_have_attribute("aria-valuenow", "80")
    assert problems.errors == []
