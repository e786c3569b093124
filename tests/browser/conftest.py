"""Fixtures for browser tests: the app behind a real HTTP server, and headless Chromium.

Browser tests run on SQLite only: they test what the browser does with the pages, which does
not depend on the database. They need Debian's Chromium at /usr/bin/chromium (installed by
scripts/install-system-deps.sh); without it they are skipped locally and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """Replaces the SQLite + PostgreSQL pair of tests/conftest.py: SQLite only."""
    path = tmp_path / "annotator.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served on 127.0.0.1 on a free port, in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright, one for the session."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run the browser tests")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class PageProblems:
    """Console errors, uncaught exceptions, CSP violations and dialogs seen by a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console {message.type}: {message.text}")
                if message.type == "error" or "Content-Security-Policy" in message.text
                else None
            ),
        )
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

        def dismiss(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", dismiss)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page (no cookies shared between tests)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def problems(page: Any) -> PageProblems:
    return PageProblems(page)


def log_in(page: Any, base_url: str, username: str, password: str) -> None:
    """Log in through the login form, as a person would."""
    page.goto(base_url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


# Select `needle` in the text of the first element matching `selector` (across text nodes:
# highlights split the text) and release the mouse there, as a coder's selection does.
SELECT_PASSAGE = """([selector, needle]) => {
    for (const element of document.querySelectorAll(selector)) {
        const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
        const nodes = [];
        let text = "";
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            nodes.push([node, text.length]);
            text += node.data;
        }
        const at = text.indexOf(needle);
        if (at < 0) continue;
        const place = (offset, end) => {
            for (const [node, start] of nodes) {
                if (end ? offset <= start + node.data.length : offset < start + node.data.length) {
                    return [node, offset - start];
                }
            }
        };
        const range = document.createRange();
        range.setStart(...place(at, false));
        range.setEnd(...place(at + needle.length, true));
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        const box = range.getBoundingClientRect();
        range.endContainer.parentElement.dispatchEvent(new MouseEvent("mouseup", {
            bubbles: true, clientX: box.left, clientY: box.bottom,
        }));
        return true;
    }
    return false;
}"""


def attach(page: Any, selector: str, needle: str, variable: str) -> None:
    """Select ``needle`` in the document and attach it to ``variable`` from the menu."""
    from playwright.sync_api import expect

    assert page.evaluate(SELECT_PASSAGE, [selector, needle])
    page.click(f".attach-menu button[data-variable='{variable}']")
    expect(page.locator(f"#variable-{variable} ul.evidence li")).to_have_count(1)
