"""The read-replica router against a real PostgreSQL streaming replica.

The replica is a copy of the test database's server that streams from it
(``scripts/postgres_replica.sh``); DATABASE_REPLICA_URL names it, and the
suite reaches it as the alias "replica" (tests/settings.py). Pausing its replay
(``pg_wal_replay_pause()``) makes it lag for as long as a test needs: a row
written then is on the primary only, which shows which of the two answered.
"""

import time
from contextlib import ExitStack, contextmanager

import openai
import pytest
from django import conf
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction

from threads_app.models import APIKey, Message, Thread
from threads_app.routers import wal_position

from .conftest import mount_url
from .server import gunicorn, server_environment

pytestmark = [
    pytest.mark.skipif(
        "replica" not in conf.settings.DATABASES,  # tests/settings.py: DATABASE_REPLICA_URL
        reason="no streaming replica: start one with `scripts/postgres_replica.sh start DIR` "
        "and set DATABASE_REPLICA_URL to the URL it prints (with DATABASE_URL on PostgreSQL)",
    ),
    pytest.mark.django_db(databases=["default", "replica"], transaction=True),
]


@pytest.fixture
def routed(settings):
    """The site as docs/scaling.md configures it, with the replica as its only one."""
    settings.DATABASE_ROUTERS = ["threads_app.routers.PrimaryReplicaRouter"]
    settings.THREADS_APP = {"REPLICA_DATABASES": ["replica"]}
    caught_up()
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (True,), "DATABASE_REPLICA_URL names no standby"


def caught_up(timeout: float = 60) -> None:
    """Wait until the replica has replayed all the primary has written so far."""
    target = wal_position("default", "pg_current_wal_insert_lsn")
    deadline = time.monotonic() + timeout
    while (wal_position("replica", "pg_last_wal_replay_lsn") or 0) < target:
        assert time.monotonic() < deadline, "the replica does not catch up"
        time.sleep(0.02)


@contextmanager
def replay_paused():
    """The replica, receiving the primary's WAL but applying none of it."""
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
        try:
            while True:  # the startup process pauses at its next record
                cursor.execute("SELECT pg_get_wal_replay_pause_state()")
                if cursor.fetchone() == ("paused",):
                    break
                time.sleep(0.01)
            yield
        finally:
            cursor.execute("SELECT pg_wal_replay_resume()")


def client(live_server, secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=secret, base_url=mount_url(live_server), max_retries=0)


def texts(page) -> list[str]:
    return [message.content[0].text.value for message in page.data]


def test_reads_go_to_the_replica_and_a_writer_reads_its_own_writes(live_server, routed):
    owner = get_user_model().objects.create_user("replicated")
    writer_key, reader_key = APIKey.generate(owner)[1], APIKey.generate(owner)[1]
    with client(live_server, writer_key) as writer, client(live_server, reader_key) as reader:
        thread = writer.beta.threads.create(messages=[{"role": "user", "content": "first"}])
        caught_up()
        with replay_paused():
            second = writer.beta.threads.messages.create(thread.id, role="user", content="second")
            # Another client reads the replica, which has not applied the write.
            assert texts(reader.beta.threads.messages.list(thread.id, order="asc")) == ["first"]
            with pytest.raises(openai.NotFoundError):
                reader.beta.threads.messages.retrieve(second.id, thread_id=thread.id)
            # The writer reads its write at once, in its next requests.
            listed = writer.beta.threads.messages.list(thread.id, order="asc")
            assert texts(listed) == ["first", "second"]
            assert writer.beta.threads.messages.retrieve(second.id, thread_id=thread.id) == second
            # A thread it creates is there for it too, in the list and by itself.
            created = writer.beta.threads.create(metadata={"n": "2"})
            assert writer.beta.threads.retrieve(created.id) == created
            listed_threads = writer.get("/threads", cast_to=object)
            assert [t["id"] for t in listed_threads["data"]] == [created.id, thread.id]
            # A write's reads run in its transaction, on the primary: the reader can
            # change a message its replica does not have yet.
            changed = reader.beta.threads.messages.update(
                second.id, thread_id=thread.id, metadata={"seen": "yes"}
            )
            assert changed.metadata == {"seen": "yes"}
        caught_up()
        assert texts(reader.beta.threads.messages.list(thread.id, order="asc")) == [
            "first", "second"
        ]
        # Once the replica has replayed its writes, the writer reads from it again:
        # a message written on the primary alone, while replay is paused, is not seen.
        with replay_paused():
            Message.objects.create(thread=Thread.objects.get(public_id=thread.id),
                                   role="user", content=[])
            assert texts(writer.beta.threads.messages.list(thread.id, order="asc")) == [
                "first", "second"
            ]
        caught_up()
        assert len(writer.beta.threads.messages.list(thread.id).data) == 3


def test_a_transaction_reads_the_primary_and_other_reads_the_replica(routed):
    """Outside a request (a command, a shell): a read in a transaction sees its own write."""
    owner = get_user_model().objects.create_user("unrouted")
    caught_up()
    with replay_paused():
        with transaction.atomic():
            thread = Thread.objects.create(owner=owner)
            assert Thread.objects.filter(pk=thread.pk).exists()
        assert not Thread.objects.filter(pk=thread.pk).exists()
        assert Thread.objects.using("default").filter(pk=thread.pk).exists()


def database_url(alias: str) -> str:
    """The URL of ``alias``'s test database, on its own server."""
    config = connections[alias].settings_dict
    return f"postgres://{config['USER']}@{config['HOST']}:{config['PORT']}/{connection.settings_dict['NAME']}"


def test_the_demo_site_keeps_read_your_writes_across_processes(routed):
    """Two gunicorn servers of the demo site: a client writes through one and reads through
    the other, which learns of the write from the cache they share (project/settings.py)."""
    owner = get_user_model().objects.create_user("demo")
    writer_key, reader_key = APIKey.generate(owner)[1], APIKey.generate(owner)[1]
    env = server_environment(DATABASE_URL=database_url("default"),
                             DATABASE_REPLICA_URL=database_url("replica"))
    with gunicorn(env) as one, gunicorn(env) as another, ExitStack() as clients:
        def client(secret: str, address: tuple[str, int]) -> openai.OpenAI:
            base_url = f"http://{address[0]}:{address[1]}/v1/"
            return clients.enter_context(
                openai.OpenAI(api_key=secret, base_url=base_url, max_retries=0)
            )

        writing, reading = client(writer_key, one), client(writer_key, another)
        other = client(reader_key, another)
        thread = writing.beta.threads.create(messages=[{"role": "user", "content": "first"}])
        caught_up()
        with replay_paused():
            writing.beta.threads.messages.create(thread.id, role="user", content="second")
            listed = reading.beta.threads.messages.list(thread.id, order="asc")
            assert texts(listed) == ["first", "second"]
            assert texts(other.beta.threads.messages.list(thread.id, order="asc")) == ["first"]
