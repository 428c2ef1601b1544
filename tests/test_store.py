"""The store's SQL runs where a host's Django expects it: on the routed database, watched."""

import io
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta

import openai
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from threads_app import signals, store
from threads_app.models import APIKey, IdempotencyRecord, Message, Thread, Tombstone, hash_api_key

from . import instrumentation
from .conftest import mount_url
from .test_admin import admin_url, make_thread, metadata_rows


class SecondDatabaseRouter:
    """A host's router: every model on the database "second"."""

    def db_for_read(self, model, **hints):
        return "second"

    def db_for_write(self, model, **hints):
        return "second"

    def allow_relation(self, obj1, obj2, **hints):
        return True


@pytest.fixture
def recorded():
    instrumentation.recording = []
    yield instrumentation.recording
    instrumentation.recording = None


@pytest.mark.django_db(databases=["default", "second"], transaction=True)
def test_the_app_follows_the_host_router(live_server, settings, recorded):
    """Every query of the API's answers runs on the database the router names."""
    settings.DATABASE_ROUTERS = [f"{__name__}.SecondDatabaseRouter"]
    user = get_user_model().objects.create_user("routed")
    secret = APIKey.generate(user)[1]
    with openai.OpenAI(api_key=secret, base_url=mount_url(live_server), max_retries=0) as sdk:
        thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "first"}])
        created = sdk.beta.threads.messages.create(thread.id, role="user", content="second")
        assert sdk.beta.threads.retrieve(thread.id) == thread
        listed = sdk.beta.threads.messages.list(thread.id, order="asc")
        assert [m.content[0].text.value for m in listed.data] == ["first", "second"]
        assert sdk.beta.threads.messages.retrieve(created.id, thread_id=thread.id) == created
        page = sdk.beta.threads.messages.list(thread.id, order="asc", after=listed.data[0].id)
        assert [m.id for m in page.data] == [created.id]

    assert [q for q in recorded if q[0] != "second"] == []
    stored = Message.objects.using("second").filter(thread__public_id=thread.id)
    assert stored.count() == 2
    assert not Thread.objects.using("default").exists()
    assert not Message.objects.using("default").exists()


@contextmanager
def every_query_recorded(recorded: list) -> Iterator[None]:
    """Record the queries of this thread on every database, as the middleware does a request's."""
    with ExitStack() as stack:
        for alias in connections:
            stack.enter_context(connections[alias].execute_wrapper(instrumentation.record))
        yield


def nothing_on_default() -> None:
    for model in (Thread, Message, Tombstone, APIKey, IdempotencyRecord):
        assert not model.objects.using("default").exists(), model


@pytest.mark.django_db(databases=["default", "second"], transaction=True)
def test_the_admin_writes_on_the_routed_database(settings, recorded):
    """A save, a deletion and a bulk deletion run on the routed database, and their
    signals are sent once that database has committed them."""
    settings.DATABASE_ROUTERS = [f"{__name__}.SecondDatabaseRouter"]
    staff = get_user_model().objects.create_superuser("staff", password="pw")
    owner = get_user_model().objects.create_user("owner")
    thread, doomed = make_thread(owner, ["a", "b"]), make_thread(owner, ["c"])
    message = thread.messages.order_by("seq").first()
    client = Client()
    client.force_login(staff)
    # Whether the routed database was still inside a transaction as each signal was sent.
    in_transaction = []

    def receiver(**kwargs):
        in_transaction.append(connections["second"].in_atomic_block)

    sent = [signals.thread_updated, signals.message_created, signals.message_deleted,
            signals.thread_deleted]
    for signal in sent:
        signal.connect(receiver)
    try:
        changed = client.post(admin_url("thread", "change", thread.pk), metadata_rows({"k": "v"}))
        added = client.post(admin_url("message", "add"), {
            "thread": thread.public_id, "role": "user",
            "content-0-type": "text", "content-0-extra": "1", "content-0-text": "from staff",
        })
        deleted = client.post(admin_url("message", "delete", message.pk), {"post": "yes"})
        bulk_deleted = client.post(admin_url("thread", "changelist"), {
            "action": "delete_selected", "_selected_action": [doomed.pk], "post": "yes",
        })
    finally:
        for signal in sent:
            signal.disconnect(receiver)

    assert [r.status_code for r in (changed, added, deleted, bulk_deleted)] == [302] * 4
    # The deletion returns to where the message stood in its thread.
    assert deleted["Location"].startswith(admin_url("thread", "change", thread.pk) + "?after=")
    assert in_transaction == [False] * 4
    assert [q for q in recorded if q[0] != "second"] == []
    stored = Thread.objects.using("second")
    assert list(stored.values_list("public_id", "metadata")) == [(thread.public_id, {"k": "v"})]
    rows = Message.objects.using("second").filter(thread=thread).order_by("seq")
    assert [m.content[0]["text"]["value"] for m in rows] == ["b", "from staff"]
    tombstones = Tombstone.objects.using("second").values_list("public_id", flat=True)
    assert set(tombstones) == {message.public_id, doomed.public_id}
    nothing_on_default()


@pytest.mark.django_db(databases=["default", "second"], transaction=True)
def test_export_and_import_run_on_the_routed_database(settings, recorded, tmp_path):
    settings.DATABASE_ROUTERS = [f"{__name__}.SecondDatabaseRouter"]
    owner = get_user_model().objects.create_user("owner")
    thread = make_thread(owner, ["question", "answer"], metadata={"k": "v"})
    exported = tmp_path / "threads.jsonl"
    with every_query_recorded(recorded):
        call_command("export_threads", "--output", str(exported), stderr=io.StringIO())
        Thread.objects.using("second").all().delete()
        out = io.StringIO()
        call_command("import_threads", str(exported), stdout=out, stderr=out)
    assert "imported 1 threads, 2 messages and 0 other items" in out.getvalue()
    assert recorded and [q for q in recorded if q[0] != "second"] == []
    imported = Thread.objects.using("second").get()
    assert (imported.public_id, imported.owner_id, imported.metadata) == (
        thread.public_id, owner.pk, {"k": "v"})
    rows = Message.objects.using("second").filter(thread=imported).order_by("seq")
    assert [m.content[0]["text"]["value"] for m in rows] == ["question", "answer"]
    nothing_on_default()


@pytest.mark.django_db(databases=["default", "second"], transaction=True)
def test_idempotent_posts_on_the_routed_database(live_server, settings, recorded):
    settings.DATABASE_ROUTERS = [f"{__name__}.SecondDatabaseRouter"]
    user = get_user_model().objects.create_user("routed")
    secret = APIKey.generate(user)[1]
    key = {"Idempotency-Key": "once"}
    with openai.OpenAI(api_key=secret, base_url=mount_url(live_server), max_retries=0) as sdk:
        thread = sdk.beta.threads.create()
        first = sdk.beta.threads.messages.with_raw_response.create(
            thread.id, role="user", content="hello", extra_headers=key)
        again = sdk.beta.threads.messages.with_raw_response.create(
            thread.id, role="user", content="hello", extra_headers=key)
        with pytest.raises(openai.UnprocessableEntityError):
            sdk.beta.threads.messages.create(thread.id, role="user", content="other",
                                             extra_headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parse() == first.parse()
    assert [q for q in recorded if q[0] != "second"] == []
    assert Message.objects.using("second").filter(thread__public_id=thread.id).count() == 1
    record = IdempotencyRecord.objects.using("second").get()
    assert (record.key, record.status_code) == ("once", 200)
    nothing_on_default()


@pytest.mark.django_db(transaction=True)
def test_a_host_execute_wrapper_sees_every_query(sdk, recorded):
    """As many queries as tests/test_queries.py counts: list, retrieve, create one each."""
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "first"}])
    sdk.beta.threads.messages.list(thread.id)  # the key is remembered from here on

    def queries(call) -> list[str]:
        recorded.clear()
        call()
        return [sql for _, sql in recorded]

    message_id = sdk.beta.threads.messages.list(thread.id).data[0].id
    listed = queries(lambda: sdk.beta.threads.messages.list(thread.id))
    retrieved = queries(lambda: sdk.beta.threads.messages.retrieve(message_id,
                                                                   thread_id=thread.id))
    created = queries(lambda: sdk.beta.threads.messages.create(thread.id, role="user",
                                                               content="x"))
    thread_retrieved = queries(lambda: sdk.beta.threads.retrieve(thread.id))
    assert [len(listed), len(retrieved), len(created), len(thread_retrieved)] == [1, 1, 1, 1]
    assert "threads_app_message" in listed[0] and "threads_app_apikey" in listed[0]
    assert created[0].startswith("WITH") and "INSERT INTO" in created[0]


FUNCTION_CALL = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}


def list_threads(sdk: openai.OpenAI, **params) -> dict:
    """``GET /threads``, which OpenAI never had and the SDK has no method for."""
    return sdk.get("threads", cast_to=object, options={"params": params})


@pytest.mark.django_db(databases=["default", "second"], transaction=True)
def test_every_door_follows_the_host_router(live_server, settings, recorded):
    """The thread list, the writes under a thread's lock, the deletions and their
    tombstones, the run filter and the Conversations endpoints run on the routed
    database too, the checks of an empty page and of a cursor that names nothing
    included."""
    settings.DATABASE_ROUTERS = [f"{__name__}.SecondDatabaseRouter"]
    user = get_user_model().objects.create_user("routed")
    secret = APIKey.generate(user)[1]
    with openai.OpenAI(api_key=secret, base_url=mount_url(live_server), max_retries=0) as sdk:
        threads = [sdk.beta.threads.create(metadata={"n": str(n)}) for n in range(3)]
        sdk.beta.threads.update(threads[1].id, metadata={"m": "1"})
        sdk.beta.threads.delete(threads[1].id)
        listed = list_threads(sdk, order="asc", after=threads[1].id)  # a tombstone's place
        assert [t["id"] for t in listed["data"]] == [threads[2].id]
        assert list_threads(sdk, order="asc", after=threads[2].id)["data"] == []
        with pytest.raises(openai.BadRequestError):
            list_threads(sdk, after="thread_" + "x" * 24)

        thread = threads[0]
        kept, gone = (sdk.beta.threads.messages.create(thread.id, role="user", content=text)
                      for text in ("kept", "gone"))
        sdk.beta.threads.messages.update(kept.id, thread_id=thread.id, metadata={"k": "v"})
        sdk.beta.threads.messages.delete(gone.id, thread_id=thread.id)
        after_gone = sdk.beta.threads.messages.list(thread.id, order="asc", after=gone.id)
        assert after_gone.data == []
        assert sdk.beta.threads.messages.list(thread.id, run_id="run_none").data == []

        conversation = sdk.conversations.create(items=[{"role": "user", "content": "hi"}])
        sdk.conversations.update(conversation.id, metadata={"c": "1"})
        assert sdk.conversations.retrieve(conversation.id).metadata == {"c": "1"}
        call = sdk.conversations.items.create(conversation.id, items=[FUNCTION_CALL]).data[0]
        assert sdk.conversations.items.retrieve(call.id, conversation_id=conversation.id).id == \
            call.id
        items = sdk.conversations.items.list(conversation.id, order="asc")
        assert [i.type for i in items.data] == ["message", "function_call"]
        sdk.conversations.items.delete(call.id, conversation_id=conversation.id)
        assert sdk.conversations.items.list(conversation.id, order="asc", after=call.id).data == []
        with pytest.raises(openai.BadRequestError):
            sdk.conversations.items.list(conversation.id, after="fc_" + "x" * 24)
        sdk.conversations.delete(conversation.id)

    assert [q for q in recorded if q[0] != "second"] == []
    assert Thread.objects.using("second").count() == 2
    assert Message.objects.using("second").filter(thread__public_id=thread.id).count() == 1
    assert Tombstone.objects.using("second").count() == 3  # two threads, one message
    for model in (Thread, Message, Tombstone):
        assert not model.objects.using("default").exists()


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def tables(statements: list[str]) -> list[str]:
    """The app's tables each statement names, in the order they first appear in it."""
    return [",".join(dict.fromkeys(re.findall(r"threads_app_[a-z]+", sql)))
            for sql in statements]


@pytest.mark.django_db(transaction=True)
def test_a_host_execute_wrapper_sees_every_query_of_the_cooler_paths(sdk, recorded):
    """Whatever the store runs as the ORM or as SQL of its own reaches the host's wrapper;
    these are all the statements of each request (a remembered key is confirmed first)."""
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "first"}])
    newer = sdk.beta.threads.create()
    message = sdk.beta.threads.messages.list(thread.id).data[0]
    conversation = "conv_" + thread.id.removeprefix("thread_")

    def statements(call) -> list[str]:
        recorded.clear()
        call()
        return [sql for _, sql in recorded if not sql.upper().startswith(TRANSACTION_CONTROL)]

    key, thread_table = "threads_app_apikey", "threads_app_thread"
    messages, tombstones = "threads_app_message", "threads_app_tombstone"
    assert tables(statements(lambda: list_threads(sdk, after=newer.id))) == [
        key, f"{thread_table},{tombstones}"]
    created = statements(lambda: sdk.conversations.items.create(conversation,
                                                                items=[FUNCTION_CALL]))
    assert tables(created) == [key, thread_table, messages]
    assert created[2].startswith("INSERT")
    listed = statements(lambda: sdk.conversations.items.list(conversation, order="asc",
                                                             after=message.id))
    # The thread, the sizes (the cursor found inside that query), the rows that fit.
    assert tables(listed) == [key, thread_table, f"{messages},{tombstones}", messages]
    updated = statements(lambda: sdk.beta.threads.messages.update(
        message.id, thread_id=thread.id, metadata={"k": "v"}))
    assert tables(updated) == [key, thread_table, messages, messages]
    assert "FOR UPDATE" in updated[1] or connection.vendor == "sqlite"
    # Led by the thread, as every query of a message is.
    assert updated[3].startswith("UPDATE") and "thread_id" in updated[3].split(" WHERE ")[1]
    deleted = statements(lambda: sdk.beta.threads.messages.delete(message.id,
                                                                  thread_id=thread.id))
    assert tables(deleted) == [key, thread_table, messages, tombstones, messages]
    assert deleted[3].startswith("INSERT") and deleted[4].startswith("DELETE")
    assert "thread_id" in deleted[4].split(" WHERE ")[1]


def fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname)
            for field in type(instance)._meta.concrete_fields}


@pytest.mark.django_db
def test_a_key_is_found_with_its_user_as_the_orm_finds_them(user):
    """Every field as ``select_related("user")`` loads it (times aware), saved as stored
    rows are; a revoked key is not found, and a deactivated user's is (the caller checks)."""
    user.last_login = timezone.now() - timedelta(days=1)
    user.save()
    api_key, secret = APIKey.generate(user, name="laptop")
    APIKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    digest = hash_api_key(secret)

    found = store.find_key(digest)
    expected = APIKey.objects.select_related("user").get(pk=api_key.pk)
    assert fields(found) == fields(expected)
    assert fields(found.user) == fields(expected.user)
    assert timezone.is_aware(found.last_used_at) and timezone.is_aware(found.user.date_joined)
    found.name = "renamed"
    found.save(update_fields=["name"])  # an update of the stored row, not an insert
    assert APIKey.objects.get().name == "renamed"

    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert store.find_key(digest).user.is_active is False
    APIKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    assert store.find_key(digest) is None
    assert store.find_key(hash_api_key("sk-unknown")) is None
