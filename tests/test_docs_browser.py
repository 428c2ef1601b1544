"""The `docs` page in a real Chromium (Debian's): Redoc renders the document from local files only.

A screenshot is saved as ``test-artifacts/docs.png`` at the top of the repository.
"""

import os
from pathlib import Path

import pytest

from .conftest import url

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")

CHROMIUM = "/usr/bin/chromium"  # Debian's `chromium` package; never a downloaded browser
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def test_docs_page_renders_every_operation_offline(live_server):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's, `apt-get install -y chromium`")
    elsewhere: list[str] = []

    def route(route):
        # The page may fetch from the server that served it, and from nowhere else.
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            context.route("**/*", route)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(live_server.url + url("docs"))
            for summary in ("Create a thread", "List messages", "Delete a message"):
                sync_api.expect(page.get_by_role("heading", name=summary)).to_be_visible()
            sync_api.expect(page.locator("h1").first).to_contain_text("Threads and Messages API")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "docs.png"))
        finally:
            browser.close()
    assert elsewhere == []
