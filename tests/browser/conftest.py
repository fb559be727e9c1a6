"""A headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright for Python
(Playwright's own browser download is not used). `.ci/run` installs Chromium; elsewhere the tests skip
with a note when it is missing."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Error, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it with apt-get install chromium")
        pytest.skip("Chromium is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab at an office laptop's size; any JavaScript dialog fails the test."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="id-ID")
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_error(error: Error) -> None:
        errors.append(error.message)

    opened.on("dialog", on_dialog)
    opened.on("pageerror", on_error)
    yield opened
    context.close()
    assert dialogs == [], f"a script ran on the page: {dialogs}"
    assert errors == [], f"the page's own script failed: {errors}"
