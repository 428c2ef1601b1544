"""The admin in a real Chromium (Debian's), driven by Playwright: find, read, edit, read back.

Screenshots of the list, the transcript and the edit form are saved under
``test-artifacts/`` at the top of the repository.
"""

import struct
import zlib

import pytest
from django.contrib.auth import get_user_model

from .browser import screenshot

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")

IMAGE_URL = "https://images.example.com/chart.png"
PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.django_db(transaction=True)


def png(width: int = 240, height: int = 140) -> bytes:
    """A small gradient picture, served in place of the image URL a message names."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (40 + x * 200 // width, 90, 160 + y // 2))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    picture = png()

    def route(route):
        # Only the live server and the one picture: nothing leaves the machine.
        if route.request.url.startswith(live_server.url):
            route.continue_()
        elif route.request.url == IMAGE_URL:
            route.fulfill(status=200, content_type="image/png", body=picture)
        else:
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("staff", "staff@example.com", PASSWORD)


def log_in(page, live_server, staff) -> None:
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", staff.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    sync_api.expect(page.locator("#user-tools")).to_contain_text(staff.username)
    # Fold the admin's app sidebar (remembered by the browser), so pages show whole.
    page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")


def test_find_read_edit_and_read_back_through_the_sdk(page, live_server, staff, sdk):
    thread = sdk.beta.threads.create(
        messages=[
            {"role": "user", "content": "My order never arrived. Is marmalade out of stock?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Sorry about that! Here is this week's stock chart."},
                {"type": "image_url", "image_url": {"url": IMAGE_URL}},
            ], "attachments": [{"file_id": "file_stock", "tools": [{"type": "file_search"}]}]},
            {"role": "user", "content": "Thanks, then please refund it.",
             "metadata": {"channel": "email"}},
        ],
        metadata={"customer": "42", "priority": "high"},
    )
    sdk.beta.threads.create(messages=[{"role": "user", "content": "Unrelated question"}])
    question = sdk.beta.threads.messages.list(thread.id, order="asc").data[0]
    sdk.beta.threads.messages.update(question.id, thread_id=thread.id,
                                     metadata={"topic": "delivery"})
    # The same thread as a conversation: a tool call and the answer, which the
    # Threads view does not show and the admin does.
    sdk.conversations.items.create("conv_" + thread.id.removeprefix("thread_"), items=[
        {"type": "function_call", "call_id": "call_refund", "name": "issue_refund",
         "arguments": '{"order": "A-1042", "reason": "not delivered"}'},
        {"type": "function_call_output", "call_id": "call_refund",
         "output": '{"refund": "re_77", "status": "issued"}'},
        {"type": "message", "role": "assistant", "content": "Done: your refund is on its way."},
    ])

    log_in(page, live_server, staff)
    page.goto(live_server.url + "/admin/threads_app/thread/")
    page.fill("#searchbar", "marmalade")
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows).to_contain_text(thread.id)
    screenshot(page, "admin-list.png")

    rows.locator(f"a:has-text('{thread.id}')").click()
    messages = page.locator("#transcript article")
    sync_api.expect(messages).to_have_count(6)
    sync_api.expect(messages.nth(3)).to_contain_text("issue_refund")
    sync_api.expect(messages.nth(4)).to_contain_text('"status": "issued"')
    sync_api.expect(messages.nth(0)).to_contain_text("marmalade")
    sync_api.expect(messages.nth(1)).to_contain_text("file_stock")
    # An image from a user's address loads on a click only.
    messages.nth(1).locator(".threads-show-image").click()
    image = messages.nth(1).locator("img")
    sync_api.expect(image).to_be_visible()
    page.wait_for_function("img => img.complete", arg=image.element_handle())
    assert image.evaluate("img => img.complete && img.naturalWidth") == 240
    screenshot(page, "admin-transcript.png", full_page=True)

    messages.nth(0).locator("a:has-text('Edit')").click()
    text = page.locator("textarea[name='content-0-text']")
    sync_api.expect(text).to_have_value("My order never arrived. Is marmalade out of stock?")
    text.fill("My order never arrived. Is apricot jam out of stock?")
    page.fill("input[name='metadata-0-value']", "refund")
    screenshot(page, "admin-edit.png", full_page=True)
    page.click("input[name='_save']")

    sync_api.expect(page.locator("#transcript article").nth(0)).to_contain_text("apricot jam")
    edited = sdk.beta.threads.messages.retrieve(question.id, thread_id=thread.id)
    assert edited.content[0].text.value == "My order never arrived. Is apricot jam out of stock?"
    assert edited.content[0].text.annotations == []
    assert edited.metadata == {"topic": "refund"}
    assert edited.created_at == question.created_at and edited.role == "user"


def test_invalid_metadata_key_is_shown_and_nothing_changes(page, live_server, staff, sdk):
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    message = sdk.beta.threads.messages.list(thread.id).data[0]
    sdk.beta.threads.messages.update(message.id, thread_id=thread.id, metadata={"a": "1"})

    log_in(page, live_server, staff)
    page.goto(f"{live_server.url}/admin/threads_app/thread/?q={message.id}")
    page.locator(f"#result_list a:has-text('{thread.id}')").click()
    page.locator("#transcript article a:has-text('Edit')").click()
    page.fill("textarea[name='content-0-text']", "Hello, changed")
    page.fill("input[name='metadata-1-key']", "k" * 65)
    page.fill("input[name='metadata-1-value']", "too long a key")
    page.click("input[name='_save']")

    sync_api.expect(page.locator(".errornote")).to_be_visible()
    error = page.locator(".field-metadata .errorlist")
    sync_api.expect(error).to_contain_text("keys may have at most 64")
    # What was typed is still there to correct.
    sync_api.expect(page.locator("input[name='metadata-1-key']")).to_have_value("k" * 65)
    screenshot(page, "admin-edit-error.png", full_page=True)

    unchanged = sdk.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert unchanged.metadata == {"a": "1"}
    assert unchanged.content[0].text.value == "Hello"
