"""The admin in a real Chromium (Debian's), driven by Playwright: find, read, edit, read back.

Screenshots of the list, the transcript and the edit form are saved under
``test-artifacts/`` at the top of the repository.
"""

import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import orjson
import pytest
from django.contrib.auth import get_user_model

from threads_app import store
from threads_app.models import APIKey, Message, hash_api_key

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


def open_page(browser, live_server, viewport: dict, requests_seen: list | None = None):
    """A context and page that reach the live server only, and get the one picture when
    asked: nothing leaves the machine. Each request's address goes to ``requests_seen``."""
    context = browser.new_context(viewport=viewport)
    picture = png()

    def route(route):
        if requests_seen is not None:
            requests_seen.append(route.request.url)
        if route.request.url.startswith(live_server.url):
            route.continue_()
        elif route.request.url == IMAGE_URL:
            route.fulfill(status=200, content_type="image/png", body=picture)
        else:
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


@pytest.fixture
def page(browser, live_server):
    context, page = open_page(browser, live_server, {"width": 1440, "height": 900})
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


# Saving what nobody touched ---------------------------------------------------------

# A reply as the Responses API gives it: multi-line text whose Conversations form
# carries what the Threads form cannot (a web citation, log probabilities).
CITED_REPLY = [
    {"type": "output_text", "text": "Marmalade is back:\n\n- Seville, 340 g\n- Lime, 454 g\n",
     "annotations": [{"type": "url_citation", "url": "https://shop.example.com/stock",
                      "title": "Stock", "start_index": 0, "end_index": 18}],
     "logprobs": [{"token": "Marm", "logprob": -0.0012, "bytes": [77, 97, 114, 109],
                   "top_logprobs": []}]},
    {"type": "output_text", "text": "Anything else?\nI can check jams too.",
     "annotations": [{"type": "url_citation", "url": "https://shop.example.com/jam",
                      "title": "Jam", "start_index": 15, "end_index": 36}],
     "logprobs": []},
]
# Text inputs cannot hold a line break: the browser strips it from what it shows and sends.
MULTILINE_METADATA = {"address": "1 Quay Street\nBristol", "seen": "no"}


def stored_reply(sdk) -> tuple[str, str, str]:
    """A thread holding ``CITED_REPLY``: its ID, the conversation's ID and the message's ID."""
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Any marmalade?"}])
    conversation_id = "conv_" + thread.id.removeprefix("thread_")
    reply = sdk.conversations.items.create(conversation_id, items=[
        {"type": "message", "role": "assistant", "content": CITED_REPLY}]).data[0]
    sdk.beta.threads.messages.update(reply.id, thread_id=thread.id, metadata=MULTILINE_METADATA)
    return thread.id, conversation_id, reply.id


def api_bytes(sdk, thread_id: str, conversation_id: str, message_id: str) -> tuple[bytes, bytes]:
    """The message (Threads view) and the item (Conversations view) as the API sends them."""
    message = sdk.beta.threads.messages.with_raw_response.retrieve(message_id, thread_id=thread_id)
    item = sdk.conversations.items.with_raw_response.retrieve(
        message_id, conversation_id=conversation_id)
    return message.http_response.content, item.http_response.content


def latest_history(page, live_server, message_id: str) -> str:
    """What the admin's history says about the message's latest change."""
    pk = Message.objects.get(public_id=message_id).pk
    page.goto(f"{live_server.url}/admin/threads_app/message/{pk}/history/")
    # The change message alone, not the values the change replaced shown beneath it.
    return page.locator("#change-history tbody tr").last.locator(
        ".threads-change-message").inner_text()


def open_editor(page, live_server, message_id: str) -> None:
    pk = Message.objects.get(public_id=message_id).pk
    page.goto(f"{live_server.url}/admin/threads_app/message/{pk}/change/")


def test_saving_untouched_or_metadata_only_keeps_every_byte(page, live_server, staff, sdk):
    ids = stored_reply(sdk)
    message_before, item_before = api_bytes(sdk, *ids)
    assert b"\\n\\n- Seville" in message_before and b"url_citation" in item_before

    log_in(page, live_server, staff)
    open_editor(page, live_server, ids[2])
    sync_api.expect(page.locator("textarea[name='content-0-text']")).to_have_value(
        CITED_REPLY[0]["text"])
    page.click("input[name='_save']")
    sync_api.expect(page.locator("#transcript")).to_be_visible()
    assert api_bytes(sdk, *ids) == (message_before, item_before)
    assert latest_history(page, live_server, ids[2]) == "No fields changed."

    open_editor(page, live_server, ids[2])
    page.fill("input[name='metadata-1-value']", "yes")
    page.click("input[name='_save']")
    sync_api.expect(page.locator("#transcript")).to_be_visible()
    message_after, item_after = api_bytes(sdk, *ids)
    assert item_after == item_before
    metadata = {**MULTILINE_METADATA, "seen": "yes"}
    assert message_after == message_before.replace(
        orjson.dumps(MULTILINE_METADATA), orjson.dumps(metadata))
    assert latest_history(page, live_server, ids[2]) == "Changed metadata."


def test_editing_one_part_keeps_the_others_and_stores_typed_newlines_as_lf(
    page, live_server, staff, sdk
):
    thread_id, conversation_id, message_id = stored_reply(sdk)
    log_in(page, live_server, staff)
    open_editor(page, live_server, message_id)
    page.fill("textarea[name='content-1-text']", "Anything else?\nJams, perhaps?")
    page.click("input[name='_save']")
    sync_api.expect(page.locator("#transcript")).to_be_visible()

    item = sdk.conversations.items.retrieve(message_id, conversation_id=conversation_id)
    first, second = item.model_dump(exclude_unset=True)["content"]
    assert first == CITED_REPLY[0]
    assert second == {"type": "output_text", "text": "Anything else?\nJams, perhaps?",
                      "annotations": [], "logprobs": []}
    message = sdk.beta.threads.messages.retrieve(message_id, thread_id=thread_id)
    assert [part.text.value for part in message.content] == [
        CITED_REPLY[0]["text"], "Anything else?\nJams, perhaps?"]
    assert message.metadata == MULTILINE_METADATA
    assert latest_history(page, live_server, message_id) == "Changed content."


def test_reloading_the_new_key_page_creates_no_second_key(page, live_server, staff, user):
    log_in(page, live_server, staff)
    page.goto(live_server.url + "/admin/threads_app/apikey/add/")
    page.click(".field-user .select2-selection")
    page.locator(".select2-search__field").fill(user.username)
    page.locator(".select2-results__option", has_text=user.username).click()
    page.fill("#id_name", "laptop")
    page.click("input[name='_save']")
    secret = page.locator("#threads-secret").input_value()
    assert store.find_key(hash_api_key(secret)).user == user

    page.reload()  # waits for the page to load
    assert APIKey.objects.filter(user=user).count() == 1
    sync_api.expect(page.locator("#content-main")).to_contain_text("shown once")
    sync_api.expect(page.locator("#threads-secret")).to_have_count(0)
    assert secret not in page.content()


# The demo's way in --------------------------------------------------------------

REPOSITORY = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def demo_make(*args: str) -> list[str]:
    """``make`` for the demo in this test's own environment: nothing to install again."""
    return ["make", "--no-print-directory", "-o", "demo-install", f"VENV={sys.prefix}", *args]


def test_make_superuser_then_make_demo_lets_staff_into_the_admin(browser, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DJANGO_SUPERUSER_USERNAME": "admin",
        "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    made = subprocess.run(demo_make("superuser", "SUPERUSER_ARGS=--noinput"), cwd=REPOSITORY,
                          env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr

    host, port = "127.0.0.1", free_port()
    address = f"{host}:{port}"
    log = tmp_path / "demo.log"
    with log.open("w") as output:
        demo = subprocess.Popen(demo_make("demo", f"ADDRESS={address}"), cwd=REPOSITORY,
                                env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                assert demo.poll() is None, log.read_text()
                time.sleep(0.2)
        printed = log.read_text()
        assert f"Admin: http://{address}/admin/" in printed and "make superuser" in printed

        context = browser.new_context()
        page = context.new_page()
        page.goto(f"http://{address}/admin/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        sync_api.expect(page.locator("#user-tools")).to_contain_text("admin")
        sync_api.expect(page.locator("#content-main")).to_contain_text("API keys")
        context.close()
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=30)
