"""Finding threads and reading them in the admin, through Django's test client.

What a browser is not needed for: the queries behind the list, the owner
suggestions' answers, where a jump lands, what the Markdown renderer lets
through, and the demo site's start page. tests/test_admin_find_read_browser.py
walks the same flows in Chromium.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from threads_app.admin import EstimatedCountPaginator, ThreadAdmin, snippet
from threads_app.markup import render_markdown
from threads_app.models import Thread

from .test_admin import (
    MIXED_ITEMS,
    add_items,
    admin_url,
    html,
    keys_query,
    listed_ids,
    make_message,
    make_thread,
)

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">raw link</a>',
    "[md link](javascript:alert(1))",
    "[spaced](  javascript:alert(1))",
    "[cased](JaVaScRiPt:alert(1))",
    "[entity](javascript&#58;alert(1))",
    "[tab](java\tscript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[vb](vbscript:msgbox(1))",
    "[relative](/admin/auth/user/1/delete/)",
    "![pixel](https://tracker.example.net/p.png)",
    '<div style="background:url(javascript:alert(1))">styled</div>',
    "<svg onload=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
]


def changelist(client, **params):
    return client.get(admin_url("thread", "changelist"), params)


# Markdown ----------------------------------------------------------------------


class TestMarkdown:
    @pytest.mark.parametrize("payload", PAYLOADS)
    def test_payloads_are_inert(self, payload):
        rendered = str(render_markdown(payload))
        tags = re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", rendered)
        # Only the tags the renderer itself makes, and links only to the web.
        assert set(tags) <= {"p", "a", "br"}, rendered
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", rendered, re.IGNORECASE), rendered
        for href in re.findall(r'href="([^"]*)"', rendered):
            assert href.startswith(("https:", "http:", "mailto:")), rendered
        assert "<img" not in rendered and "<script" not in rendered

    def test_links_to_the_web_open_apart(self):
        rendered = str(render_markdown("[guide](https://docs.example.com/a?b=1&c=2)"))
        assert rendered == (
            '<p><a href="https://docs.example.com/a?b=1&amp;c=2" target="_blank" '
            'rel="nofollow noopener noreferrer">guide</a></p>\n'
        )

    def test_code_lists_and_line_breaks(self):
        rendered = str(render_markdown(
            "Use **this**:\n\n```python\nif a < b:\n    pass\n```\n\n- one\n- two\n\nline\nbreak"
        ))
        code = '<pre><code class="language-python">if a &lt; b:\n    pass\n</code></pre>'
        assert code in rendered
        assert "<strong>this</strong>" in rendered and rendered.count("<li>") == 2
        # A chat's single line breaks are kept.
        assert "line<br />\nbreak" in rendered


def test_snippet_marks_every_term_around_the_first():
    middle = "The <b>refund</b> for order A-1 is late; refund soon. "
    text = "Intro. " + "x " * 50 + middle + "y " * 50
    shown = str(snippet(text, ["refund", "late"], 40))
    assert shown.startswith("…") and shown.endswith("…")
    assert shown.count("<mark>refund</mark>") == 2 and "<mark>late</mark>" in shown
    assert "&lt;b&gt;" in shown and "<b>" not in shown
    # No term in the text as read (it matched inside an address, say): the start.
    assert str(snippet("Just <text>", ["http"], 30)) == "Just &lt;text&gt;"


# The threads list --------------------------------------------------------------


class TestAbout:
    def test_title_from_metadata_then_first_user_message(self, admin_client, user):
        titled = make_thread(user, metadata={"subject": "S", "name": "N", "channel": "chat"})
        make_message(titled, "System prompt", role="system")
        make_message(titled, "What the user asked first")
        make_message(titled, "And then this")
        untitled = make_thread(user, ["Just a question " + "word " * 60])
        empty = make_thread(user)
        page = html(changelist(admin_client))
        rows = {t.public_id: t for t in Thread.objects.all()}
        assert set(rows) == {titled.public_id, untitled.public_id, empty.public_id}
        row = re.search(rf"{titled.public_id}.*?</tr>", page, re.S).group(0)
        # `name` comes before `subject`; the system prompt is not what a thread is about.
        assert "<strong>N</strong> What the user asked first" in row
        assert "subject=S" in row and "name=N" not in row  # the title's pair is not repeated
        row = re.search(rf"{untitled.public_id}.*?</tr>", page, re.S).group(0)
        assert "Just a question word" in row and "…" in row
        row = re.search(rf"{empty.public_id}.*?</tr>", page, re.S).group(0)
        assert "no user message yet" in row

    def test_sorting_by_last_activity(self, admin_client, user):
        now = timezone.now()
        quiet = make_thread(user, created_at=now - timedelta(days=3))
        busy = make_thread(user, ["old"], created_at=now - timedelta(days=9))
        busy.messages.update(created_at=now - timedelta(days=1))
        empty_recent = make_thread(user, created_at=now - timedelta(hours=2))
        order = admin_url("thread", "changelist")
        assert listed_ids(admin_client.get(order, {"o": "-5"})) == [
            empty_recent.public_id, busy.public_id, quiet.public_id,
        ]
        assert listed_ids(admin_client.get(order, {"o": "5"})) == [
            quiet.public_id, busy.public_id, empty_recent.public_id,
        ]


class TestSearchHits:
    def test_hit_is_a_snippet_linking_to_its_message(self, admin_client, user):
        thread = make_thread(user)
        make_message(thread, "Nothing to see")
        hit = make_message(thread, "Here the <em>kettle</em> is mentioned", role="assistant")
        make_message(thread, "kettle again, later")
        response = changelist(admin_client, q="kettle")
        page = html(response)
        change = admin_url("thread", "change", thread.pk)
        query = f"_changelist_filters=q%3Dkettle&amp;message={hit.public_id}"
        link = f"{change}?{query}#{hit.public_id}"
        assert f'<a class="threads-hit" href="{link}">' in page
        assert "Here the &lt;em&gt;<mark>kettle</mark>&lt;/em&gt; is mentioned" in page

    def test_hit_of_an_item_id_and_of_a_word_inside_an_item(self, admin_client, user, api):
        thread = make_thread(user, ["hello"])
        items = add_items(api, thread, MIXED_ITEMS)
        call = next(item for item in items if item["type"] == "function_call")
        page = html(changelist(admin_client, q=call["id"]))
        assert f"message={call['id']}#{call['id']}" in page
        page = html(changelist(admin_client, q="get_weather"))
        assert '<span class="threads-hit-role">function_call</span>' in page
        assert "<mark>get_weather</mark>" in page

    def test_conversation_id_finds_its_thread(self, admin_client, user, other_user):
        thread = make_thread(user, ["one"])
        make_thread(other_user, ["two"])
        conversation = "conv_" + thread.public_id.removeprefix("thread_")
        assert listed_ids(changelist(admin_client, q=conversation)) == [thread.public_id]

    @pytest.mark.parametrize("threads", [2, 12])
    def test_queries_do_not_grow_with_hits(
        self, admin_client, user, django_assert_num_queries, threads
    ):
        for i in range(threads):
            make_thread(user, [f"needle {i}", "hay"], metadata={"n": str(i)})
        # Session, user, the search's keys, the page's keys, rows, details, messages.
        with django_assert_num_queries(7):
            response = changelist(admin_client, q="needle")
        assert len(listed_ids(response)) == threads
        assert all(t.hit for t in response.context["cl"].result_list)


class TestCountLimit:
    def test_a_filtered_list_counts_up_to_the_limit_and_says_more(
        self, admin_client, user, monkeypatch
    ):
        monkeypatch.setattr(EstimatedCountPaginator, "count_limit", 4)
        monkeypatch.setattr(ThreadAdmin, "list_per_page", 2)
        threads = [make_thread(user, [f"needle {i}"]) for i in range(6)]
        newest_first = [t.public_id for t in reversed(threads)]
        with CaptureQueriesContext(connection) as queries:
            response = changelist(admin_client, q="needle")
        cl = response.context["cl"]
        assert cl.result_count == 4 and cl.paginator.capped and cl.paginator.num_pages == 2
        page = html(response)
        assert "more than 4 results" in page
        assert "More than 4 threads: the first 4 are listed" in page
        assert listed_ids(response) == newest_first[:2]
        # The search ran once, for the keys; the page read its rows by them.
        assert sum("LIKE" in q["sql"] and "LIMIT 5" in q["sql"] for q in queries) == 1
        assert listed_ids(changelist(admin_client, q="needle", p=2)) == newest_first[2:4]

    def test_a_short_filtered_list_is_read_by_key_once(self, admin_client, user):
        make_thread(user, ["needle"])
        with CaptureQueriesContext(connection) as queries:
            response = changelist(admin_client, q="needle")
        assert response.context["cl"].result_count == 1
        assert not response.context["cl"].paginator.capped
        # Only the keys' query searches every thread; the others read the ones it found.
        keyed = re.compile(r'"threads_app_thread"\."seq" IN \(\d+\)')
        searches = [q["sql"] for q in queries if "LIKE" in q["sql"] and not keyed.search(q["sql"])]
        assert searches == [keys_query(queries)]


class TestOwnerSuggestions:
    def url(self, **params):
        return admin_url("thread", "owners")

    def test_owners_only_by_name_or_email(self, admin_client, user, other_user):
        users = get_user_model().objects
        idle = users.create_user("alina", "alina@example.com")  # owns nothing
        user.email = "alice@example.com"
        user.save()
        make_thread(user)
        make_thread(other_user)
        assert admin_client.get(self.url(), {"term": "ali"}).json() == {
            "results": [{"id": str(user.pk), "text": "alice"}], "more": False,
        }
        found = admin_client.get(self.url(), {"term": "example.com"}).json()["results"]
        assert found == [{"id": str(user.pk), "text": "alice"}]
        everyone = admin_client.get(self.url()).json()["results"]
        assert [u["text"] for u in everyone] == ["alice", "mallory"]
        assert str(idle.pk) not in {u["id"] for u in everyone}

    def test_a_page_at_a_time(self, admin_client, monkeypatch, django_assert_max_num_queries):
        monkeypatch.setattr(ThreadAdmin, "owner_suggestions", 3)
        for i in range(5):
            make_thread(get_user_model().objects.create_user(f"owner{i}"))
        with django_assert_max_num_queries(3):  # session, user, the suggestions
            answer = admin_client.get(self.url(), {"term": "owner"}).json()
        assert [u["text"] for u in answer["results"]] == ["owner0", "owner1", "owner2"]
        assert answer["more"] is True

    def test_needs_permission_to_see_threads(self, client, user):
        make_thread(user)
        staff = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
        client.force_login(staff)
        assert client.get(self.url()).status_code == 403
        staff.user_permissions.add(Permission.objects.get(codename="view_thread"))
        assert client.get(self.url()).json()["results"][0]["text"] == "alice"

    def test_filter_by_owner_and_a_bad_value(self, admin_client, user, other_user):
        mine = make_thread(user)
        make_thread(other_user)
        response = changelist(admin_client, owner=user.pk)
        assert listed_ids(response) == [mine.public_id]
        assert '<li class="selected"><a href="?owner=' in html(response)
        assert "alice" in html(response)
        bad = changelist(admin_client, owner="not-a-key")
        assert listed_ids(bad) == [] and "no such user" in html(bad)


# The transcript ------------------------------------------------------------------


class TestTranscriptPlace:
    @pytest.fixture
    def thread(self, user, monkeypatch):
        monkeypatch.setattr(ThreadAdmin, "transcript_page_size", 10)
        start = timezone.now() - timedelta(days=1)
        thread = make_thread(user)
        for i in range(35):
            make_message(thread, f"m{i}", role="user" if i % 2 == 0 else "assistant")
        for i, message in enumerate(thread.messages.order_by("seq")):
            message.created_at = start + timedelta(minutes=10 * i)
            message.save(update_fields=["created_at"])
        return thread

    def texts(self, response) -> list[str]:
        return [e["parts"][0]["text"] for e in response.context["transcript"].entries]

    def test_says_where_the_page_is(self, admin_client, thread):
        change = admin_url("thread", "change", thread.pk)
        first = admin_client.get(change)
        page = html(first)
        assert "Conversation · 35 messages" in page and "Messages 1–10 of 35" in page
        latest = admin_client.get(change, {"latest": 1})
        assert "Messages 26–35 of 35" in html(latest)
        middle = admin_client.get(change, {"after": thread.messages.order_by("seq")[14].seq})
        assert "Messages 16–25 of 35" in html(middle)

    def test_a_message_named_is_shown_in_context_and_marked(self, admin_client, thread):
        target = thread.messages.order_by("seq")[20]
        response = admin_client.get(admin_url("thread", "change", thread.pk),
                                    {"message": target.public_id})
        # Two rows before it, as context.
        assert self.texts(response) == [f"m{i}" for i in range(18, 28)]
        assert [e["current"] for e in response.context["transcript"].entries].count(True) == 1
        page = html(response)
        assert f'threads-current" id="{target.public_id}" aria-current="true"' in page
        assert "Messages 19–28 of 35" in page
        # Near the start there is no context to show before it.
        early = thread.messages.order_by("seq")[1]
        response = admin_client.get(admin_url("thread", "change", thread.pk),
                                    {"message": early.public_id})
        assert self.texts(response)[:2] == ["m0", "m1"]
        assert response.context["transcript"].previous_url is None

    def test_jumps_redirect_to_the_row(self, admin_client, thread, other_user):
        change = admin_url("thread", "change", thread.pk)
        target = thread.messages.order_by("seq")[30]
        response = admin_client.get(change, {"goto": f"  {target.public_id} "})
        assert response.status_code == 302
        assert response.url == f"{change}?message={target.public_id}#{target.public_id}"
        # A date: the first message from then on, in the site's time zone.
        at = timezone.localtime(thread.messages.order_by("seq")[12].created_at)
        for typed in (at.strftime("%Y-%m-%d %H:%M"), at.strftime("%Y-%m-%dT%H:%M:%S")):
            response = admin_client.get(change, {"goto": typed})
            landed = thread.messages.get(public_id=response.url.split("#")[1])
            assert landed.created_at >= at.replace(second=0, microsecond=0)
            assert thread.messages.filter(seq__lt=landed.seq, created_at__gte=landed.created_at
                                          ).count() == 0
        day = thread.messages.order_by("seq")[0].created_at.date().isoformat()
        response = admin_client.get(change, {"goto": day})
        assert response.url.endswith("#" + thread.messages.order_by("seq")[0].public_id)
        # A date after the last message: the last one, said so.
        response = admin_client.get(change, {"goto": "2999-01-01"}, follow=True)
        assert "the latest message" in html(response)
        # Not a row of this thread, nor a date: said so, on the thread's first page.
        other = make_message(make_thread(other_user), "elsewhere")
        for typed in (other.public_id, "yesterday", "2026-02-30"):
            response = admin_client.get(change, {"goto": typed, "_changelist_filters": "q=x"},
                                        follow=True)
            page = html(response)
            assert "is neither a message in this thread nor a date" in page
            assert response.redirect_chain[0][0] == f"{change}?_changelist_filters=q%3Dx#transcript"

    def test_a_null_character_names_no_row(self, admin_client, thread):
        """No ID holds one, and PostgreSQL cannot compare a string that does: no 500."""
        change = admin_url("thread", "change", thread.pk)
        response = admin_client.get(change, {"goto": "msg_\x00"}, follow=True)
        assert "is neither a message in this thread nor a date" in html(response)
        response = admin_client.get(change, {"message": "msg_\x00"})
        assert self.texts(response)[0] == "m0"

    def test_jump_needs_the_thread(self, admin_client, thread):
        response = admin_client.get(admin_url("thread", "change", 10**9), {"goto": "x"})
        assert response.status_code == 302 and response.url == "/admin/"

    def test_hostile_text_is_inert_in_the_page(self, admin_client, user):
        thread = make_thread(user)
        make_message(thread, "\n\n".join(PAYLOADS))
        page = html(admin_client.get(admin_url("thread", "change", thread.pk)))
        transcript = page[page.index('id="transcript"'):page.index("</section>")]
        assert "<script" not in transcript and "<iframe" not in transcript
        assert "<img" not in transcript and "<svg" not in transcript
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", transcript)
        assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', transcript)).lower()
        # The raw text is there too, escaped, for the toggle.
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in transcript

    def test_transcript_is_inside_the_form_above_the_save_row(self, admin_client, user):
        thread = make_thread(user, ["hello"])
        page = html(admin_client.get(admin_url("thread", "change", thread.pk)))
        form = page.index('id="thread_form"')
        assert form < page.index('id="transcript"') < page.rindex('class="submit-row"')
        # The jump field is the jump form's, not the thread form's.
        assert 'name="goto" id="threads-goto-input" form="threads-goto"' in page
        assert page.index('<form id="threads-goto"') > page.index("</form>")


# The demo site's start page ------------------------------------------------------


def test_start_page(client, settings):
    settings.ROOT_URLCONF = "project.urls"
    response = client.get("/", HTTP_HOST="threads.example.com")
    page = html(response)
    assert '<code id="base-url">http://threads.example.com/v1</code>' in page
    assert 'href="/v1/docs"' in page and 'href="/admin/"' in page
    assert "create_api_key" in page and 'href="/admin/threads_app/apikey/"' in page


def test_word_search_can_use_the_trigram_indexes_on_postgresql(user):
    """The indexes of migration 0007 are on the very expressions the search compares."""
    if connection.vendor != "postgresql":
        pytest.skip("the trigram indexes are PostgreSQL's; SQLite reads the messages")
    from threads_app.models import Message
    from threads_app.store.search import text_condition

    make_thread(user, ["a needle in a haystack"])
    search = Message.objects.filter(text_condition("needle")).order_by()
    sql, params = search.query.sql_with_params()
    with connection.cursor() as cursor:
        # A table this small is read whole unless reading it is ruled out.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "threads_app_message_text_trgm" in plan and "threads_app_message_item_trgm" in plan


# The messages list ---------------------------------------------------------------


class TestMessageList:
    def listed(self, response) -> list[str]:
        return [message.public_id for message in response.context["cl"].result_list]

    def get(self, client, **params):
        return client.get(admin_url("message", "changelist"), params)

    def test_thread_links_to_the_message_in_its_transcript(self, admin_client, client, user):
        thread = make_thread(user)
        message = make_message(thread, "hello there")
        page = html(self.get(admin_client))
        change = admin_url("thread", "change", thread.pk)
        link = f'<a href="{change}?message={message.public_id}#{message.public_id}">'
        assert f"{link}{thread.public_id}</a>" in page
        # Someone who may not read threads sees the ID, not a link to a refusal.
        clerk = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
        clerk.user_permissions.add(Permission.objects.get(codename="view_message"))
        client.force_login(clerk)
        page = html(self.get(client))
        assert thread.public_id in page and change not in page

    def test_filters_by_role_and_type(self, admin_client, user, api):
        thread = make_thread(user, ["question", "answer"])
        items = add_items(api, thread, MIXED_ITEMS)
        by_type = {item["type"]: item["id"] for item in items}
        assert self.listed(self.get(admin_client, type="function_call")) == [
            by_type["function_call"]
        ]
        assert self.listed(self.get(admin_client, type="reasoning")) == [by_type["reasoning"]]
        system = [item["id"] for item in items if item.get("role") == "system"]
        assert self.listed(self.get(admin_client, role="system")) == system
        assert len(self.listed(self.get(admin_client, role="assistant", type="message"))) == 2
        page = html(self.get(admin_client))
        assert "?type=function_call_output" in page and "?role__exact=developer" in page

    def test_search_by_words_and_by_ids(self, admin_client, user, other_user, api):
        thread = make_thread(user)
        first = make_message(thread, "The kettle is broken")
        second = make_message(thread, "A new kettle was sent", role="assistant")
        other = make_message(make_thread(other_user), "Kettle? No, a toaster.")
        items = add_items(api, thread, MIXED_ITEMS)
        call = next(item for item in items if item["type"] == "function_call")

        def search(term):
            return self.listed(self.get(admin_client, q=term))

        assert search("kettle") == [other.public_id, second.public_id, first.public_id]
        assert search("kettle broken") == [first.public_id]  # every word, in one message
        assert search('"new kettle"') == [second.public_id]
        assert search("get_weather") == [call["id"]]  # inside an item
        assert search(first.public_id) == [first.public_id]
        assert search(call["id"]) == [call["id"]]
        in_thread = search(thread.public_id)
        assert len(in_thread) == 2 + len(MIXED_ITEMS) and other.public_id not in in_thread
        conversation = "conv_" + thread.public_id.removeprefix("thread_")
        assert search(conversation) == in_thread
        assert search(f"{thread.public_id} toaster") == []
        assert search("thread_" + "x" * 24) == []

    def test_text_search_reads_its_keys_once(self, admin_client, user):
        thread = make_thread(user)
        for i in range(3):
            make_message(thread, f"needle {i}")
        with CaptureQueriesContext(connection) as queries:
            response = self.get(admin_client, q="needle")
        assert len(self.listed(response)) == 3
        assert not [q["sql"] for q in queries if q["sql"].startswith("SELECT COUNT(")]
        assert keys_query(queries).count("LIKE") == 2  # content and item, once


def test_a_huge_thread_is_not_counted_in_the_list(admin_client, user, monkeypatch):
    monkeypatch.setattr(ThreadAdmin, "message_count_limit", 3)
    small = make_thread(user, ["a", "b", "c"])
    huge = make_thread(user, ["a", "b", "c", "d"])
    response = changelist(admin_client)
    counts = {t.public_id: t.message_count for t in response.context["cl"].result_list}
    assert counts == {small.public_id: 3, huge.public_id: None}
    assert ">3+</span>" in html(response)
    # Its own page counts it.
    page = html(admin_client.get(admin_url("thread", "change", huge.pk)))
    assert "Conversation · 4 messages" in page
