"""Debian's Chromium driven by Playwright, shared by the browser tests.

Never a browser that Playwright downloads: the tests skip, saying why, where
`/usr/bin/chromium` (Debian's `chromium` package) is missing.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Headless as root, and quiet: without the background-networking flags Chromium
# keeps trying hosts that a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module; see tests/conftest.py, which offers it."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's, `apt-get install -y chromium`")
    # Playwright's sync API keeps an asyncio event loop running in this thread
    # while it is started. Django then refuses every ORM call made here (fixtures,
    # the database flush after each test) as if it came from async code, though
    # they are plain sync calls made between browser steps. Allowed for the
    # module using it only, for as long as the browser runs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


def screenshot(page, name: str, **options) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), **options)
