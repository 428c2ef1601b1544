"""One source for every word and rule: the copies that must exist agree with it.

Roles, statuses, incomplete reasons, item and object types are defined in
items.py, ID prefixes in ids.py; the Threads view is one rule read by the ORM,
the store's SQL, Python and a frozen migration. These tests compare what each
reader does with the source, so that a copy written by hand somewhere fails here.
"""

import importlib
import json
import re
import string
from pathlib import Path

import pytest
from django.db import connection

from threads_app import items, validation
from threads_app.forms import MessageForm
from threads_app.idempotency import IdempotencyPolicy
from threads_app.ids import (
    ALPHABET,
    ALPHABET_PATTERN,
    CONVERSATION_PREFIX,
    ID_MAX_LENGTH,
    MESSAGE_PREFIX,
    PREFIX_PATTERN,
    THREAD_PREFIX,
    conversation_id,
    id_start,
    new_id,
    thread_id,
)
from threads_app.items import (
    ITEM_TYPE_NAMES,
    MESSAGE,
    THREADS_ROLES,
    IncompleteReason,
    MessageStatus,
    Role,
    in_threads_view,
)
from threads_app.models import IN_THREADS_VIEW, IdempotencyRecord, Message, Thread, Tombstone
from threads_app.pagination import MessagePagination, ThreadPagination
from threads_app.store.search import OBJECT_ID, is_item_id, search_thread_id
from threads_app.store.sql import Names
from threads_app.transfer import row_record

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "openapi.json"
VIEW_INDEX = "threads_app_message_view"


def schemas() -> dict:
    return json.loads(SNAPSHOT.read_text())["components"]["schemas"]


def refused(rule, *args) -> bool:
    try:
        rule(*args)
    except validation.ValidationError:
        return True
    return False


# The vocabulary ---------------------------------------------------------------


def test_the_openapi_enums_are_the_vocabulary():
    found = schemas()
    message = found["MessageObject"]["properties"]
    assert message["role"]["enum"] == list(THREADS_ROLES)
    assert found["CreateMessageRequest"]["properties"]["role"]["enum"] == list(THREADS_ROLES)
    assert message["status"]["enum"] == MessageStatus.values
    reason = message["incomplete_details"]["anyOf"][0]["properties"]["reason"]
    assert reason["enum"] == IncompleteReason.values
    item_message = found["ItemRequest"]["oneOf"][0]["properties"]
    assert item_message["type"] == {"const": MESSAGE}
    assert item_message["role"]["enum"] == Role.values
    assert item_message["status"]["anyOf"][0]["enum"] == MessageStatus.values
    assert found["Item"]["properties"]["type"]["enum"] == list(ITEM_TYPE_NAMES)
    requests = found["ItemRequest"]["oneOf"]
    assert [variant["properties"]["type"]["const"] for variant in requests] == list(
        ITEM_TYPE_NAMES
    )


def test_the_openapi_objects_and_ids_are_the_sources():
    found = schemas()
    for name, object_type, prefix in (
        ("ThreadObject", items.THREAD_OBJECT, THREAD_PREFIX),
        ("MessageObject", items.MESSAGE_OBJECT, MESSAGE_PREFIX),
        ("ConversationObject", items.CONVERSATION_OBJECT, CONVERSATION_PREFIX),
    ):
        assert found[name]["properties"]["object"] == {"const": object_type}
        assert found[name]["properties"]["id"]["pattern"] == "^" + id_start(prefix)
        deleted = found[name.replace("Object", "Deleted")]["properties"]
        assert deleted["object"] == {"const": object_type + ".deleted"}
        assert deleted["id"]["pattern"] == "^" + id_start(prefix)
    for name in ("ThreadList", "MessageList", "ItemList"):
        assert found[name]["properties"]["object"] == {"const": items.LIST_OBJECT}


def test_the_models_and_the_admin_take_the_vocabulary():
    assert Message._meta.get_field("role").choices == Role.choices
    assert Message._meta.get_field("status").choices == MessageStatus.choices
    assert Message._meta.get_field("status").get_default() == MessageStatus.COMPLETED
    assert Message._meta.get_field("type").get_default() == MESSAGE
    # Staff add Threads messages; the other roles come through the Conversations API.
    assert [value for value, _ in MessageForm().fields["role"].choices] == list(THREADS_ROLES)


def test_the_columns_hold_every_value_the_vocabulary_allows():
    def longest(values) -> int:
        return max(len(value) for value in values)

    statuses = {value for spec in items.ITEM_TYPES.values()
                for value in (spec.fields.get("status") or ()) if value is not None}
    assert longest(Role.values) <= Message._meta.get_field("role").max_length
    # A row keeps its item's status in the column, whatever its type's statuses are.
    assert longest({*MessageStatus.values, *statuses}) <= Message._meta.get_field(
        "status"
    ).max_length
    assert longest(ITEM_TYPE_NAMES) <= Message._meta.get_field("type").max_length
    for model in (Thread, Message, Tombstone):
        assert model._meta.get_field("public_id").max_length == ID_MAX_LENGTH
    assert IdempotencyRecord._meta.get_field("key").max_length == IdempotencyPolicy.max_key_length


def test_validation_accepts_exactly_the_vocabulary():
    for role in (*Role.values, "tool", ""):
        body = {"role": role, "content": "hi"}
        assert refused(validation.clean_message_create, body) == (role not in THREADS_ROLES)
        item = {"type": MESSAGE, "role": role, "content": "hi"}
        assert refused(validation.clean_item, item, "item") == (role not in Role.values)
    for status in (*MessageStatus.values, "failed"):
        item = {"type": MESSAGE, "role": "user", "content": "hi", "status": status}
        assert refused(validation.clean_item, item, "item") == (status not in MessageStatus.values)
    for reason in (*IncompleteReason.values, "unknown"):
        assert refused(validation.clean_incomplete_details, {"reason": reason}, "details") == (
            reason not in IncompleteReason.values
        )


# ID prefixes -----------------------------------------------------------------


def all_prefixes() -> list[str]:
    return [THREAD_PREFIX, MESSAGE_PREFIX, CONVERSATION_PREFIX,
            *(items.item_type(name).prefix for name in ITEM_TYPE_NAMES)]


def test_prefixes_are_distinct_and_of_the_shape_every_reader_expects():
    prefixes = all_prefixes()
    # A message item's prefix is the Threads message's, once.
    assert prefixes.count(MESSAGE_PREFIX) == 2
    assert len(set(prefixes)) == len(prefixes) - 1
    assert all(re.fullmatch(PREFIX_PATTERN, prefix) for prefix in prefixes)
    matched = {c for c in string.printable if re.fullmatch(ALPHABET_PATTERN, c)}
    assert matched == set(ALPHABET)
    for prefix in prefixes:
        made = new_id(prefix)
        assert made.startswith(id_start(prefix))
        assert OBJECT_ID.fullmatch(made) and validation.ITEM_ID_PATTERN.fullmatch(made)
        assert len(made) <= ID_MAX_LENGTH


def test_every_reader_of_a_prefix_reads_the_table():
    thread = new_id(THREAD_PREFIX)
    conversation = conversation_id(thread)
    assert conversation.startswith(id_start(CONVERSATION_PREFIX))
    assert thread_id(conversation) == thread
    assert search_thread_id(thread) == search_thread_id(conversation) == thread
    assert is_item_id(new_id(MESSAGE_PREFIX)) and not is_item_id(conversation)
    assert MessagePagination.id_prefix == MESSAGE_PREFIX
    assert ThreadPagination.id_prefix == THREAD_PREFIX
    assert validation.check_thread_id(thread) == thread
    assert refused(validation.check_thread_id, conversation)
    assert refused(validation.check_message_id, thread)


# The Threads view ------------------------------------------------------------


def migration_condition():
    """The partial index's condition as migration 0006 froze it."""
    migration = importlib.import_module("threads_app.migrations.0006_threads_view_index")
    (index,) = [operation.index for operation in migration.Migration.operations
                if getattr(operation, "index", None) is not None
                and operation.index.name == VIEW_INDEX]
    return index.condition


@pytest.mark.django_db
def test_the_threads_view_is_one_rule(user):
    """The ORM's filter, the frozen index, the store's SQL, Python's test and the export
    all pick the same rows: messages of the Threads roles, nothing else."""
    thread = Thread.objects.create(owner=user)
    for type_name in (MESSAGE, "function_call", "reasoning"):
        for role in (*Role.values, ""):
            Message.objects.create(thread=thread, type=type_name, role=role, content=[],
                                   item={"type": type_name, "id": "x"})
    rows = Message.objects.filter(thread=thread)
    expected = {(MESSAGE, role) for role in THREADS_ROLES}
    assert expected == {(MESSAGE, Role.USER), (MESSAGE, Role.ASSISTANT)}

    def kinds(queryset) -> set[tuple[str, str]]:
        return set(queryset.values_list("type", "role"))

    assert kinds(rows.in_threads_view()) == expected
    assert kinds(rows.filter(IN_THREADS_VIEW)) == expected
    assert kinds(rows.filter(migration_condition())) == expected
    names = Names(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {names.column(Message, 'type')}, {names.column(Message, 'role')} "
            f"FROM {names.table(Message)} WHERE {names.column(Message, 'thread')} = %s "
            f"AND {names.threads_view()}",
            [thread.public_id],
        )
        assert set(cursor.fetchall()) == expected
    assert {(row.type, row.role) for row in rows if in_threads_view(row.type, row.role)} == (
        expected
    )
    exported = {(row.type, row.role) for row in rows
                if row_record(row, thread.public_id)["object"] == items.MESSAGE_OBJECT}
    assert exported == expected


@pytest.mark.django_db
def test_the_store_repeats_the_index_predicate_as_written():
    """SQLite uses a partial index only for a query that repeats each of its terms."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL normalizes the predicate; test_queries.py checks its plans")
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [VIEW_INDEX])
        (created,) = cursor.fetchone()
    assert created.endswith(f"WHERE ({Names(connection.alias).threads_view()})")


def test_the_openapi_item_ids_are_those_validation_accepts():
    """A client that checks its request against the document is not refused for an ID's
    length: the document's pattern counts the prefix within ID_MAX_LENGTH, as the rule does."""
    variants = schemas()["ItemRequest"]["oneOf"]
    for variant in variants:
        name = variant["properties"]["type"]["const"]
        pattern = variant["properties"]["id"]["anyOf"][0]["pattern"]
        prefix = items.item_type(name).prefix
        for length in (ID_MAX_LENGTH - 1, ID_MAX_LENGTH, ID_MAX_LENGTH + 1):
            item_id = id_start(prefix) + "a" * (length - len(id_start(prefix)))
            accepted = not refused(validation.clean_item_id, item_id, prefix, "id")
            assert accepted == (length <= ID_MAX_LENGTH)
            assert (re.search(pattern, item_id) is not None) == accepted, (name, length)
