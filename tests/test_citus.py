"""The app on a Citus cluster: its tables laid out, and each request that names a thread
on one shard.

Run with ``DATABASE_CITUS=1`` and ``DATABASE_URL`` naming a coordinator (tests/citus.py
makes the test database on every node and distributes it). The plans are read with
EXPLAIN of the very statements, with their parameters, that the requests sent
(``connection.execute_wrapper``): the coordinator's "Task Count: 1" is a statement sent
to one shard. Without a cluster, what can be shown anywhere runs: the store speaks its
database's own SQL, and the command refuses a database without Citus.
"""

import io
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import openai
import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from threads_app.models import APIKey, IdempotencyRecord, Message, Thread, Tombstone
from threads_app.store import citus as layout
from threads_app.store.database import forget_citus, sql_dialect

from . import citus
from .conftest import mount_url, url
from .test_api import make_message, make_thread, post
from .test_conversations import FUNCTION_CALL, conv_id

pytestmark = pytest.mark.django_db

on_citus = pytest.mark.skipif(
    not citus.CITUS,
    reason="needs a Citus cluster: DATABASE_CITUS=1 and DATABASE_URL naming its coordinator "
    "(docs/scaling.md)",
)
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def test_the_store_writes_citus_sql_on_citus_only():
    expected = "citus" if citus.CITUS else connection.vendor
    assert sql_dialect("default") == expected


@contextmanager
def database_without_citus() -> Iterator[str]:
    """The alias of a database without the citus extension: the test database itself, or
    on a cluster, a database of its own on the coordinator, dropped at the end."""
    if not citus.CITUS:
        yield "default"
        return
    settings = connection.settings_dict
    name = f"{settings['NAME']}_plain"
    coordinator = citus.coordinator_of(settings)
    citus.drop_everywhere(settings, [coordinator], name)
    with psycopg.connect(**citus.node_arguments(settings, coordinator, "postgres")) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    # A connection of its own, as Django's test runner makes one for the server's
    # maintenance database: not a database of the settings.
    connections["plain"] = type(connections["default"])({**settings, "NAME": name}, alias="plain")
    try:
        yield "plain"
    finally:
        connections["plain"].close()
        del connections["plain"]
        forget_citus("plain")
        citus.drop_everywhere(settings, [coordinator], name)


def test_the_command_refuses_a_database_without_citus():
    with database_without_citus() as alias:
        with pytest.raises(CommandError) as refused:
            call_command("distribute_threads_app", database=alias, stdout=io.StringIO())
    if connection.vendor == "sqlite":
        assert "SQLite" in str(refused.value) and "Citus extension" in str(refused.value)
    else:
        assert "PostgreSQL without the Citus extension" in str(refused.value)


def run_sql(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


@on_citus
def test_the_tables_are_laid_out():
    rows = run_sql(
        "SELECT table_name::text, citus_table_type, distribution_column, colocation_id "
        "FROM citus_tables"
    )
    tables = {name: (kind, column, group) for name, kind, column, group in rows}
    user_table = APIKey._meta.get_field("user").related_model._meta.db_table
    assert tables[user_table][0] == tables[APIKey._meta.db_table][0] == "reference"
    thread = tables[Thread._meta.db_table]
    assert thread[:2] == ("distributed", "public_id")
    assert tables[Message._meta.db_table] == ("distributed", "thread_id", thread[2])
    assert tables[Tombstone._meta.db_table] == ("distributed", "container", thread[2])
    assert tables[IdempotencyRecord._meta.db_table][:2] == ("distributed", "owner_id")
    # Each primary key ends with its table's distribution column; Django's pk is the first.
    for model, column in ((Thread, "public_id"), (Message, "thread_id"),
                          (Tombstone, "container"), (IdempotencyRecord, "owner_id")):
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
        [primary_key] = [c["columns"] for c in constraints.values() if c["primary_key"]]
        assert primary_key == [model._meta.pk.column, column], model


@on_citus
def test_a_second_run_changes_nothing():
    assert layout.steps("default") == []
    out = io.StringIO()
    call_command("distribute_threads_app", stdout=out)
    assert out.getvalue().startswith("Nothing to change")


@contextmanager
def statements_sent() -> Iterator[list[tuple[str, list]]]:
    """The statements this thread sends to the test database, with their parameters."""
    sent: list[tuple[str, list]] = []

    def record(execute, sql, params, many, context):
        if not sql.upper().startswith(TRANSACTION_CONTROL):
            sent.append((sql, list(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sent


def plan(sql: str, params: list) -> str:
    """The coordinator's EXPLAIN of a statement, with the parameters it was sent with."""
    return "\n".join(row[0] for row in run_sql("EXPLAIN " + sql, params))


def task_counts(shown: str) -> list[int]:
    return [int(count) for count in re.findall(r"Task Count: (\d+)", shown)]


def routed(sent: list[tuple[str, list]]) -> list[str]:
    """The plans of ``sent``; each must go to one shard, as a single task."""
    plans = [plan(sql, params) for sql, params in sent]
    for (sql, _), shown in zip(sent, plans, strict=True):
        print(f"{sql[:120]}\n{shown}\n")  # shown by pytest -s, and on a failure
        assert task_counts(shown) == [1], shown
    return plans


@pytest.fixture
def thread_with_messages(api) -> tuple[str, list[str]]:
    """A thread of 30 messages, made through the API, and a warm API key."""
    thread_id = make_thread(api)["id"]
    ids = [make_message(api, thread_id, str(n))["id"] for n in range(30)]
    return thread_id, ids


def request(api, method: str, path: str, body=None) -> list[tuple[str, list]]:
    with statements_sent() as sent:
        if method == "post":
            response = post(api, path, body)
        else:
            response = getattr(api, method)(path)
    assert response.status_code == 200, response.content
    return sent


# Each request in a transaction of its own, as in production, and each EXPLAIN outside
# them: in the transaction of a test case, Citus refused a read of the reference tables
# after EXPLAIN had run its plan on the coordinator ("cannot switch local execution status").
routing = pytest.mark.django_db(transaction=True)


@on_citus
@routing
def test_message_list_and_retrieve_route_to_the_thread_shard(api, thread_with_messages):
    thread_id, ids = thread_with_messages
    listing = url("message-list", thread_id=thread_id)
    for path in (listing, listing + f"?after={ids[20]}&before={ids[3]}",
                 url("message-detail", thread_id=thread_id, message_id=ids[7])):
        sent = request(api, "get", path)
        assert len(sent) == 1, sent  # the page, or the message, with the key confirmed
        routed(sent)


@on_citus
@routing
def test_message_create_is_two_statements_on_the_thread_shard(api, thread_with_messages):
    """The thread locked (and the time read), then the row inserted with its values."""
    thread_id, _ = thread_with_messages
    sent = request(api, "post", url("message-list", thread_id=thread_id),
                   {"role": "user", "content": "routed"})
    assert len(sent) == 2, sent
    assert "FOR UPDATE" in sent[0][0] and sent[1][0].startswith("INSERT INTO")
    routed(sent)


@on_citus
@routing
def test_item_list_and_create_route_to_the_thread_shard(api, thread_with_messages):
    thread_id, ids = thread_with_messages
    conversation = conv_id(thread_id)
    items = url("item-list", conversation_id=conversation)
    routed(request(api, "get", items))
    routed(request(api, "get", items + f"?after={ids[5]}&order=asc"))
    # An ID given is looked up in the conversation first: that read is routed too.
    sent = request(api, "post", items, {"items": [{**FUNCTION_CALL, "id": "fc_given1"},
                                                  {"role": "user", "content": "hi"}]})
    assert any("FOR UPDATE" in sql for sql, _ in sent)
    assert any(sql.startswith("INSERT INTO") for sql, _ in sent)
    routed(sent)


@on_citus
@routing
def test_every_other_request_naming_a_thread_routes_each_statement(api, thread_with_messages):
    """Retrieve, modify and delete of a thread, a message, a conversation and an item, and
    the creates of a thread and a conversation: every statement to one shard. (A thread's
    deletion writes its tombstone on the owner's shard: two statements, one shard each.)"""
    thread_id, ids = thread_with_messages
    conversation = conv_id(thread_id)
    item = url("item-detail", conversation_id=conversation, item_id=ids[2])
    message = url("message-detail", thread_id=thread_id, message_id=ids[1])
    requests = [
        ("get", url("thread-detail", thread_id=thread_id), None),
        ("post", url("thread-detail", thread_id=thread_id), {"metadata": {"k": "v"}}),
        ("post", message, {"metadata": {"k": "v"}}),
        ("delete", message, None),
        ("get", url("conversation-detail", conversation_id=conversation), None),
        ("post", url("conversation-detail", conversation_id=conversation), {"metadata": {}}),
        ("get", item, None),
        ("delete", item, None),
        ("post", url("thread-list"), {"messages": [{"role": "user", "content": "new"}]}),
        ("post", url("conversation-list"), {"items": [{"role": "user", "content": "new"}]}),
        ("delete", url("thread-detail", thread_id=thread_id), None),
    ]
    for method, path, body in requests:
        sent = request(api, method, path, body)
        assert sent, (method, path)
        routed(sent)


@on_citus
@routing
def test_the_owner_thread_list_asks_every_shard(api, thread_with_messages):
    """Threads are distributed by ID: an owner's are on every shard."""
    sent = request(api, "get", url("thread-list"))
    pages = [(sql, params) for sql, params in sent if "ORDER BY" in sql]
    assert len(pages) == 1
    shown = plan(*pages[0])
    print(shown)
    shards = run_sql("SELECT shard_count FROM citus_tables WHERE table_name = %s::regclass",
                     [Thread._meta.db_table])[0][0]
    assert task_counts(shown) == [shards], shown


@on_citus
@pytest.mark.django_db(transaction=True)
def test_writes_into_one_thread_keep_the_order_of_commit(live_server, secret):
    """Clients writing into one thread at once through the coordinator: each message stands
    after every message acknowledged before it was sent, as in tests/test_concurrency.py."""
    clients, per_client = 4, 25
    base_url = mount_url(live_server)
    with openai.OpenAI(api_key=secret, base_url=base_url, max_retries=0) as sdk:
        thread = sdk.beta.threads.create()
    acknowledged: dict[str, tuple[int, float, float]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(clients)

    def write(number: int) -> None:
        with openai.OpenAI(api_key=secret, base_url=base_url, max_retries=0) as sdk:
            start.wait()
            try:
                for n in range(per_client):
                    sent = time.monotonic()
                    message = sdk.beta.threads.messages.create(thread.id, role="user",
                                                               content=f"{number} {n}")
                    acknowledged[message.id] = (number, sent, time.monotonic())
            except BaseException as exc:  # reported below
                errors.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(clients)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert not errors, errors
    with openai.OpenAI(api_key=secret, base_url=base_url, max_retries=0) as sdk:
        stored = list(sdk.beta.threads.messages.list(thread.id, order="asc", limit=100))
    stored_ids = [m.id for m in stored]
    assert sorted(stored_ids) == sorted(acknowledged)
    assert [m.created_at for m in stored] == sorted(m.created_at for m in stored)
    for number in range(clients):
        mine = [i for i in stored_ids if acknowledged[i][0] == number]
        assert [m.content[0].text.value for m in stored if m.id in mine] == [
            f"{number} {n}" for n in range(per_client)
        ]
    later_answered = float("inf")
    for message_id in reversed(stored_ids):
        _, sent, answered = acknowledged[message_id]
        assert later_answered >= sent, f"{message_id} stands before a message answered earlier"
        later_answered = min(later_answered, answered)
    # The order is seq order, one sequence on the coordinator.
    seqs = list(Message.objects.filter(thread=thread.id).order_by("seq")
                .values_list("public_id", flat=True))
    assert seqs == stored_ids
