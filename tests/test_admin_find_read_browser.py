"""Finding a conversation and reading it, in Debian's Chromium driven by Playwright.

The threads list (what each thread is about, sorting by last activity, the
owner filter, search hits that lead to their message), the transcript (where
the page is, jumps, Markdown made safe, the raw text, images only on a click)
and the demo site's start page. Screenshots at 1400 and 390 px wide go to
``test-artifacts/`` (find-*.png, read-*.png); the README's images in docs/images/
are copies of them.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from threads_app.admin import ThreadAdmin
from threads_app.models import APIKey, Message, Thread
from threads_app.validation import clean_content

from .browser import screenshot
from .test_admin_browser import IMAGE_URL, PASSWORD, log_in, open_page

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
expect = sync_api.expect

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
HOSTILE = (
    "Try these:\n\n<script>window.pwned = 'script'</script>\n\n"
    '<img src="x" onerror="window.pwned = \'onerror\'">\n\n'
    "[click me](javascript:window.pwned='link') and "
    "[me too](JaVaScRiPt:window.pwned='mixed case') and "
    "<a href=\"javascript:window.pwned='raw'\">raw</a> and "
    "![tracker](https://tracker.example.net/pixel.png)"
)
MARKDOWN = (
    "Here is the **fix**, with `retry()` in it:\n\n"
    "```python\nfor attempt in range(3):\n    retry()\n```\n\n"
    "- first\n- second\n\nSee [the guide](https://docs.example.com/retry)."
)


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("staff", "staff@example.com", PASSWORD)


@pytest.fixture
def requests_seen():
    return []


@pytest.fixture
def page(browser, live_server, requests_seen):
    context, page = open_page(browser, live_server, DESKTOP, requests_seen)
    yield page
    context.close()


@pytest.fixture
def phone(browser, live_server, requests_seen):
    context, page = open_page(browser, live_server, PHONE, requests_seen)
    yield page
    context.close()


def add(thread: Thread, content, role: str = "user", at=None, **fields) -> Message:
    at = at or timezone.now()
    return Message.objects.create(
        thread=thread, role=role, content=clean_content(content), created_at=at,
        completed_at=at, **fields,
    )


@pytest.fixture
def desk(db):
    """A support desk's threads: titled and untitled, short and long, with owners and not."""
    users = get_user_model().objects
    ada = users.create_user("ada.lovelace", "ada@example.com")
    grace = users.create_user("grace.hopper", "grace@example.com")
    users.create_user("adam.nothreads", "adam@example.com")  # owns no thread
    start = timezone.now() - timedelta(days=30)

    refund = Thread.objects.create(
        owner=ada, created_at=start,
        metadata={"title": "Refund for a kettle that never came", "customer": "42",
                  "channel": "email", "priority": "high", "region": "eu-west",
                  "order": "A-1042-LONG-REFERENCE-NUMBER"},
    )
    add(refund, "My kettle never arrived. Order A-1042, paid on the 3rd.", at=start)
    add(refund, [{"type": "text", "text": MARKDOWN},
                 {"type": "image_url", "image_url": {"url": IMAGE_URL}}],
        role="assistant", at=start + timedelta(minutes=5))
    # A tool call and its output, through the Conversations API as a client makes them.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer " + APIKey.generate(ada)[1])
    conversation = "conv_" + refund.public_id.removeprefix("thread_")
    answer = api.post(f"/api/openai/v1/conversations/{conversation}/items", {"items": [
        {"type": "function_call", "call_id": "call_1", "name": "issue_refund",
         "arguments": '{"order": "A-1042", "amount": "39.90"}'},
        {"type": "function_call_output", "call_id": "call_1",
         "output": '{"refund": "re_77", "status": "issued"}'},
    ]}, format="json")
    assert answer.status_code == 200, answer.content
    add(refund, "Thanks. Please refund it to my card; the marmalade order can stay.",
        at=start + timedelta(days=20), metadata={"channel": "email"})

    # The oldest thread has the newest activity: sorting by it changes the order.
    untitled = Thread.objects.create(owner=grace, created_at=start - timedelta(days=5),
                                     metadata={"customer": "7"})
    add(untitled, "The toaster burns one side of the bread. Is that normal?",
        at=timezone.now() - timedelta(minutes=3))
    hostile = Thread.objects.create(owner=grace, created_at=start + timedelta(days=1),
                                    metadata={"subject": "Odd links"})
    add(hostile, HOSTILE, at=start + timedelta(days=1))

    long = Thread.objects.create(owner=ada, created_at=start + timedelta(days=2),
                                 metadata={"name": "Long support chat"})
    for i in range(120):
        add(long, f"Message {i}: " + ("a question about the order" if i % 2 == 0
                                      else "an answer about the delivery"),
            role="user" if i % 2 == 0 else "assistant",
            at=start + timedelta(days=2, hours=i))
    Thread.objects.create(owner=grace, created_at=start + timedelta(days=3))  # empty
    return {"ada": ada, "grace": grace, "refund": refund, "untitled": untitled,
            "hostile": hostile, "long": long}


def changelist(live_server) -> str:
    return live_server.url + "/admin/threads_app/thread/"


def change(live_server, thread: Thread) -> str:
    return f"{live_server.url}/admin/threads_app/thread/{thread.pk}/change/"


def row_of(page, thread: Thread):
    return page.locator("#result_list tbody tr").filter(has_text=thread.public_id)


# Finding ----------------------------------------------------------------------


def test_the_list_says_what_each_thread_is_about_and_fits(page, live_server, staff, desk):
    log_in(page, live_server, staff)
    page.goto(changelist(live_server))
    refund = row_of(page, desk["refund"])
    expect(refund.locator(".field-about")).to_contain_text("Refund for a kettle that never came")
    expect(refund.locator(".field-about")).to_contain_text("My kettle never arrived")
    expect(row_of(page, desk["untitled"]).locator(".field-about")).to_contain_text(
        "The toaster burns one side"
    )
    expect(row_of(page, desk["hostile"]).locator(".field-about strong")).to_have_text("Odd links")
    expect(row_of(page, desk["long"]).locator(".field-about strong")).to_have_text(
        "Long support chat"
    )
    # Metadata shows whole on hover, and the table fits 1400 px beside the filters.
    screenshot(page, "find-threads.png")
    glance = refund.locator(".threads-glance")
    assert "order=A-1042-LONG-REFERENCE-NUMBER" in glance.get_attribute("title")
    results = page.locator("#changelist .results")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), "the table scrolls sideways"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Rows stay one line high, however long their text.
    line = page.locator("#result_list tbody tr").first.evaluate(
        "row => parseFloat(getComputedStyle(row.querySelector('td')).lineHeight)"
    )
    heights = page.locator("#result_list tbody tr").evaluate_all(
        "rows => rows.map(row => row.getBoundingClientRect().height)"
    )
    assert max(heights) < 2 * line + 20, heights


def test_sorting_by_last_activity(page, live_server, staff, desk):
    log_in(page, live_server, staff)
    page.goto(changelist(live_server))
    ids = page.locator("#result_list tbody th.field-thread_id")
    by_creation = [thread.public_id for thread in Thread.objects.order_by("-seq")]
    expect(ids).to_have_text(by_creation)
    header = page.locator("#result_list thead th.column-last_activity .text a")
    header.click()
    header.click()  # the second click: newest first
    assert "o=-" in page.url
    # The untitled thread was opened early and written to last; an empty thread's
    # activity is its creation.
    latest = [desk[name].public_id for name in ("untitled", "refund", "long")]
    empty = Thread.objects.get(messages=None).public_id
    expect(ids).to_have_text([*latest, empty, desk["hostile"].public_id])


def test_owner_filter_suggests_owners_only(page, live_server, staff, desk):
    log_in(page, live_server, staff)
    page.goto(changelist(live_server))
    owner = page.locator("#threads-owner-input")
    owner.fill("ada")
    suggestions = page.locator("#threads-owner-results li")
    # ada.lovelace owns threads; adam.nothreads matches the name but owns none.
    expect(suggestions).to_have_count(1)
    expect(suggestions).to_have_text("ada.lovelace")
    owner.fill("example.com")  # by email too
    expect(suggestions).to_have_count(2)
    owner.fill("ada")
    expect(suggestions).to_have_count(1)
    suggestions.locator("a").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(page.locator("#changelist-filter li.selected").first).to_contain_text("ada.lovelace")
    assert f"owner={desk['ada'].pk}" in page.url


def test_search_shows_the_hit_and_leads_to_it(page, live_server, staff, desk, monkeypatch):
    monkeypatch.setattr(ThreadAdmin, "transcript_page_size", 20)
    log_in(page, live_server, staff)
    page.goto(changelist(live_server))
    page.fill("#searchbar", "delivery")
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    hit = rows.locator(".threads-hit")
    expect(hit).to_contain_text("an answer about the delivery")
    expect(hit.locator("mark")).to_have_text("delivery")

    page.fill("#searchbar", "marmalade")
    page.press("#searchbar", "Enter")
    hit = page.locator("#result_list .threads-hit")
    expect(hit.locator("mark")).to_have_text("marmalade")
    expect(hit).to_contain_text("refund it to my card; the marmalade order can stay")
    screenshot(page, "find-threads-search.png")
    hit.click()
    # The thread's page, at that message, marked, and in view.
    current = page.locator("#transcript article.threads-current")
    expect(current).to_have_count(1)
    expect(current).to_contain_text("the marmalade order can stay")
    expect(current).to_be_in_viewport()
    expect(current.locator(".threads-here")).to_be_visible()
    # Saving the thread leads back to the search, as from any row of the list.
    assert "_changelist_filters=q%3Dmarmalade" in page.url

    # Deep in a long thread: the page that holds the hit, a little before it.
    page.goto(changelist(live_server) + "?q=%22Message+87%3A%22")
    page.locator("#result_list .threads-hit").click()
    current = page.locator("#transcript article.threads-current")
    expect(current).to_contain_text("Message 87: an answer")
    expect(current).to_be_in_viewport()
    expect(page.locator(".threads-position").first).to_have_text("Messages 86–105 of 120")


def test_messages_list_filters_searches_and_leads_to_the_thread(page, live_server, staff, desk):
    log_in(page, live_server, staff)
    page.goto(live_server.url + "/admin/threads_app/message/")
    filters = page.locator("#changelist-filter")
    filters.get_by_role("link", name="assistant", exact=True).click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(50)  # a page of them
    expect(page.locator("p.paginator")).to_contain_text("61 messages")  # 60 + 1
    page.fill("#searchbar", "fix retry")
    page.press("#searchbar", "Enter")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Here is the **fix**")
    rows.locator(f"a:has-text('{desk['refund'].public_id}')").click()
    current = page.locator("#transcript article.threads-current")
    expect(current).to_contain_text("Here is the fix")
    expect(current).to_be_in_viewport()


# Reading ----------------------------------------------------------------------


def test_transcript_says_where_you_are_and_jumps(page, live_server, staff, desk, monkeypatch):
    monkeypatch.setattr(ThreadAdmin, "transcript_page_size", 50)
    long = desk["long"]
    log_in(page, live_server, staff)
    page.goto(change(live_server, long))
    expect(page.locator("#transcript-heading")).to_have_text("Conversation · 120 messages")
    position = page.locator(".threads-position").first
    expect(position).to_have_text("Messages 1–50 of 120")
    page.locator(".threads-pages a[rel=next]").first.click()
    expect(position).to_have_text("Messages 51–100 of 120")
    page.locator(".threads-pages a:has-text('Latest')").first.click()
    expect(position).to_have_text("Messages 71–120 of 120")

    # A jump to a message ID: its page, a little before it, and it is marked.
    target = long.messages.order_by("seq")[30]
    page.fill("#threads-goto-input", target.public_id)
    page.press("#threads-goto-input", "Enter")
    current = page.locator("#transcript article.threads-current")
    expect(current).to_have_attribute("id", target.public_id)
    expect(current).to_be_in_viewport()
    expect(position).to_have_text("Messages 29–78 of 120")
    assert page.url.endswith("#" + target.public_id)

    # A jump to a date: the first message from then on.
    when = timezone.localtime(long.messages.order_by("seq")[100].created_at)
    page.fill("#threads-goto-input", when.strftime("%Y-%m-%d %H:%M"))
    page.click("#transcript .threads-goto button")
    current = page.locator("#transcript article.threads-current")
    expect(current).to_contain_text("Message 100:")
    expect(current).to_be_in_viewport()

    # Something that is neither: said so, and nothing else changes.
    page.fill("#threads-goto-input", "next tuesday")
    page.press("#threads-goto-input", "Enter")
    expect(page.locator(".messagelist")).to_contain_text("neither a message in this thread")
    expect(position).to_have_text("Messages 1–50 of 120")


def test_transcript_renders_markdown_safely(page, live_server, staff, desk, requests_seen):
    log_in(page, live_server, staff)
    page.goto(change(live_server, desk["hostile"]))
    text = page.locator("#transcript article .threads-rendered")
    expect(text).to_contain_text("<script>window.pwned = 'script'</script>")
    expect(text).to_contain_text("onerror=")
    # Nothing ran, no element came from the text, and no link leads to script.
    assert page.evaluate("window.pwned") is None
    assert text.locator("script, img, [onerror]").count() == 0
    text.get_by_text("click me", exact=False).click()
    assert page.evaluate("window.pwned") is None
    # The one link is the Markdown image's, as a link: its address was never asked for.
    link = text.locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://tracker.example.net/pixel.png")
    assert not any("tracker.example.net" in url for url in requests_seen)

    page.goto(change(live_server, desk["refund"]))
    answer = page.locator("#transcript article").nth(1)
    code = answer.locator(".threads-rendered pre code")
    expect(code).to_contain_text("for attempt in range(3):")
    assert "mono" in code.evaluate("e => getComputedStyle(e).fontFamily").lower()
    expect(answer.locator(".threads-rendered strong")).to_have_text("fix")
    expect(answer.locator(".threads-rendered li")).to_have_count(2)
    link = answer.locator(".threads-rendered a")
    expect(link).to_have_attribute("href", "https://docs.example.com/retry")
    expect(link).to_have_attribute("rel", "nofollow noopener noreferrer")
    # The toggle shows the text as written, and back.
    raw = answer.locator("pre.threads-raw")
    expect(raw).to_be_hidden()
    page.check("#threads-raw-toggle")
    expect(raw).to_be_visible()
    expect(raw).to_contain_text("```python")
    expect(answer.locator(".threads-rendered")).to_be_hidden()
    page.uncheck("#threads-raw-toggle")
    expect(raw).to_be_hidden()


def test_images_load_only_on_a_click(page, live_server, staff, desk, requests_seen):
    log_in(page, live_server, staff)
    page.goto(change(live_server, desk["refund"]))
    page.wait_for_load_state("networkidle")
    assert IMAGE_URL not in requests_seen
    button = page.locator(".threads-show-image")
    expect(button).to_contain_text("images.example.com")
    expect(page.locator("#transcript figcaption")).to_contain_text(IMAGE_URL)
    button.click()
    image = page.locator("#transcript .threads-image img")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('#transcript .threads-image img').complete")
    assert image.evaluate("img => img.naturalWidth") == 240
    assert IMAGE_URL in requests_seen
    assert image.get_attribute("referrerpolicy") == "no-referrer"


def test_transcript_sits_above_the_save_row(page, live_server, staff, desk):
    log_in(page, live_server, staff)
    page.goto(change(live_server, desk["refund"]))
    transcript = page.locator("#transcript").bounding_box()
    save = page.locator(".submit-row").last.bounding_box()
    fields = page.locator("fieldset.module").first.bounding_box()
    assert fields["y"] < transcript["y"] < save["y"]
    expect(page.locator("#transcript-heading")).to_have_text("Conversation · 5 messages")
    screenshot(page, "read-transcript.png", full_page=True)


def test_at_390_px(phone, live_server, staff, desk):
    log_in(phone, live_server, staff)
    phone.goto(changelist(live_server))
    expect(phone.locator("#result_list tbody tr")).to_have_count(5)
    screenshot(phone, "find-threads-390.png", full_page=True)
    phone.goto(change(live_server, desk["refund"]))
    transcript = phone.locator("#transcript")
    expect(transcript).to_be_visible()
    # The transcript itself never scrolls sideways on a phone; code blocks scroll inside.
    assert transcript.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    screenshot(phone, "read-transcript-390.png", full_page=True)


# The demo site's start page ----------------------------------------------------


def test_start_page_says_what_the_server_is(page, live_server, staff, settings):
    settings.ROOT_URLCONF = "project.urls"
    log_in(page, live_server, staff)
    page.locator("#user-tools a:has-text('View site')").click()
    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator("h1")).to_have_text("threads_app")
    expect(page.locator("#base-url")).to_have_text(live_server.url + "/v1")
    expect(page.locator("main")).to_contain_text("create_api_key")
    page.locator("a:has-text('API documentation')").click()
    expect(page).to_have_url(live_server.url + "/v1/docs")
    page.go_back()
    page.locator("a:has-text('Admin, for staff')").click()
    expect(page).to_have_url(live_server.url + "/admin/")
