"""Migration 0009 (a message names its thread by public ID): forward and back
without losing a row or a cursor, and all or nothing on every backend."""

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection
from django.db.migrations.recorder import MigrationRecorder

from threads_app.models import Message, Thread

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = "0008_tombstone_deleted_at"
CHANGE = "0009_message_thread_public_id"


def migrate(target: str | None = None) -> None:
    call_command("migrate", "threads_app", *([target] if target else []), verbosity=0)


@pytest.fixture
def back_to_latest() -> Iterator[None]:
    """Whatever a test does to the schema, the next one starts from the latest."""
    yield
    migrate()


def message_threads() -> dict[str, str]:
    """Each message's ID and its ``thread_id`` column, read as text whatever its type."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT public_id, CAST(thread_id AS TEXT) FROM threads_app_message")
        return dict(cursor.fetchall())


def applied(name: str) -> bool:
    return MigrationRecorder(connection).migration_qs.filter(app="threads_app", name=name).exists()


def test_forward_and_back_keep_every_message_with_its_thread(user, back_to_latest):
    threads = [Thread.objects.create(owner=user) for _ in range(3)]
    for thread in threads:
        for _ in range(4):
            Message.objects.create(thread=thread, role="user", content=[])
    by_id = {m.public_id: m.thread.public_id for m in Message.objects.select_related("thread")}
    assert set(by_id.values()) == {thread.public_id for thread in threads}
    assert message_threads() == by_id

    migrate(BEFORE)
    seqs = {thread.public_id: str(thread.seq) for thread in threads}
    assert message_threads() == {m: seqs[t] for m, t in by_id.items()}

    migrate()
    assert message_threads() == by_id
    assert applied(CHANGE)


def test_a_cursor_given_before_the_migration_works_after_it(sdk, back_to_latest):
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": str(n)}
                                               for n in range(5)])
    first = sdk.beta.threads.messages.list(thread.id, limit=2, order="asc")
    cursor = first.data[-1].id
    expected = [m.id for m in sdk.beta.threads.messages.list(thread.id, after=cursor, order="asc")]
    assert len(expected) == 3

    migrate(BEFORE)
    migrate()

    after = sdk.beta.threads.messages.list(thread.id, after=cursor, order="asc")
    assert [m.id for m in after] == expected
    assert sdk.beta.threads.messages.retrieve(expected[0], thread_id=thread.id).id == expected[0]


def insert_orphan(thread_seq: int) -> None:
    """A message whose thread is gone, as a database without foreign keys could hold."""
    sql = (
        "INSERT INTO threads_app_message (public_id, thread_id, created_at, type, role, "
        "content, attachments, metadata, status) "
        "VALUES ('msg_orphan', %s, CURRENT_TIMESTAMP, 'message', 'user', '[]', '[]', '{}', "
        "'completed')"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Foreign keys are triggers, which a replica role does not fire.
            cursor.execute("SET session_replication_role = replica")
            try:
                cursor.execute(sql, [thread_seq])
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
    else:
        with connection.constraint_checks_disabled(), connection.cursor() as cursor:
            cursor.execute(sql, [thread_seq])


def test_a_failure_leaves_the_schema_and_the_rows_as_they_were(user, back_to_latest):
    thread = Thread.objects.create(owner=user)
    kept = Message.objects.create(thread=thread, role="user", content=[])
    migrate(BEFORE)
    insert_orphan(thread.seq + 1000)
    before = message_threads()
    assert before == {kept.public_id: str(thread.seq), "msg_orphan": str(thread.seq + 1000)}

    with pytest.raises(IntegrityError):
        migrate()

    assert not applied(CHANGE)
    assert message_threads() == before
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM threads_app_message WHERE public_id = 'msg_orphan'")
    migrate()
    assert message_threads() == {kept.public_id: thread.public_id}
