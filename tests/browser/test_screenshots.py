"""Screenshots of the coding page in English and in Simplified Chinese, saved in
test-artifacts/ (docs/images/coding-page.png in the README is a copy of the English one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import PASSWORD, Project
from .conftest import ARTIFACTS, PageProblems, log_in

pytestmark = pytest.mark.browser


@pytest.fixture(params=["en-US", "zh-CN"])
def browser_language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def localized_page(browser: Any, browser_language: str) -> Iterator[Any]:
    """A page whose browser asks for ``browser_language`` (Accept-Language)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale=browser_language)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


# What the page says in each language: the buttons, and the codebook's own label.
EXPECTED = {
    "en-US": {
        "lang": "en",
        "save": "Save",
        "submit": "Submit",
        "variable": "Service type",
        "in_progress": "in progress",
    },
    "zh-CN": {
        "lang": "zh-Hans",
        "save": "保存",
        "submit": "提交",
        "variable": "服务类型",
        "in_progress": "进行中",
    },
}


def test_coding_page_screenshot(
    localized_page: Any, browser_language: str, live_server: str, project: Project
) -> None:
    page = localized_page
    problems = PageProblems(page)
    expected = EXPECTED[browser_language]
    log_in(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server}/code/{project.document_ids['zh_cid_font.pdf']}")
    page.wait_for_selector("[data-pdf-viewer][data-rendered-pages~='1']", state="attached")
    assert page.get_attribute("html", "lang") == expected["lang"]
    expect(page.locator("#label-form button[value=save]")).to_have_text(expected["save"])
    expect(page.locator("#label-form button[value=submit]")).to_have_text(expected["submit"])
    expect(page.locator("#variable-service_type .variable-label")).to_contain_text(
        expected["variable"]
    )

    page.check("#label-form [name=v_service_type][value=emergency_alarm]")
    page.check("#label-form [name=v_integration_depth][value=deep_data]")
    page.fill("#v_city", "福州市")
    expect(page.locator("[data-role=save-state]")).to_have_attribute("data-kind", "ok")
    expect(page.locator("[data-role=status]")).to_have_text(expected["in_progress"])
    page.locator(".form-pane").evaluate("pane => pane.scrollTo(0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    name = "coding-page-en.png" if browser_language == "en-US" else "coding-page-zh.png"
    page.screenshot(path=str(ARTIFACTS / name))
    assert (ARTIFACTS / name).stat().st_size > 20_000
    assert problems.errors == []
