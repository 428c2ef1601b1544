"""The `docs` page in a real Chromium (Debian's): Redoc renders the document from local files only.

A screenshot is saved as ``test-artifacts/docs.png`` at the top of the repository.
"""

import pytest

from .browser import screenshot
from .conftest import url

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")

def test_docs_page_renders_every_operation_offline(browser, live_server):
    elsewhere: list[str] = []

    def route(route):
        # The page may fetch from the server that served it, and from nowhere else.
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(live_server.url + url("docs"))
        for summary in ("Create a thread", "List messages", "Delete a message", "List items"):
            sync_api.expect(page.get_by_role("heading", name=summary)).to_be_visible()
        title = page.locator("h1").first
        sync_api.expect(title).to_contain_text("Threads, Messages and Conversations API")
        screenshot(page, "docs.png")
    finally:
        context.close()
    assert elsewhere == []
