"""Fixing a message and following the trail, in Debian's Chromium: what staff do after finding it.

Ways back to a message's place in its thread, the edit form on a phone, errors on
the row at fault, several new rows before saving, API keys by user name with a
copy button, the history of edits and deletions, and the export of a filtered list.
"""

import re

import pytest

from threads_app.models import Message, Thread

from . import test_admin_browser
from .browser import screenshot

# The admin's browser fixtures (a logged-in Chromium page's makings), shared.
page, staff, log_in = test_admin_browser.page, test_admin_browser.staff, test_admin_browser.log_in

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
expect = sync_api.expect

pytestmark = pytest.mark.django_db(transaction=True)

def admin_pk(public_id: str) -> int:
    return Message.objects.get(public_id=public_id).pk


def open_editor(page, live_server, message_id: str) -> None:
    page.goto(f"{live_server.url}/admin/threads_app/message/{admin_pk(message_id)}/change/")


def long_thread(sdk, count: int = 60) -> tuple[str, list[str]]:
    """A thread of ``count`` messages, more than one transcript page: its ID and theirs."""
    thread = sdk.beta.threads.create(messages=[
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"Message number {i}."}
        for i in range(count)
    ])
    ids = [message.id for message in sdk.beta.threads.messages.list(thread.id, order="asc",
                                                                     limit=100).data]
    return thread.id, ids


def thread_page(thread_id: str, anchor: str) -> re.Pattern:
    """The address of a page of the thread's transcript, anchored on ``anchor``."""
    thread_pk = Thread.objects.get(public_id=thread_id).pk
    return re.compile(rf"/admin/threads_app/thread/{thread_pk}/change/\?[^#]*#{anchor}$")


def expect_at_place(page, thread_id: str, message_id: str) -> None:
    """The thread's page, at the transcript page holding the message, scrolled to it."""
    expect(page).to_have_url(thread_page(thread_id, message_id))
    article = page.locator(f"#transcript article[id='{message_id}']")
    expect(article).to_be_in_viewport()


# Ways back ------------------------------------------------------------------------


def test_breadcrumbs_close_save_and_delete_lead_back_to_the_place_in_the_thread(
    page, live_server, staff, sdk
):
    thread_id, ids = long_thread(sdk)
    conversation_id = "conv_" + thread_id.removeprefix("thread_")
    call = sdk.conversations.items.create(conversation_id, items=[
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
    ]).data[0]
    log_in(page, live_server, staff)
    target = ids[55]  # on the second page of fifty

    open_editor(page, live_server, target)
    crumbs = page.locator(".breadcrumbs")
    expect(crumbs).not_to_contain_text("Messages")
    crumbs.locator(f"a:has-text('{thread_id}')").click()
    expect_at_place(page, thread_id, target)

    open_editor(page, live_server, target)
    page.fill("textarea[name='content-0-text']", "Message number 55, corrected.")
    page.click("input[name='_save']")
    expect_at_place(page, thread_id, target)
    expect(page.locator(f"article[id='{target}']")).to_contain_text("corrected")

    # An item that is not a message has a read-only page: its Close leads back too.
    page.goto(f"{live_server.url}/admin/threads_app/message/{admin_pk(call.id)}/change/")
    page.click("a.closelink")
    expect_at_place(page, thread_id, call.id)

    open_editor(page, live_server, ids[54])
    page.click("a.deletelink")
    summary = page.locator(".threads-delete-summary")
    expect(summary).to_contain_text("user")
    expect(summary).to_contain_text("Message number 54.")
    created = Message.objects.get(public_id=ids[54]).created_at.strftime("%Y-%m-%d %H:%M:%S")
    expect(summary.locator("time")).to_have_text(created)
    expect(page.locator(".breadcrumbs")).to_contain_text(thread_id)
    screenshot(page, "admin-delete-message.png", full_page=True)
    page.click("input[type=submit]")

    expect(page).to_have_url(thread_page(thread_id, "transcript"))
    expect(page.locator(".messagelist")).to_contain_text(ids[54])
    articles = page.locator("#transcript article")
    expect(articles.first).to_have_id(ids[55])  # the page that held it, without it
    assert not Message.objects.filter(public_id=ids[54]).exists()
