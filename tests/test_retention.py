"""Tombstones expire: a cursor naming an object deleted past TOMBSTONE_RETENTION is a 400,
whether its tombstone is still stored or purged; within it, the cursor works."""

import io
from datetime import timedelta

import openai
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from threads_app.models import Message, Thread, Tombstone

from .conftest import url
from .test_api import assert_error, make_message, make_thread, post

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def age(public_id: str, by: timedelta) -> None:
    """Make the deletion of ``public_id`` ``by`` older than it is."""
    assert Tombstone.objects.filter(public_id=public_id).update(
        deleted_at=timezone.now() - by
    ) == 1


def purge(*args: str) -> str:
    out = io.StringIO()
    call_command("purge_tombstones", *args, stdout=out)
    return out.getvalue()


def test_a_cursor_of_a_message_deleted_past_retention_through_the_sdk(sdk):
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": str(i)} for i in range(5)]
    )
    ids = [m.id for m in sdk.beta.threads.messages.list(thread.id, order="asc")]
    sdk.beta.threads.messages.delete(ids[2], thread_id=thread.id)

    age(ids[2], 29 * DAY)  # within the 30 days of the default: the cursor holds
    page = sdk.beta.threads.messages.list(thread.id, order="asc", after=ids[2])
    assert [m.id for m in page.data] == ids[3:]

    age(ids[2], 31 * DAY)
    with pytest.raises(openai.BadRequestError) as expired:
        sdk.beta.threads.messages.list(thread.id, order="asc", after=ids[2])
    assert (expired.value.code, expired.value.param) == ("cursor_expired", "after")
    assert "30 days" in expired.value.message

    assert purge() == "Deleted 1 tombstones older than 30 days.\n"
    with pytest.raises(openai.BadRequestError) as gone:
        sdk.beta.threads.messages.list(thread.id, order="asc", after=ids[2])
    assert (gone.value.code, gone.value.param) == ("invalid_cursor", "after")
    assert "or names one deleted more than 30 days ago" in gone.value.message


@pytest.fixture
def five_messages_one_deleted(api):
    """A thread of five messages, the middle one deleted; its ID and the others'."""
    thread_id = make_thread(api)["id"]
    ids = [make_message(api, thread_id, str(i))["id"] for i in range(5)]
    assert api.delete(url("message-detail", thread_id=thread_id, message_id=ids[2])).json()[
        "deleted"]
    return thread_id, ids


@pytest.mark.parametrize("param", ["after", "before"])
def test_an_expired_cursor_is_a_400_before_and_after_the_purge(api, five_messages_one_deleted,
                                                                param):
    """The page's own query must not take the stored tombstone as a position: it would
    answer the messages beyond it (200) instead."""
    thread_id, ids = five_messages_one_deleted
    path = url("message-list", thread_id=thread_id)
    age(ids[2], 31 * DAY)
    expired = assert_error(api.get(path, {param: ids[2]}), 400, param, "30 days ago")
    assert expired["code"] == "cursor_expired"
    purge()
    assert not Tombstone.objects.exists()
    gone = assert_error(api.get(path, {param: ids[2]}), 400, param, "30 days ago")
    assert gone["code"] == "invalid_cursor"


def test_an_expired_cursor_costs_what_an_unknown_one_does(api, five_messages_one_deleted):
    """One query for the page; only when it finds nothing, the key, the thread, the cursor
    (and whether it expired) in one, each checked: an unknown cursor costs the same."""
    thread_id, ids = five_messages_one_deleted
    path = url("message-list", thread_id=thread_id)
    assert api.get(path, {"after": ids[2]}).status_code == 200  # the key is remembered now
    with CaptureQueriesContext(connection) as kept:
        assert len(api.get(path, {"after": ids[2]}).json()["data"]) == 2
    age(ids[2], 31 * DAY)
    with CaptureQueriesContext(connection) as expired:
        assert api.get(path, {"after": ids[2]}).status_code == 400
    with CaptureQueriesContext(connection) as unknown:
        assert api.get(path, {"after": "msg_unknown"}).status_code == 400
    assert (len(kept), len(expired), len(unknown)) == (1, 4, 4)


def test_an_expired_cursor_with_a_filter_is_a_400(api, user):
    """The `run_id` filter's page is the ORM's, with the cursor's position as a subquery."""
    thread_id = make_thread(api)["id"]
    thread = Thread.objects.get(public_id=thread_id)
    rows = [Message.objects.create(thread=thread, role="assistant", run_id="run_1", content=[])
            for _ in range(4)]
    api.delete(url("message-detail", thread_id=thread_id, message_id=rows[1].public_id))
    path = url("message-list", thread_id=thread_id)
    query = {"order": "asc", "run_id": "run_1", "after": rows[1].public_id}
    assert [m["id"] for m in api.get(path, query).json()["data"]] == [
        rows[2].public_id, rows[3].public_id]
    age(rows[1].public_id, 31 * DAY)
    assert assert_error(api.get(path, query), 400, "after")["code"] == "cursor_expired"


def test_an_expired_thread_cursor_is_a_400(api):
    ids = [make_thread(api)["id"] for _ in range(3)]
    api.delete(url("thread-detail", thread_id=ids[1]))
    path = url("thread-list")
    assert [t["id"] for t in api.get(path, {"order": "asc", "after": ids[1]}).json()["data"]] \
        == [ids[2]]
    age(ids[1], 31 * DAY)
    error = assert_error(api.get(path, {"order": "asc", "after": ids[1]}), 400, "after")
    assert error["code"] == "cursor_expired"


def test_an_expired_item_cursor_is_a_400(api):
    conversation = post(api, url("conversation-list"), {"items": [
        {"type": "message", "role": "user", "content": str(i)} for i in range(3)
    ]}).json()
    items = url("item-list", conversation_id=conversation["id"])
    ids = [item["id"] for item in api.get(items, {"order": "asc"}).json()["data"]]
    api.delete(url("item-detail", conversation_id=conversation["id"], item_id=ids[1]))
    assert [i["id"] for i in api.get(items, {"order": "asc", "after": ids[1]}).json()["data"]] \
        == [ids[2]]
    age(ids[1], 31 * DAY)
    error = assert_error(api.get(items, {"order": "asc", "after": ids[1]}), 400, "after")
    assert error["code"] == "cursor_expired"


def test_the_retention_is_a_setting(api, five_messages_one_deleted, settings):
    thread_id, ids = five_messages_one_deleted
    path = url("message-list", thread_id=thread_id)
    settings.THREADS_APP = {"TOMBSTONE_RETENTION": 3600}
    age(ids[2], timedelta(minutes=59))
    assert len(api.get(path, {"after": ids[2]}).json()["data"]) == 2
    age(ids[2], timedelta(minutes=61))
    assert_error(api.get(path, {"after": ids[2]}), 400, "after", "more than 1 hour ago")

    settings.THREADS_APP = {"TOMBSTONE_RETENTION": None}  # for ever
    age(ids[2], 3650 * DAY)
    assert len(api.get(path, {"after": ids[2]}).json()["data"]) == 2
    assert purge() == "TOMBSTONE_RETENTION is None: tombstones are kept for ever.\n"
    assert Tombstone.objects.filter(public_id=ids[2]).exists()
    unknown = assert_error(api.get(path, {"after": "msg_" + "x" * 24}), 400, "after")
    assert unknown["message"].endswith("does not name an object of this list.")


def test_the_purge_deletes_in_batches_what_has_expired_and_nothing_else():
    now = timezone.now()
    Tombstone.objects.bulk_create(
        [Tombstone(public_id=f"msg_old{i}", container="thread_a", seq=i,
                   deleted_at=now - 31 * DAY - i * timedelta(seconds=1)) for i in range(5)]
        + [Tombstone(public_id=f"msg_new{i}", container="thread_a", seq=10 + i,
                     deleted_at=now - 29 * DAY) for i in range(2)]
    )
    with CaptureQueriesContext(connection) as captured:
        assert purge("--batch-size", "2") == "Deleted 5 tombstones older than 30 days.\n"
    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 2, 2 and 1
    assert sorted(Tombstone.objects.values_list("public_id", flat=True)) == [
        "msg_new0", "msg_new1"]
    assert purge() == "Deleted 0 tombstones older than 30 days.\n"  # again: nothing to do


def test_the_purge_reads_the_index_on_deletion_time():
    """The oldest tombstones are found through their index, not by reading them all."""
    Tombstone.objects.create(public_id="msg_old", container="thread_a", seq=1,
                             deleted_at=timezone.now() - 31 * DAY)
    with CaptureQueriesContext(connection) as captured:
        purge()
    select = next(q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT"))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned
            cursor.execute("EXPLAIN " + select)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + select)
        shown = "\n".join(str(row) for row in cursor.fetchall())
    assert "threads_app_tombstone_deleted" in shown, shown


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_tombstones_the_time_it_ran():
    app = "threads_app"
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes(app)
    before = [(app, "0007_message_text_search")]
    executor.migrate(before)
    old_model = executor.loader.project_state(before).apps.get_model(app, "Tombstone")
    old_model.objects.create(public_id="msg_old", container="thread_a", seq=1)
    started = timezone.now()
    executor = MigrationExecutor(connection)  # a new one, as `migrate` would be
    executor.migrate(latest)
    deleted_at = Tombstone.objects.get(public_id="msg_old").deleted_at
    assert started <= deleted_at <= timezone.now()
