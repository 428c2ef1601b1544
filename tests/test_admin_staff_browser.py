"""Fixing a message and following the trail, in Debian's Chromium: what staff do after finding it.

Ways back to a message's place in its thread, the edit form on a phone, errors on
the row at fault, several new rows before saving, API keys by user name with a
copy button, the history of edits and deletions, and the export of a filtered list.
"""

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from django.contrib.auth import get_user_model

from threads_app import store
from threads_app.admin import ThreadAdmin
from threads_app.models import Message, Thread, hash_api_key
from threads_app.transfer import export_lines

from . import test_admin_browser
from .browser import screenshot
from .test_admin import make_thread

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


def test_after_a_save_the_message_and_its_confirmation_are_on_screen(
    page, live_server, staff
):
    thread = make_thread(staff, [f"Message number {i}." for i in range(120)])
    target = thread.messages.order_by("seq")[100].public_id  # deep in the third page
    log_in(page, live_server, staff)
    open_editor(page, live_server, target)
    page.fill("textarea[name='content-0-text']", "Message number 100, corrected.")
    page.click("input[name='_save']")

    expect(page).to_have_url(re.compile(rf"\?message={target}#{target}$"))
    article = page.locator(f"#transcript article[id='{target}']")
    expect(article).to_have_class(re.compile(r"\bthreads-current\b"))
    expect(article).to_contain_text("corrected")
    expect(article).to_be_in_viewport()
    confirmation = article.locator(".messagelist li.success")
    expect(confirmation).to_contain_text("was changed successfully")
    expect(confirmation).to_be_in_viewport()
    # Once only: not a second copy at the top of the page.
    expect(page.locator(".messagelist")).to_have_count(1)
    screenshot(page, "admin-saved-in-place.png")


# The edit form ---------------------------------------------------------------------


def rich_message(sdk) -> tuple[str, str]:
    thread = sdk.beta.threads.create(messages=[{
        "role": "assistant",
        "content": [{"type": "text", "text": "Your parcel left the depot."},
                    {"type": "image_file", "image_file": {"file_id": "file_label"}}],
        "attachments": [{"file_id": "file_invoice", "tools": [{"type": "file_search"}]}],
        "metadata": {"channel": "email", "agent": "Robin"},
    }])
    return thread.id, sdk.beta.threads.messages.list(thread.id).data[0].id


PHONE = {"width": 390, "height": 844}

# Whether an element, brought into view by scrolling the page down, lies wholly within
# the screen's width and is what a finger touching its middle would touch.
IN_REACH = """element => {
    window.scrollTo(0, element.getBoundingClientRect().top + window.scrollY - 100);
    const box = element.getBoundingClientRect();
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return box.left >= 0 && box.right <= window.innerWidth
        && (hit === element || element.contains(hit) || hit.control === element);
}"""


def test_on_a_phone_the_rows_wrap_and_remove_is_in_reach(browser, live_server, staff, sdk):
    thread_id, message_id = rich_message(sdk)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, live_server, staff)
        open_editor(page, live_server, message_id)
        removes = page.locator("input[type=checkbox][name$='-remove']")
        expect(removes).to_have_count(5)  # two parts, one attachment, two pairs
        for index in range(5):
            # Scrolled to vertically only: scrolling an element into view would also
            # scroll the box that clips it sideways, and hide what is wrong.
            assert removes.nth(index).evaluate(IN_REACH), index
        for field in ("metadata-1-key", "metadata-1-value", "attachments-0-file_id",
                      "content-0-text"):
            assert page.locator(f"[name='{field}']").evaluate(IN_REACH), field
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "admin-edit-390.png", full_page=True)

        page.locator("input[name='metadata-1-remove']").tap()
        page.locator("input[name='attachments-0-remove']").tap()
        page.click("input[name='_save']")
        expect(page.locator("#transcript")).to_be_visible()
        message = sdk.beta.threads.messages.retrieve(message_id, thread_id=thread_id)
        assert message.metadata == {"channel": "email"} and message.attachments == []
    finally:
        context.close()


def border_colour(locator) -> str:
    return locator.evaluate("element => getComputedStyle(element).borderTopColor")


def test_an_error_marks_the_row_at_fault_and_no_other(page, live_server, staff, sdk):
    thread_id, message_id = rich_message(sdk)
    log_in(page, live_server, staff)
    open_editor(page, live_server, message_id)
    page.fill("input[name='metadata-1-key']", "k" * 65)
    page.fill("textarea[name='content-0-text']", "Your parcel left the depot today.")
    page.click("input[name='_save']")

    expect(page.locator(".field-metadata .errorlist")).to_contain_text("at most 64")
    faulty = page.locator("input[name='metadata-1-key']")
    expect(faulty).to_have_attribute("aria-invalid", "true")
    expect(faulty).to_have_attribute("aria-describedby", "id_metadata_error")
    error_colour = border_colour(faulty)
    for name in ("metadata-0-key", "metadata-0-value", "metadata-2-key"):
        other = page.locator(f"input[name='{name}']")
        expect(other).not_to_have_attribute("aria-invalid", "true")
        assert border_colour(other) != error_colour, name
    # The content field has no error; its rows are not marked either.
    expect(page.locator(".field-content .threads-row-error")).to_have_count(0)
    screenshot(page, "admin-edit-row-error.png", full_page=True)

    # An image part with a bad address: that part is marked, the text part is not.
    open_editor(page, live_server, message_id)
    page.fill("input[name='content-3-url']", "ftp://files.example.com/label.png")
    page.click("input[name='_save']")
    expect(page.locator(".field-content .errorlist")).to_contain_text("http or https")
    marked = page.locator(".field-content .threads-row-error")
    expect(marked).to_have_count(1)
    expect(marked.locator("input[type=url]")).to_have_value("ftp://files.example.com/label.png")
    assert sdk.beta.threads.messages.retrieve(message_id, thread_id=thread_id).metadata == {
        "channel": "email", "agent": "Robin"}


def test_several_new_rows_can_be_added_before_saving(page, live_server, staff, sdk):
    thread_id, message_id = rich_message(sdk)
    log_in(page, live_server, staff)
    open_editor(page, live_server, message_id)

    add_pair = page.get_by_role("button", name="Add another pair")
    add_pair.click()
    expect(page.locator(":focus")).to_have_attribute("aria-label", "New key")
    add_pair.click()
    new_keys = page.locator(".field-metadata input[aria-label='New key']")
    new_values = page.locator(".field-metadata input[aria-label='New value']")
    expect(new_keys).to_have_count(3)  # the blank row, and the two added
    for index, (key, value) in enumerate([("ticket", "T-1"), ("queue", "parcels"),
                                          ("priority", "high")]):
        new_keys.nth(index).fill(key)
        new_values.nth(index).fill(value)

    page.get_by_role("button", name="Add another text part").click()
    texts = page.locator(".field-content textarea")
    expect(texts).to_have_count(3)
    expect(texts.nth(2)).to_be_focused()
    texts.nth(1).fill("It should arrive tomorrow.")
    texts.nth(2).fill("Between 9 and 12.")
    page.get_by_role("button", name="Add another image by URL").click()
    page.locator(".field-content input[type=url]").nth(1).fill("https://img.example.com/map.png")

    page.get_by_role("button", name="Add another attachment").click()
    files = page.locator(".field-attachments input[aria-label='New file ID']")
    files.nth(0).fill("file_route")
    files.nth(1).fill("file_receipt")
    page.locator(".field-attachments .threads-row").nth(2).locator(
        "input[value=code_interpreter]").check()
    page.click("input[name='_save']")

    expect(page.locator("#transcript")).to_be_visible()
    message = sdk.beta.threads.messages.retrieve(message_id, thread_id=thread_id)
    assert message.metadata == {"channel": "email", "agent": "Robin", "ticket": "T-1",
                                "queue": "parcels", "priority": "high"}
    content = [part.model_dump(exclude_none=True) for part in message.content]
    assert [part["type"] for part in content] == [
        "text", "image_file", "text", "text", "image_url"]
    assert [content[i]["text"]["value"] for i in (2, 3)] == [
        "It should arrive tomorrow.", "Between 9 and 12."]
    assert content[4]["image_url"]["url"] == "https://img.example.com/map.png"
    assert [(item.file_id, [tool.type for tool in item.tools])
            for item in message.attachments] == [
        ("file_invoice", ["file_search"]), ("file_route", []),
        ("file_receipt", ["code_interpreter"])]


# API keys -------------------------------------------------------------------------


def test_a_key_is_created_for_a_user_found_by_name_and_its_secret_copied(
    page, live_server, staff
):
    users = get_user_model().objects
    users.create_user("marguerite", first_name="Marguerite", last_name="Duras")
    users.create_user("margot")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=live_server.url)
    log_in(page, live_server, staff)
    page.goto(live_server.url + "/admin/threads_app/apikey/add/")
    page.click(".field-user .select2-selection")
    page.locator(".select2-search__field").fill("dura")
    option = page.locator(".select2-results__option", has_text="marguerite")
    expect(page.locator(".select2-results__option")).to_have_count(1)
    option.click()
    page.fill("#id_name", "support laptop")
    page.click("input[name='_save']")

    secret = page.locator("#threads-secret").input_value()
    assert store.find_key(hash_api_key(secret)).user.username == "marguerite"
    copy = page.get_by_role("button", name="Copy")
    copy.click()
    expect(page.locator("#threads-copy-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "admin-key-secret.png")


# The trail ------------------------------------------------------------------------


def test_an_edit_keeps_what_it_replaced_in_the_history(page, live_server, staff, sdk):
    thread_id, message_id = rich_message(sdk)
    log_in(page, live_server, staff)
    open_editor(page, live_server, message_id)
    page.fill("textarea[name='content-0-text']", "Your parcel was lost.\nWe are sorry.")
    page.fill("input[name='metadata-1-value']", "Sam")
    page.click("input[name='_save']")
    expect(page.locator("#transcript")).to_be_visible()

    page.goto(f"{live_server.url}/admin/threads_app/message/{admin_pk(message_id)}/history/")
    entry = page.locator("#change-history tbody tr").last
    expect(entry).to_contain_text("Changed content and metadata.")
    kept = entry.locator(".threads-kept")
    expect(kept.locator(".threads-kept-content .threads-kept-text")).to_have_text(
        "Your parcel left the depot.")
    expect(kept.locator(".threads-kept-content")).to_contain_text("file_label")
    expect(kept.locator(".threads-kept-metadata")).to_contain_text("Robin")
    expect(kept.locator(".threads-kept-attachments")).to_have_count(0)  # not changed
    expect(page.locator(".breadcrumbs")).to_contain_text(thread_id)
    screenshot(page, "admin-message-history.png", full_page=True)


def test_a_deleted_message_is_kept_in_its_threads_history(page, live_server, staff, sdk):
    thread_id, message_id = rich_message(sdk)
    log_in(page, live_server, staff)
    open_editor(page, live_server, message_id)
    page.click("a.deletelink")
    page.click("input[type=submit]")
    expect(page.locator(".messagelist")).to_contain_text(message_id)

    thread_pk = Thread.objects.get(public_id=thread_id).pk
    page.goto(f"{live_server.url}/admin/threads_app/thread/{thread_pk}/history/")
    deleted = page.locator(f"#deleted-messages article[id='deleted-{message_id}']")
    expect(deleted).to_contain_text(f"by {staff.username}")
    expect(deleted.locator("header")).to_contain_text("assistant")
    expect(deleted.locator(".threads-kept-text")).to_have_text("Your parcel left the depot.")
    expect(deleted.locator(".threads-kept-metadata")).to_contain_text("Robin")
    expect(deleted.locator(".threads-kept-attachments")).to_contain_text("file_invoice")
    screenshot(page, "admin-thread-history.png", full_page=True)


# Export of a filtered list ------------------------------------------------------------


def test_export_of_the_filtered_list_says_what_it_holds(
    page, live_server, staff, sdk, monkeypatch
):
    monkeypatch.setattr(ThreadAdmin, "list_per_page", 2)  # the export spans pages
    wanted = [
        sdk.beta.threads.create(messages=[{"role": "user", "content": f"Marmalade {i}?"}]).id
        for i in range(3)
    ]
    sdk.beta.threads.create(messages=[{"role": "user", "content": "Apricot jam?"}])
    log_in(page, live_server, staff)
    page.goto(live_server.url + "/admin/threads_app/thread/")
    expect(page.locator(".object-tools")).to_contain_text("Export all threads")
    page.fill("#searchbar", "marmalade")
    page.press("#searchbar", "Enter")
    page.get_by_role("link", name="Export this list").click()

    holds = page.locator(".threads-export")
    expect(holds.locator(".threads-export-count")).to_contain_text("3 threads")
    expect(holds.locator(".threads-export-selection")).to_have_text(
        "matching the search “marmalade”")
    expect(holds).to_contain_text("import_threads")
    screenshot(page, "admin-export.png")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download 3 threads (JSON Lines)").click()
    body = download.value.path().read_bytes()

    lines = [orjson.loads(line) for line in body.splitlines()]
    assert [line["id"] for line in lines if line["object"] == "thread"] == wanted
    expected = b"".join(export_lines(Thread.objects.filter(public_id__in=wanted).order_by("seq")))
    assert body == expected


# Images in the edit form --------------------------------------------------------------


def test_an_image_in_the_edit_form_loads_only_on_a_click(browser, live_server, staff, sdk):
    requested: list[str] = []
    picture = test_admin_browser.png()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(picture)))
            self.end_headers()
            self.wfile.write(picture)

        def log_message(self, *args) -> None:
            pass  # quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    image_url = f"http://127.0.0.1:{server.server_port}/user-picture.png"
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is on this label?"},
        {"type": "image_url", "image_url": {"url": image_url}},
    ]}])
    message_id = sdk.beta.threads.messages.list(thread.id).data[0].id
    # A page of its own: the shared one refuses every address but the live server's.
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, live_server, staff)
        open_editor(page, live_server, message_id)
        page.wait_for_load_state("networkidle")
        expect(page.locator("input[name='content-1-url']")).to_have_value(image_url)
        assert requested == []
        button = page.locator(".field-content .threads-show-image")
        expect(button).to_contain_text("127.0.0.1")
        button.click()
        image = page.locator(".field-content .threads-image img")
        expect(image).to_be_visible()
        page.wait_for_function(
            "document.querySelector('.field-content .threads-image img').complete")
        assert image.evaluate("img => img.naturalWidth") == 240
        assert requested == ["/user-picture.png"]
        assert image.get_attribute("referrerpolicy") == "no-referrer"
    finally:
        context.close()
        server.shutdown()
        server.server_close()
