"""The staff admin through Django's test client: list, search, transcript, edits, keys."""

import io
import json
import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from threads_app import signals, store
from threads_app.admin import EstimatedCountPaginator, ThreadAdmin
from threads_app.models import APIKey, Message, Thread, Tombstone, hash_api_key
from threads_app.transfer import EXPORT_CONTENT_TYPE
from threads_app.validation import clean_content

from .conftest import url

pytestmark = pytest.mark.django_db


def admin_url(model: str, view: str, *args) -> str:
    return reverse(f"admin:threads_app_{model}_{view}", args=args)


def make_thread(owner, texts=(), metadata=None, created_at=None, **fields) -> Thread:
    thread = Thread.objects.create(
        owner=owner, metadata=metadata or {}, created_at=created_at or timezone.now(), **fields
    )
    for i, text in enumerate(texts):
        make_message(thread, text, role="user" if i % 2 == 0 else "assistant")
    return thread


def make_message(thread, content, role="user", **fields) -> Message:
    now = timezone.now()
    return Message.objects.create(
        thread=thread, role=role, content=clean_content(content), created_at=now,
        completed_at=now, **fields,
    )


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def field_block(page: str, name: str) -> str:
    """The HTML of one admin form row: where a field's errors must appear."""
    match = re.search(
        rf'<div class="form-row[^"]*\bfield-{name}\b.*?(?=<div class="form-row|</fieldset>)',
        page, re.S,
    )
    assert match, f"no form row for {name}"
    return match.group(0)


def top_level(sql: str) -> str:
    """``sql`` without its parenthesized parts: the outer query alone."""
    while (shorter := re.sub(r"\([^()]*\)", "", sql)) != sql:
        sql = shorter
    return sql


def listed_ids(response) -> list[str]:
    return [thread.public_id for thread in response.context["cl"].result_list]


def keys_query(queries) -> str:
    """The query in which a filtered list finds its rows: their keys, up to the count's limit."""
    limit = f"LIMIT {EstimatedCountPaginator.count_limit + 1}"
    return next(q["sql"] for q in queries if limit in q["sql"])


def message_form_data(message: Message, **changes) -> dict:
    """What the change form posts when left as it is, with ``changes`` on top."""
    data: dict = {}
    for i, part in enumerate(message.content):
        data[f"content-{i}-type"] = part["type"]
        data[f"content-{i}-part"] = str(i)
        if part["type"] == "text":
            data[f"content-{i}-text"] = part["text"]["value"]
        elif part["type"] == "image_url":
            data[f"content-{i}-url"] = part["image_url"]["url"]
            data[f"content-{i}-detail"] = part["image_url"]["detail"]
        else:
            data[f"content-{i}-file_id"] = part["image_file"]["file_id"]
            data[f"content-{i}-detail"] = part["image_file"]["detail"]
    for i, attachment in enumerate(message.attachments):
        data[f"attachments-{i}-file_id"] = attachment["file_id"]
        data[f"attachments-{i}-tools"] = [tool["type"] for tool in attachment["tools"]]
    for i, (key, value) in enumerate(message.metadata.items()):
        data[f"metadata-{i}-key"] = key
        data[f"metadata-{i}-value"] = value
    data.update(changes)
    return data


def metadata_rows(pairs: dict, start: int = 0) -> dict:
    data = {}
    for i, (key, value) in enumerate(pairs.items(), start):
        data[f"metadata-{i}-key"] = key
        data[f"metadata-{i}-value"] = value
    return data


# The list ------------------------------------------------------------------


class TestThreadList:
    def test_shows_counts_activity_and_metadata(self, admin_client, user):
        quiet = make_thread(user, metadata={"customer": "42"})
        busy = make_thread(user, ["one", "two", "three"])
        last = busy.messages.order_by("-seq").first()
        response = admin_client.get(admin_url("thread", "changelist"))
        page = html(response)
        rows = {t.public_id: t for t in response.context["cl"].result_list}
        assert rows[busy.public_id].message_count == 3
        assert rows[busy.public_id].last_activity == last.created_at
        assert rows[quiet.public_id].message_count == 0
        assert rows[quiet.public_id].last_activity == quiet.created_at
        assert "customer=42" in page
        # Newest first.
        assert listed_ids(response) == [busy.public_id, quiet.public_id]

    @pytest.mark.parametrize("rows", [2, 30])
    def test_query_count_does_not_grow_with_rows(
        self, admin_client, user, django_assert_num_queries, rows
    ):
        for i in range(rows):
            make_thread(user, ["hello", "hi"], metadata={"n": str(i)})
        # Session, user, count, the page's keys, its rows, their details (counts,
        # activity, first messages), those messages; on PostgreSQL also the row
        # estimate, which replaces the count on large tables.
        with django_assert_num_queries(7 + (connection.vendor == "postgresql")):
            response = admin_client.get(admin_url("thread", "changelist"))
        assert len(listed_ids(response)) == rows
        assert all(t.message_count == 2 for t in response.context["cl"].result_list)

    def test_activity_is_computed_per_row_of_the_page_only(self, admin_client, user, monkeypatch):
        monkeypatch.setattr(ThreadAdmin, "list_per_page", 2)
        threads = [make_thread(user, ["hello"] * i) for i in range(4)]
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(admin_url("thread", "changelist"), {"p": "2"})
        assert [t.message_count for t in response.context["cl"].result_list] == [1, 0]
        activity = [q["sql"] for q in queries if "last_activity" in q["sql"]]
        assert len(activity) == 1
        outer = top_level(activity[0])
        # Correlated subqueries over the page's rows, not a join or GROUP BY over all.
        assert "GROUP BY" not in outer and "threads_app_message" not in outer
        assert "OFFSET" not in outer.upper()  # the page's rows, not a page of all
        assert re.search(rf"IN \({threads[1].pk}, {threads[0].pk}\)|IN \({threads[0].pk}, "
                         rf"{threads[1].pk}\)", activity[0])

    def test_search(self, admin_client, user, other_user):
        found = make_thread(user, ["The quick brown fox", 'She said "hello"'],
                            metadata={"ticket": "ZX-9"})
        other = make_thread(other_user, ["lazy dog"], metadata={"region": "eu"})
        message = found.messages.first()

        def search(term):
            return listed_ids(admin_client.get(admin_url("thread", "changelist"), {"q": term}))

        assert search(found.public_id) == [found.public_id]
        assert search(message.public_id) == [found.public_id]
        assert search("ticket") == [found.public_id]  # a metadata key
        assert search("zx-9") == [found.public_id]  # a value, any case
        assert search("BROWN") == [found.public_id]  # a word in a message
        assert search("dog") == [other.public_id]
        assert search('"quick brown"') == [found.public_id]
        assert search('"said \\"hello"') == [found.public_id]  # quotes, escaped in the JSON
        assert search("fox dog") == []  # every word must match
        assert search("nowhere") == []

    def test_search_uses_exists_without_join_or_distinct(self, admin_client, user):
        make_thread(user, ["needle", "needle again"])
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(admin_url("thread", "changelist"), {"q": "needle"})
        assert len(listed_ids(response)) == 1
        search = keys_query(queries)
        assert "EXISTS" in search and "DISTINCT" not in search
        assert not any("JOIN " + connection.ops.quote_name("threads_app_message") in q["sql"]
                       for q in queries)

    def test_ids_are_looked_up_without_reading_messages(self, admin_client, user):
        thread = make_thread(user, ["hello"])
        message = thread.messages.get()
        for term in (thread.public_id, message.public_id):
            with CaptureQueriesContext(connection) as queries:
                response = admin_client.get(admin_url("thread", "changelist"), {"q": term})
            assert listed_ids(response) == [thread.public_id]
            search = keys_query(queries)
            assert "EXISTS" not in search and "LIKE" not in search

    def test_filters(self, admin_client, user, other_user):
        only_user = make_thread(user, ["question"])
        both = make_thread(other_user, ["question", "answer"])
        old = make_thread(user, created_at=timezone.now() - timedelta(days=800))
        changelist = admin_url("thread", "changelist")

        assert listed_ids(admin_client.get(changelist, {"role": "assistant"})) == [both.public_id]
        assert set(listed_ids(admin_client.get(changelist, {"role": "user"}))) == {
            only_user.public_id, both.public_id,
        }
        assert listed_ids(admin_client.get(changelist, {"owner": other_user.pk})) == [
            both.public_id
        ]
        a_year_ago = timezone.now() - timedelta(days=365)
        before = admin_client.get(changelist, {"created_at__lt": a_year_ago.isoformat()})
        assert listed_ids(before) == [old.public_id]
        # Creation by ranges, offered without reading the threads.
        page = html(admin_client.get(changelist))
        assert "created_at__gte=" in page and "This year" in page

    def test_no_full_count(self, admin_client, user):
        make_thread(user)
        with CaptureQueriesContext(connection) as queries:
            admin_client.get(admin_url("thread", "changelist"), {"q": "x"})
        # A filtered list reads its keys (up to a limit) rather than counting; and
        # show_full_result_count is off.
        assert not [q["sql"] for q in queries if q["sql"].startswith("SELECT COUNT(")]
        assert "WHERE" in keys_query(queries)


class TestEstimatedCount:
    def test_sqlite_and_small_tables_count_exactly(self, user):
        make_thread(user)
        make_thread(user)
        assert EstimatedCountPaginator(Thread.objects.order_by("seq"), 10).count == 2

    def test_large_unfiltered_table_on_postgresql_is_estimated(self, user):
        if connection.vendor != "postgresql":
            pytest.skip("the estimate is PostgreSQL's pg_class.reltuples")
        for _ in range(5):
            make_thread(user)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE threads_app_thread")
        paginator = EstimatedCountPaginator(Thread.objects.order_by("seq"), 10)
        paginator.estimate_from = 1
        with CaptureQueriesContext(connection) as queries:
            assert paginator.count == 5
        assert len(queries) == 1 and "reltuples" in queries[0]["sql"]
        filtered = EstimatedCountPaginator(Thread.objects.filter(owner=user), 10)
        filtered.estimate_from = 1
        with CaptureQueriesContext(connection) as queries:
            assert filtered.count == 5
        # A filtered list's keys, up to its count's limit.
        assert f"LIMIT {filtered.count_limit + 1}" in queries[0]["sql"]


# The transcript -------------------------------------------------------------


class TestTranscript:
    def test_reads_as_a_conversation(self, admin_client, user):
        thread = make_thread(user, metadata={"customer": "42"})
        attachment = {"file_id": "file_att", "tools": [{"type": "file_search"}]}
        first = make_message(thread, "Hello <b>there</b>", metadata={"lang": "en"},
                             attachments=[attachment])
        second = make_message(thread, [
            {"type": "text", "text": "Here is the chart"},
            {"type": "image_url", "image_url": {"url": "https://example.com/chart.png"}},
            {"type": "image_file", "image_file": {"file_id": "file_img", "detail": "high"}},
        ], role="assistant")
        page = html(admin_client.get(admin_url("thread", "change", thread.pk)))
        transcript = page[page.index('id="transcript"'):]
        assert transcript.index(first.public_id) < transcript.index(second.public_id)
        assert "Hello &lt;b&gt;there&lt;/b&gt;" in transcript  # escaped, never markup
        # An image is named, not loaded: showing it takes a click.
        assert 'data-src="https://example.com/chart.png"' in transcript
        assert "<strong>example.com</strong>" in transcript and "<img" not in transcript
        assert "file_img" in transcript and "file_att" in transcript and "file_search" in transcript
        assert "<dt>lang</dt><dd>en</dd>" in transcript
        assert 'class="threads-message threads-role-assistant"' in transcript
        assert admin_url("message", "change", first.pk) in transcript
        assert admin_url("message", "add") + "?thread=" + thread.public_id in transcript
        # The thread's own fields sit on the same page, editable.
        assert 'name="metadata-0-key" value="customer"' in page
        assert 'name="tool_resources-code_interpreter"' in page

    @pytest.mark.parametrize("messages", [3, 40])
    def test_query_count_does_not_grow_with_messages(
        self, admin_client, user, django_assert_num_queries, messages
    ):
        thread = make_thread(user, [f"message {i}" for i in range(messages)])
        # session, user, thread with owner, one page of messages, where the page stands.
        with django_assert_num_queries(5):
            response = admin_client.get(admin_url("thread", "change", thread.pk))
        assert len(response.context["transcript"].entries) == messages

    def test_long_threads_are_paged(self, admin_client, user, monkeypatch):
        monkeypatch.setattr(ThreadAdmin, "transcript_page_size", 3)
        thread = make_thread(user, [f"m{i}" for i in range(8)])
        change = admin_url("thread", "change", thread.pk)

        def texts(response):
            return [e["parts"][0]["text"] for e in response.context["transcript"].entries]

        first = admin_client.get(change)
        transcript = first.context["transcript"]
        assert texts(first) == ["m0", "m1", "m2"]
        assert transcript.previous_url is None and transcript.first_url is None
        second = admin_client.get(change + transcript.next_url.split("#")[0])
        assert texts(second) == ["m3", "m4", "m5"]
        back = admin_client.get(change + second.context["transcript"].previous_url.split("#")[0])
        assert texts(back) == ["m0", "m1", "m2"]
        latest = admin_client.get(change + transcript.latest_url.split("#")[0])
        assert texts(latest) == ["m5", "m6", "m7"]
        assert latest.context["transcript"].next_url is None
        earlier = admin_client.get(change + latest.context["transcript"].previous_url.split("#")[0])
        assert texts(earlier) == ["m2", "m3", "m4"]
        # Nonsense positions read as none; a huge one is the end, not a database error.
        assert texts(admin_client.get(change, {"after": "x²"})) == ["m0", "m1", "m2"]
        assert texts(admin_client.get(change, {"before": "9" * 30})) == ["m5", "m6", "m7"]

    def test_thread_metadata_and_tool_resources_are_edited_by_the_api_rules(
        self, admin_client, user, api
    ):
        thread = make_thread(user, metadata={"a": "1"})
        change = admin_url("thread", "change", thread.pk)
        response = admin_client.post(change, {
            **metadata_rows({"a": "2", "b": "3"}),
            "tool_resources-code_interpreter": "file_1, file_2",
            "tool_resources-file_search": "vs_1",
        })
        assert response.status_code == 302
        stored = api.get(url("thread-detail", thread_id=thread.public_id)).json()
        assert stored["metadata"] == {"a": "2", "b": "3"}
        assert stored["tool_resources"] == {
            "code_interpreter": {"file_ids": ["file_1", "file_2"]},
            "file_search": {"vector_store_ids": ["vs_1"]},
        }
        refused = admin_client.post(change, {
            **metadata_rows({"a": "2"}), "tool_resources-file_search": "vs_1 vs_2",
        })
        assert "at most 1 items" in field_block(html(refused), "tool_resources")
        thread.refresh_from_db()
        assert thread.metadata == {"a": "2", "b": "3"}

    def test_add_a_thread(self, admin_client, user, api):
        response = admin_client.post(admin_url("thread", "add"), {
            "owner": user.pk, **metadata_rows({"source": "admin"}),
            "tool_resources-code_interpreter": "file_9",
        })
        assert response.status_code == 302
        thread = Thread.objects.get()
        got = api.get(url("thread-detail", thread_id=thread.public_id)).json()
        assert got["metadata"] == {"source": "admin"}
        assert got["tool_resources"] == {"code_interpreter": {"file_ids": ["file_9"]}}

    def test_saving_unchanged_keeps_the_stored_value(self, admin_client, user):
        resources = {"code_interpreter": {"file_ids": []}}
        thread = make_thread(user, metadata={"k": "v"}, tool_resources=resources)
        response = admin_client.post(admin_url("thread", "change", thread.pk),
                                     metadata_rows({"k": "v"}))
        assert response.status_code == 302
        thread.refresh_from_db()
        assert thread.tool_resources == resources and thread.metadata == {"k": "v"}


# Editing messages -------------------------------------------------------------


class TestMessageEdit:
    def test_edit_is_what_the_api_returns_next(self, admin_client, user, api):
        thread = make_thread(user)
        message = make_message(thread, [
            {"type": "text", "text": "first part"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "text", "text": "second part"},
        ], metadata={"topic": "billing", "drop": "me"},
            attachments=[{"file_id": "file_1", "tools": [{"type": "code_interpreter"}]}])
        change = admin_url("message", "change", message.pk)
        form_page = html(admin_client.get(change))
        # Two parts, a blank one to add, and the blank one "Add another" copies.
        assert form_page.count("<textarea") == 4
        data = message_form_data(message, **{
            "content-0-text": "first part, corrected",
            "content-1-detail": "low",
            "content-2-remove": "on",
            "content-3-type": "text", "content-3-extra": "1", "content-3-text": "added",
            "metadata-0-value": "support",
            "metadata-1-remove": "on",
            "metadata-2-key": "new", "metadata-2-value": "pair",
            "attachments-0-tools": ["code_interpreter", "file_search"],
        })
        response = admin_client.post(change, data)
        assert response.status_code == 302
        # Back to the transcript page that marks the message.
        transcript = admin_url("thread", "change", thread.pk)
        assert response["Location"] == (
            f"{transcript}?message={message.public_id}#{message.public_id}")
        got = api.get(url("message-detail", thread_id=thread.public_id,
                          message_id=message.public_id)).json()
        assert got["content"] == [
            {"type": "text", "text": {"value": "first part, corrected", "annotations": []}},
            {"type": "image_url",
             "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
            {"type": "text", "text": {"value": "added", "annotations": []}},
        ]
        assert got["metadata"] == {"topic": "support", "new": "pair"}
        assert got["attachments"] == [{"file_id": "file_1", "tools": [
            {"type": "code_interpreter"}, {"type": "file_search"}]}]
        message.refresh_from_db()
        assert message.content == got["content"]

    @pytest.mark.parametrize("changes, field, error", [
        ({"metadata-0-key": "k" * 65}, "metadata", "keys may have at most 64"),
        ({"metadata-0-value": "v" * 513}, "metadata", "values may have at most 512"),
        (metadata_rows({f"key{i}": "v" for i in range(17)}), "metadata", "at most 16"),
        ({"metadata-5-key": "", "metadata-5-value": "orphan"}, "metadata", "needs a key"),
        ({"metadata-5-key": "topic", "metadata-5-value": "again"}, "metadata", "more than once"),
        ({"content-0-text": ""}, "content", "must be non-empty"),
        ({"content-0-remove": "on"}, "content", "must be non-empty"),
        ({"content-1-type": "image_url", "content-1-url": "ftp://example.com/x.png"},
         "content", "http or https"),
        ({"attachments-0-file_id": "", "attachments-0-tools": ["file_search"]},
         "attachments", "empty string"),
    ])
    def test_invalid_edits_show_next_to_the_field_and_save_nothing(
        self, admin_client, user, changes, field, error
    ):
        thread = make_thread(user)
        message = make_message(thread, "keep me", metadata={"topic": "billing"})
        before = Message.objects.values().get(pk=message.pk)
        response = admin_client.post(admin_url("message", "change", message.pk),
                                     message_form_data(message, **changes))
        page = html(response)
        assert "errornote" in page
        assert error in field_block(page, field)
        assert Message.objects.values().get(pk=message.pk) == before

    @pytest.mark.parametrize("role", ["user", "assistant"])
    def test_add_a_message_as_either_role(self, admin_client, user, api, role):
        thread = make_thread(user, ["earlier"])
        add = admin_url("message", "add")
        form_page = html(admin_client.get(add, {"thread": thread.public_id}))
        assert f'value="{thread.public_id}"' in form_page
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.post(add, {
                "thread": thread.public_id, "role": role,
                "content-0-type": "text", "content-0-extra": "1", "content-0-text": "from staff",
                "content-1-type": "image_url", "content-1-extra": "1", "content-1-url": "",
                **metadata_rows({"by": "admin"}),
            })
        assert response.status_code == 302
        if connection.features.has_select_for_update:
            # Serialized like the API's create: the thread's row is locked first.
            assert any("FOR UPDATE" in q["sql"] for q in queries)
        listed = api.get(url("message-list", thread_id=thread.public_id), {"order": "asc"}).json()
        newest = listed["data"][-1]
        assert [m["role"] for m in listed["data"]] == ["user", role]
        assert newest["content"] == [
            {"type": "text", "text": {"value": "from staff", "annotations": []}}]
        assert newest["metadata"] == {"by": "admin"}
        assert newest["completed_at"] == newest["created_at"]
        assert response["Location"].endswith(f"?message={newest['id']}#{newest['id']}")

    def test_add_refuses_empty_content_and_unknown_thread(self, admin_client, user):
        thread = make_thread(user)
        page = html(admin_client.post(admin_url("message", "add"), {
            "thread": "thread_missing", "role": "user",
            "content-0-type": "text", "content-0-extra": "1", "content-0-text": "",
        }))
        assert "must be non-empty" in field_block(page, "content")
        assert "errorlist" in field_block(page, "thread")
        assert not Message.objects.filter(thread=thread).exists()


# Conversations items -------------------------------------------------------------

MIXED_ITEMS = [
    {"type": "message", "role": "system", "content": "You answer weather questions."},
    {"type": "message", "role": "developer", "content": "Prefer metric units."},
    {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "Weather in Paris, per this forecast?"},
        {"type": "input_image", "image_url": "https://example.com/sky.png"},
        {"type": "input_file", "file_id": "file_forecast", "filename": "forecast.pdf"},
        {"type": "input_file", "file_url": "https://example.com/notes.txt"},
    ]},
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Look it up first."}]},
    {"type": "function_call", "call_id": "call_9", "name": "get_weather",
     "arguments": '{"city": "Paris", "units": "<metric>"}'},
    {"type": "function_call_output", "call_id": "call_9", "output": '{"celsius": 21}'},
    {"type": "web_search_call", "action": {"type": "search", "query": "Paris heatwave"}},
    {"type": "message", "role": "assistant", "content": [
        {"type": "output_text", "text": "Sunny, 21 degrees."},
        {"type": "refusal", "refusal": "No forecast beyond a week."},
    ]},
]


def add_items(api, thread: Thread, items: list) -> list[dict]:
    conversation_id = "conv_" + thread.public_id.removeprefix("thread_")
    response = api.post(url("item-list", conversation_id=conversation_id),
                        json.dumps({"items": items}), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def article(page: str, public_id: str) -> str:
    """The transcript entry of one row."""
    match = re.search(rf'<article [^>]*id="{public_id}">.*?</article>', page, re.S)
    assert match, f"no entry for {public_id}"
    return match.group(0)


def conversation_item(api, thread: Thread, item_id: str) -> dict:
    conversation_id = "conv_" + thread.public_id.removeprefix("thread_")
    return api.get(url("item-detail", conversation_id=conversation_id, item_id=item_id)).json()


class TestConversationItems:
    def test_transcript_shows_every_item_type_in_order(self, admin_client, user, api):
        thread = make_thread(user, ["from the Threads API"])
        items = add_items(api, thread, MIXED_ITEMS)
        ids = [thread.messages.first().public_id] + [item["id"] for item in items]
        page = html(admin_client.get(admin_url("thread", "change", thread.pk)))
        positions = [page.index(f'id="{public_id}"') for public_id in ids]
        assert positions == sorted(positions)
        system, developer, user_message, reasoning, call, output, search, assistant = (
            article(page, item["id"]) for item in items)

        assert 'class="threads-message threads-role-system"' in system
        assert "You answer weather questions." in system and "Conversations only" in system
        assert 'class="threads-message threads-role-developer"' in developer
        assert "Prefer metric units." in developer
        # A Conversations message shows its parts, those without a Threads form too.
        assert "Weather in Paris, per this forecast?" in user_message
        assert 'data-src="https://example.com/sky.png"' in user_message
        assert "forecast.pdf" in user_message and "file_forecast" in user_message
        assert "https://example.com/notes.txt" in user_message
        assert "Conversations only" not in user_message
        assert "Look it up first." in reasoning
        assert "<code>get_weather</code>" in call and "<code>call_9</code>" in call
        # Arguments pretty-printed, and escaped.
        assert ('{\n  &quot;city&quot;: &quot;Paris&quot;,\n  &quot;units&quot;: '
                '&quot;&lt;metric&gt;&quot;\n}') in call
        assert "<code>call_9</code>" in output
        assert '{\n  &quot;celsius&quot;: 21\n}' in output
        # Any other type: its name and its fields, pretty-printed.
        assert "<code>web_search_call</code>" in search
        assert '&quot;query&quot;: &quot;Paris heatwave&quot;' in search
        assert "Sunny, 21 degrees." in assistant and "No forecast beyond a week." in assistant
        # Messages have an editor; other items a read-only page.
        for item in items:
            change = admin_url("message", "change", Message.objects.get(public_id=item["id"]).pk)
            entry = article(page, item["id"])
            assert f'href="{change}">{"Edit" if item["type"] == "message" else "View"}</a>' in entry

    @pytest.mark.parametrize("rounds", [1, 4])
    def test_query_count_does_not_grow_with_items(
        self, admin_client, user, api, django_assert_num_queries, rounds
    ):
        thread = make_thread(user, ["hello"])
        for _ in range(rounds):
            add_items(api, thread, MIXED_ITEMS)
        # session, user, thread with owner, one page of rows, where the page stands.
        with django_assert_num_queries(5):
            response = admin_client.get(admin_url("thread", "change", thread.pk))
        assert len(response.context["transcript"].entries) == 1 + rounds * len(MIXED_ITEMS)

    def test_search_finds_text_inside_items(self, admin_client, user, other_user, api):
        found = make_thread(user, ["hello"])
        add_items(api, found, MIXED_ITEMS)
        other = make_thread(other_user, ["Paris in spring"])

        def search(term):
            return listed_ids(admin_client.get(admin_url("thread", "changelist"), {"q": term}))

        assert search("get_weather") == [found.public_id]  # a function's name
        assert search("celsius") == [found.public_id]  # inside an output's JSON string
        assert search("LOOK IT UP") == [found.public_id]  # a reasoning summary
        assert search("forecast.pdf") == [found.public_id]  # a part with no Threads form
        assert search("heatwave") == [found.public_id]  # an item of any other type
        assert search("Paris") == [other.public_id, found.public_id]
        assert search("heatwave spring") == []
        with CaptureQueriesContext(connection) as queries:
            admin_client.get(admin_url("thread", "changelist"), {"q": "heatwave"})
        search = keys_query(queries)
        assert search.count("EXISTS") == 1 and "DISTINCT" not in search

    def test_role_filter_with_items(self, admin_client, user, api):
        items_only = make_thread(user)
        add_items(api, items_only, MIXED_ITEMS[3:7])  # no messages at all
        steered = make_thread(user)
        add_items(api, steered, MIXED_ITEMS[:2])
        changelist = admin_url("thread", "changelist")

        def listed(role):
            return listed_ids(admin_client.get(changelist, {"role": role}))

        assert listed("system") == [steered.public_id]
        assert listed("developer") == [steered.public_id]
        assert listed("user") == [] and listed("assistant") == []
        page = html(admin_client.get(changelist))
        assert "?role=system" in page and "?role=user" in page

    def test_editing_a_conversations_message_rebuilds_its_stored_item(
        self, admin_client, user, api
    ):
        thread = make_thread(user)
        written = add_items(api, thread, [
            {"type": "message", "role": "user", "content": "Original words"}])[0]
        message = Message.objects.get(public_id=written["id"])
        change = admin_url("message", "change", message.pk)
        assert "Original words</textarea>" in html(admin_client.get(change))

        # Metadata alone changes nothing the Conversations item holds: it is kept.
        response = admin_client.post(change, message_form_data(
            message, **metadata_rows({"seen": "yes"})))
        assert response.status_code == 302
        message.refresh_from_db()
        assert message.item == written and message.metadata == {"seen": "yes"}

        response = admin_client.post(change, message_form_data(
            message, **{"content-0-text": "Edited words"}))
        assert response.status_code == 302
        message.refresh_from_db()
        assert message.item == {
            **written, "content": [{"type": "input_text", "text": "Edited words"}]}
        # Both views now show the edit.
        got = conversation_item(api, thread, message.public_id)
        assert got["content"] == [{"type": "input_text", "text": "Edited words"}]
        assert got["role"] == "user" and got["status"] == "completed"
        threads_view = api.get(url("message-detail", thread_id=thread.public_id,
                                   message_id=message.public_id)).json()
        assert threads_view["content"][0]["text"]["value"] == "Edited words"

    def test_editing_a_system_message(self, admin_client, user, api):
        thread = make_thread(user)
        written = add_items(api, thread, MIXED_ITEMS[:1])[0]
        message = Message.objects.get(public_id=written["id"])
        response = admin_client.post(admin_url("message", "change", message.pk),
                                     message_form_data(message, **{"content-0-text": "Be brief."}))
        assert response.status_code == 302
        got = conversation_item(api, thread, message.public_id)
        assert got["role"] == "system"
        assert got["content"] == [{"type": "input_text", "text": "Be brief."}]

    def test_parts_the_editor_cannot_show_make_content_read_only(
        self, admin_client, user, api
    ):
        thread = make_thread(user)
        written = add_items(api, thread, [MIXED_ITEMS[2]])[0]
        message = Message.objects.get(public_id=written["id"])
        change = admin_url("message", "change", message.pk)
        page = html(admin_client.get(change))
        assert 'name="content-0-text"' not in page
        assert "&quot;filename&quot;: &quot;forecast.pdf&quot;" in field_block(
            page, "conversation_content")
        assert 'name="metadata-0-key"' in page  # the rest stays editable
        # A posted content row is ignored; the parts are kept.
        response = admin_client.post(change, {
            **metadata_rows({"k": "v"}), "content-0-type": "text", "content-0-text": "lost?"})
        assert response.status_code == 302
        message.refresh_from_db()
        assert message.metadata == {"k": "v"}
        assert conversation_item(api, thread, message.public_id) == written

    def test_items_that_are_not_messages_are_read_only(self, admin_client, user, api):
        thread = make_thread(user)
        written = add_items(api, thread, [MIXED_ITEMS[4]])[0]
        row = Message.objects.get(public_id=written["id"])
        change = admin_url("message", "change", row.pk)
        page = html(admin_client.get(change))
        assert "get_weather" in field_block(page, "item_fields")
        assert 'name="_save"' not in page and "<textarea" not in page
        assert admin_url("message", "delete", row.pk) in page
        before = Message.objects.values().get(pk=row.pk)
        assert admin_client.post(change, metadata_rows({"k": "v"})).status_code == 403
        assert Message.objects.values().get(pk=row.pk) == before
        # The message list shows the item by its type, with no text.
        listing = html(admin_client.get(admin_url("message", "changelist")))
        assert '<td class="field-type">function_call</td>' in listing

    def test_added_messages_are_threads_messages(self, admin_client, user):
        thread = make_thread(user)
        page = html(admin_client.post(admin_url("message", "add"), {
            "thread": thread.public_id, "role": "system",
            "content-0-type": "text", "content-0-extra": "1", "content-0-text": "steer",
        }))
        assert "errorlist" in field_block(page, "role")
        assert not thread.messages.exists()


# What nobody touched -------------------------------------------------------------
#
# A browser sends a textarea's line breaks as CRLF and drops line breaks from text
# inputs, whatever the page held. These post what Chromium posts for each case.

CITED = {"type": "text", "text": {"value": "See the manual.\nPage 4.", "annotations": [
    {"type": "file_citation", "text": "the manual", "file_citation": {"file_id": "file_m"},
     "start_index": 4, "end_index": 14}]}}


def as_browser_sends(data: dict) -> dict:
    """``data`` with every text part's line breaks as a browser submits them."""
    return {key: value.replace("\r\n", "\n").replace("\n", "\r\n")
            if re.fullmatch(r"content-\d+-text", key) else value
            for key, value in data.items()}


def last_change(message: Message) -> str:
    """What the admin's history says of the message's latest change."""
    entries = LogEntry.objects.filter(object_id=str(message.pk)).order_by("-pk")
    return entries[0].get_change_message()


class TestUntouchedParts:
    def test_an_untouched_save_keeps_every_stored_byte(self, admin_client, user, api):
        # As an import of OpenAI's own messages leaves them: annotations, and CRLF text.
        thread = make_thread(user)
        content = [CITED, {"type": "text", "text": {"value": "one\r\ntwo", "annotations": []}},
                   {"type": "text", "text": {"value": "", "annotations": []}}]
        message = make_message(thread, "x", metadata={"k": "v"})
        Message.objects.filter(pk=message.pk).update(content=content)
        message.refresh_from_db()
        detail = url("message-detail", thread_id=thread.public_id, message_id=message.public_id)
        before = api.get(detail).content

        response = admin_client.post(admin_url("message", "change", message.pk),
                                     as_browser_sends(message_form_data(message)))
        assert response.status_code == 302
        assert api.get(detail).content == before
        assert last_change(message) == "No fields changed."

        # A metadata edit saves too, though the stored empty part would not pass as new.
        response = admin_client.post(admin_url("message", "change", message.pk),
                                     as_browser_sends(message_form_data(
                                         message, **{"metadata-0-value": "w"})))
        assert response.status_code == 302
        assert api.get(detail).content == before.replace(b'{"k":"v"}', b'{"k":"w"}')
        assert last_change(message) == "Changed metadata."

    @pytest.mark.parametrize("content", [
        [], [{"type": "refusal", "refusal": "I cannot help with that."}, CITED]])
    def test_content_an_import_may_leave_does_not_block_other_edits(
        self, admin_client, user, content
    ):
        # A cancelled run leaves a message without parts; a refusal has no editor row.
        thread = make_thread(user)
        message = make_message(thread, "x")
        Message.objects.filter(pk=message.pk).update(content=content)
        change = admin_url("message", "change", message.pk)
        html(admin_client.get(change))
        response = admin_client.post(change, metadata_rows({"k": "v"}))
        assert response.status_code == 302
        message.refresh_from_db()
        assert message.content == content and message.metadata == {"k": "v"}

    def test_typed_line_breaks_are_stored_as_lf(self, admin_client, user):
        thread = make_thread(user)
        message = make_message(thread, "old")
        response = admin_client.post(admin_url("message", "change", message.pk),
                                     message_form_data(message, **{
                                         "content-0-text": "one\r\ntwo\rthree\n",
                                         "content-1-type": "text", "content-1-extra": "1",
                                         "content-1-text": "new\r\npart"}))
        assert response.status_code == 302
        message.refresh_from_db()
        assert [part["text"]["value"] for part in message.content] == [
            "one\ntwo\nthree\n", "new\npart"]
        assert last_change(message) == "Changed content."

    def test_only_what_changed_is_rebuilt_in_the_conversations_form(
        self, admin_client, user, api
    ):
        thread = make_thread(user)
        parts = [{"type": "output_text", "text": f"Part {n}\nof three", "logprobs": [],
                  "annotations": [{"type": "url_citation", "url": f"https://example.com/{n}",
                                   "title": str(n), "start_index": 0, "end_index": 6}]}
                 for n in range(3)]
        written = add_items(api, thread, [
            {"type": "message", "role": "assistant", "content": parts}])[0]
        message = Message.objects.get(public_id=written["id"])
        change = admin_url("message", "change", message.pk)
        # Part 0 left as it was, part 1 edited, part 2 removed, a part added.
        data = as_browser_sends(message_form_data(message, **{
            "content-1-text": "Part 1, corrected",
            "content-2-remove": "on",
            "content-3-type": "text", "content-3-extra": "1", "content-3-text": "Added\nlast",
        }))
        assert admin_client.post(change, data).status_code == 302
        assert conversation_item(api, thread, message.public_id) == {**written, "content": [
            parts[0],
            {"type": "output_text", "text": "Part 1, corrected", "annotations": [], "logprobs": []},
            {"type": "output_text", "text": "Added\nlast", "annotations": [], "logprobs": []},
        ]}
        assert last_change(message) == "Changed content."

    def test_rows_shown_again_after_an_error_still_know_their_part(
        self, admin_client, user, api
    ):
        thread = make_thread(user)
        parts = [{"type": "output_text", "text": text, "logprobs": [{"token": text,
                  "logprob": -0.5, "bytes": [], "top_logprobs": []}], "annotations": []}
                 for text in ("dropped", "kept")]
        written = add_items(api, thread, [
            {"type": "message", "role": "assistant", "content": parts}])[0]
        message = Message.objects.get(public_id=written["id"])
        change = admin_url("message", "change", message.pk)
        page = html(admin_client.post(change, message_form_data(message, **{
            "content-0-remove": "on", "metadata-0-key": "k" * 65, "metadata-0-value": "v"})))
        assert "keys may have at most 64" in page
        # The part left is the form's first row now, and still names stored part 1.
        assert '<input type="hidden" name="content-0-part" value="1">' in page
        response = admin_client.post(change, {
            "content-0-type": "text", "content-0-part": "1", "content-0-text": "kept"})
        assert response.status_code == 302
        assert conversation_item(api, thread, message.public_id) == {
            **written, "content": [parts[1]]}

    def test_metadata_line_breaks_survive_the_text_inputs(self, admin_client, user, api):
        thread = make_thread(user)
        message = make_message(thread, "hello", metadata={"address": "1 Quay St\r\nBristol",
                                                          "multi\nline key": "x"})
        change = admin_url("message", "change", message.pk)
        sent = metadata_rows({"address": "1 Quay StBristol", "multiline key": "x"})
        data = {**message_form_data(message), **sent}
        assert admin_client.post(change, data).status_code == 302
        message.refresh_from_db()
        assert message.metadata == {"address": "1 Quay St\r\nBristol", "multi\nline key": "x"}
        assert last_change(message) == "No fields changed."

        data = {**message_form_data(message), **sent, **metadata_rows({"new": "pair"}, 2)}
        assert admin_client.post(change, data).status_code == 302
        message.refresh_from_db()
        assert message.metadata == {
            "address": "1 Quay St\r\nBristol", "multi\nline key": "x", "new": "pair"}

    def test_a_stored_detail_the_editor_does_not_offer_is_kept(self, admin_client, user):
        thread = make_thread(user)
        image = {"type": "image_url",
                 "image_url": {"url": "https://example.com/a.png", "detail": "original"}}
        message = make_message(thread, "hello")
        Message.objects.filter(pk=message.pk).update(content=[image])
        message.refresh_from_db()
        change = admin_url("message", "change", message.pk)
        page = html(admin_client.get(change))
        assert '<option value="original" selected>' in page
        data = message_form_data(message, **metadata_rows({"k": "v"}))
        assert admin_client.post(change, data).status_code == 302
        message.refresh_from_db()
        assert message.content == [image] and message.metadata == {"k": "v"}
        # Chosen again for an edited part, the Threads rules apply.
        data = message_form_data(message, **{"content-0-url": "https://example.com/b.png"})
        assert "detail" in field_block(html(admin_client.post(change, data)), "content")


# Deleting and exporting ---------------------------------------------------------


class TestDeleteAndExport:
    def test_deleting_a_message_leaves_a_tombstone(self, admin_client, user, api):
        thread = make_thread(user, ["a", "b", "c"])
        doomed = thread.messages.order_by("seq")[1]
        response = admin_client.post(admin_url("message", "delete", doomed.pk), {"post": "yes"})
        assert response.status_code == 302
        tombstone = Tombstone.objects.get(public_id=doomed.public_id)
        assert (tombstone.container, tombstone.seq) == (thread.public_id, doomed.seq)
        # A cursor naming the deleted message keeps working through the API.
        after = api.get(url("message-list", thread_id=thread.public_id),
                        {"order": "asc", "after": doomed.public_id}).json()
        assert [m["content"][0]["text"]["value"] for m in after["data"]] == ["c"]

    def test_delete_action_on_messages_leaves_tombstones(self, admin_client, user):
        thread = make_thread(user, ["a", "b", "c"])
        doomed = list(thread.messages.order_by("seq")[:2])
        response = admin_client.post(admin_url("message", "changelist"), {
            "action": "delete_selected", "_selected_action": [m.pk for m in doomed], "post": "yes",
        })
        assert response.status_code == 302
        assert thread.messages.count() == 1
        assert sorted(Tombstone.objects.filter(container=thread.public_id)
                      .values_list("seq", flat=True)) == [m.seq for m in doomed]

    def test_delete_action_removes_threads_with_messages_and_leaves_tombstones(
        self, admin_client, user, api
    ):
        keep = make_thread(user, ["stay"])
        doomed = [make_thread(user, ["x", "y"]), make_thread(user, ["z"])]
        Tombstone.objects.create(public_id="msg_old", container=doomed[0].public_id, seq=1)
        changelist = admin_url("thread", "changelist")
        selection = {"action": "delete_selected", "_selected_action": [t.pk for t in doomed]}
        confirm = html(admin_client.post(changelist, selection))
        # A summary, not a list of every message.
        assert "Messages: 3" in confirm and "(2 messages)" in confirm
        response = admin_client.post(changelist, {**selection, "post": "yes"})
        assert response.status_code == 302
        assert list(Thread.objects.values_list("pk", flat=True)) == [keep.pk]
        assert list(Message.objects.values_list("thread_id", flat=True)) == [keep.public_id]
        for thread in doomed:
            tombstone = Tombstone.objects.get(public_id=thread.public_id)
            assert tombstone.container == Tombstone.owner_container(user.pk)
        assert not Tombstone.objects.filter(container=doomed[0].public_id).exists()
        listed = api.get(url("thread-list"), {"after": doomed[1].public_id}).json()
        assert [t["id"] for t in listed["data"]] == [keep.public_id]

    def test_delete_view_of_one_thread(self, admin_client, user):
        thread = make_thread(user, ["x"])
        page = html(admin_client.get(admin_url("thread", "delete", thread.pk)))
        assert "Messages: 1" in page
        admin_client.post(admin_url("thread", "delete", thread.pk), {"post": "yes"})
        assert not Thread.objects.exists() and not Message.objects.exists()
        assert Tombstone.objects.filter(public_id=thread.public_id).exists()

    def test_export_is_what_export_threads_writes(self, admin_client, user, api):
        first = make_thread(user, ["hello", "hi"], metadata={"k": "v"})
        add_items(api, first, MIXED_ITEMS)  # rows the Threads view does not show, too
        empty = make_thread(user)
        make_thread(user, ["not selected"])
        response = admin_client.post(admin_url("thread", "changelist"), {
            "action": "export_json", "_selected_action": [first.pk, empty.pk],
        })
        assert response["Content-Type"] == EXPORT_CONTENT_TYPE
        assert re.fullmatch(r'attachment; filename="threads-[0-9-]+\.jsonl"',
                            response["Content-Disposition"])
        written = io.StringIO()
        call_command("export_threads", "--thread", first.public_id, "--thread", empty.public_id,
                     stdout=written, stderr=io.StringIO())
        exported = b"".join(response.streaming_content)
        assert exported == written.getvalue().encode()
        assert exported.count(b"\n") == 2 + 2 + len(MIXED_ITEMS)


class TestSignals:
    """The API's signals are sent for changes made in the admin too, after commit."""

    @pytest.fixture
    def received(self):
        events = []

        def receiver(signal, sender, **kwargs):
            instance = kwargs.get("thread") or kwargs.get("message")
            events.append((names[signal], instance.public_id))
            assert "request" in kwargs

        names = {getattr(signals, name): name for name in (
            "thread_created", "thread_updated", "thread_deleted",
            "message_created", "message_updated", "message_deleted")}
        for signal in names:
            signal.connect(receiver)
        yield events
        for signal in names:
            signal.disconnect(receiver)

    def test_each_change_is_signalled(self, admin_client, user, received,
                                      django_capture_on_commit_callbacks):
        thread = make_thread(user, ["hi"])
        message = thread.messages.get()
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(admin_url("thread", "change", thread.pk), metadata_rows({"a": "b"}))
            admin_client.post(admin_url("message", "change", message.pk),
                              message_form_data(message, **{"content-0-text": "edited"}))
            admin_client.post(admin_url("message", "add"), {
                "thread": thread.public_id, "role": "user",
                "content-0-type": "text", "content-0-extra": "1", "content-0-text": "new",
            })
        added = thread.messages.order_by("seq").last()
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(admin_url("message", "delete", message.pk), {"post": "yes"})
            admin_client.post(admin_url("thread", "delete", thread.pk), {"post": "yes"})
        assert received == [
            ("thread_updated", thread.public_id),
            ("message_updated", message.public_id),
            ("message_created", added.public_id),
            ("message_deleted", message.public_id),
            ("thread_deleted", thread.public_id),
        ]

    def test_nothing_is_signalled_for_a_refused_edit(self, admin_client, user, received,
                                                     django_capture_on_commit_callbacks):
        thread = make_thread(user, ["hi"])
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(admin_url("thread", "change", thread.pk),
                              metadata_rows({"k" * 65: "v"}))
        assert received == []


# API keys ------------------------------------------------------------------


class TestAPIKeys:
    def test_create_shows_the_secret_once(self, admin_client, user):
        response = admin_client.post(admin_url("apikey", "add"), {"user": user.pk, "name": "ci"})
        # Post/redirect/get: reloading the page that shows the secret posts nothing again.
        assert response.status_code == 302
        secret_url = response["Location"]
        key = APIKey.objects.get()
        assert secret_url == admin_url("apikey", "secret", key.pk)
        response = admin_client.get(secret_url)
        page = html(response)
        secret = re.search(r'value="(sk-[^"]+)"', page).group(1)
        assert "no-store" in response["Cache-Control"]
        assert secret not in str(dict(admin_client.session))  # kept until shown, no longer
        reloaded = admin_client.get(secret_url)
        assert secret not in html(reloaded) and "shown once" in html(reloaded)
        assert "no-store" in reloaded["Cache-Control"]
        assert APIKey.objects.count() == 1
        key = store.find_key(hash_api_key(secret))
        assert key is not None and key.user == user and key.name == "ci"
        assert not APIKey.objects.filter(key_hash=secret).exists()
        change_page = html(admin_client.get(admin_url("apikey", "change", key.pk)))
        listing = html(admin_client.get(admin_url("apikey", "changelist")))
        for later in (change_page, listing):
            assert secret not in later and key.prefix in later

    def test_a_secret_is_shown_only_for_its_own_key_and_session(
        self, admin_client, client, user
    ):
        admin_client.post(admin_url("apikey", "add"), {"user": user.pk, "name": "first"})
        admin_client.post(admin_url("apikey", "add"), {"user": user.pk, "name": "second"})
        first, second = APIKey.objects.order_by("pk")
        other_staff = get_user_model().objects.create_superuser("other", "o@example.com", "pw")
        client.force_login(other_staff)
        assert 'value="sk-' not in html(client.get(admin_url("apikey", "secret", first.pk)))
        # Two keys created before either page was shown: each page shows its own.
        for key in (second, first):
            page = html(admin_client.get(admin_url("apikey", "secret", key.pk)))
            secret = re.search(r'value="(sk-[^"]+)"', page).group(1)
            assert store.find_key(hash_api_key(secret)) == key
        assert admin_client.get(admin_url("apikey", "secret", 999)).status_code == 404

    def test_revoke_and_last_used(self, admin_client, user, api):
        key, secret = APIKey.generate(user, "old")
        client_key = APIKey.objects.exclude(pk=key.pk).get()  # the `api` fixture's key
        assert api.get(url("thread-list")).status_code == 200
        listing = admin_client.get(admin_url("apikey", "changelist"))
        rows = {k.pk: k for k in listing.context["cl"].result_list}
        assert rows[client_key.pk].last_used_at is not None and rows[key.pk].last_used_at is None
        response = admin_client.post(admin_url("apikey", "changelist"), {
            "action": "revoke", "_selected_action": [key.pk],
        })
        assert response.status_code == 302
        key.refresh_from_db()
        assert key.revoked_at is not None
        assert store.find_key(hash_api_key(secret)) is None
        assert store.find_key(hash_api_key(secret)) is None
        active = admin_client.get(admin_url("apikey", "changelist"), {"state": "active"})
        assert [k.pk for k in active.context["cl"].result_list] == [client_key.pk]


# Permissions -------------------------------------------------------------------


class TestPermissions:
    PAGES = [("thread", "changelist"), ("message", "add"), ("apikey", "changelist"),
             ("apikey", "add")]

    @pytest.mark.parametrize("model, view", PAGES)
    def test_anonymous_and_non_staff_get_the_login_page(self, client, user, model, view):
        for who in (None, user):
            if who is not None:
                client.force_login(who)
            response = client.get(admin_url(model, view))
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("admin:login"))

    def test_non_staff_cannot_post(self, client, user):
        thread = make_thread(user, ["hi"])
        client.force_login(user)
        client.post(admin_url("thread", "changelist"),
                    {"action": "delete_selected", "_selected_action": [thread.pk], "post": "yes"})
        client.post(admin_url("apikey", "add"), {"user": user.pk})
        assert Thread.objects.filter(pk=thread.pk).exists() and not APIKey.objects.exists()

    def test_staff_without_permissions_get_nothing(self, client, user):
        staff = get_user_model().objects.create_user("staff", is_staff=True)
        client.force_login(staff)
        thread = make_thread(user, ["hi"])
        for model, view, args in [("thread", "changelist", ()), ("thread", "change", (thread.pk,)),
                                  ("apikey", "add", ()), ("message", "add", ())]:
            assert client.get(admin_url(model, view, *args)).status_code == 403

    def test_view_only_staff_read_but_cannot_edit(self, client, user):
        staff = get_user_model().objects.create_user("viewer", is_staff=True)
        staff.user_permissions.add(*Permission.objects.filter(
            codename__in=["view_thread", "view_message"]))
        client.force_login(staff)
        thread = make_thread(user, ["visible"])
        page = html(client.get(admin_url("thread", "change", thread.pk)))
        assert "visible" in page
        assert admin_url("message", "change", thread.messages.get().pk) not in page
        assert admin_url("message", "add") not in page
        response = client.post(admin_url("thread", "change", thread.pk), metadata_rows({"x": "y"}))
        assert response.status_code == 403
        thread.refresh_from_db()
        assert thread.metadata == {}
