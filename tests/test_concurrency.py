"""Concurrent writers against gunicorn with several worker processes, on the test database.

Eight clients (the official SDK, no retries) each create ``CONCURRENCY_MESSAGES``
(200) messages in one shared thread and ``CONCURRENCY_THREADS`` (50) threads of
their own, all at once. Afterwards every acknowledged object must be stored
exactly once, no request may have failed, the server must not have met a locked
database, and the shared thread's order must be the order of acknowledgement:
for each client, and between clients wherever one's answer came before the
other's request was sent; its ``created_at`` never goes back along that order.
Beside it, deterministic tests hold a thread's lock while a write waits for it.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest
from django.db import connection, transaction
from django.utils import timezone

from threads_app.ids import thread_id
from threads_app.models import Message, Thread
from threads_app.representation import unix_seconds
from threads_app.validation import text_part

from .conftest import end_pooled_sessions

CLIENTS = 8
MESSAGES = int(os.environ.get("CONCURRENCY_MESSAGES", "200"))
THREADS = int(os.environ.get("CONCURRENCY_THREADS", "50"))
WORKERS = 4
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gunicorn_url(transactional_db):
    """gunicorn with ``WORKERS`` sync workers on a free port; its log is checked afterwards."""
    log = tempfile.NamedTemporaryFile("w+", prefix="gunicorn-", suffix=".log", delete=False)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.server_settings",
        "THREADS_APP_TEST_DATABASE": str(connection.settings_dict["NAME"]),
    }
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "project.wsgi:application",
            "--bind", "127.0.0.1:0", "--workers", str(WORKERS), "--worker-class", "sync",
            "--log-level", "info", *no_control_socket(),
            # Which worker answered each request, to show that several did.
            "--access-logfile", "-", "--access-logformat", "served-by=%(p)s %(s)s",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield f"{listening_address(log.name, server)}/api/openai/v1/", log.name
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        end_pooled_sessions()
        print(Path(log.name).read_text()[-5000:])  # shown by pytest if the test failed
        log.close()
        os.unlink(log.name)


def no_control_socket() -> list[str]:
    # gunicorn 25+ opens a control socket at a fixed path; servers side by side would share it.
    from gunicorn.config import Config

    return ["--no-control-socket"] if "control_socket_disable" in Config().settings else []


def listening_address(log_path: str, server: subprocess.Popen, timeout: float = 30) -> str:
    """Where gunicorn listens, once all its workers have booted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = Path(log_path).read_text()
        address = re.search(r"Listening at: (http://\S+)", text)
        if address and text.count("Booting worker") >= WORKERS:
            return address.group(1)
        if server.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError("gunicorn did not start:\n" + Path(log_path).read_text())


@dataclass
class Acknowledged:
    object_id: str
    sent_at: float
    answered_at: float


@dataclass
class Client:
    number: int
    messages: list[Acknowledged] = field(default_factory=list)
    threads: list[Acknowledged] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def run(self, sdk: openai.OpenAI, thread_id: str, start: threading.Barrier) -> None:
        start.wait()
        # Threads interleaved with the messages, so both kinds of write contend.
        thread_every = max(1, MESSAGES // max(1, THREADS))
        try:
            for n in range(MESSAGES):
                sent = time.monotonic()
                message = sdk.beta.threads.messages.create(
                    thread_id,
                    role="user",
                    content=f"client {self.number} message {n}",
                    metadata={"client": str(self.number), "n": str(n)},
                )
                self.messages.append(Acknowledged(message.id, sent, time.monotonic()))
                if n % thread_every == 0 and len(self.threads) < THREADS:
                    self.create_thread(sdk)
            while len(self.threads) < THREADS:
                self.create_thread(sdk)
        except BaseException as exc:  # reported by the test, with the client's number
            self.errors.append(exc)
        finally:
            sdk.close()

    def create_thread(self, sdk: openai.OpenAI) -> None:
        sent = time.monotonic()
        thread = sdk.beta.threads.create(
            metadata={"client": str(self.number), "n": str(len(self.threads))}
        )
        self.threads.append(Acknowledged(thread.id, sent, time.monotonic()))


def test_concurrent_writers_lose_nothing_and_keep_order(gunicorn_url, secret):
    base_url, log_path = gunicorn_url
    sdk = openai.OpenAI(api_key=secret, base_url=base_url, max_retries=0, timeout=60)
    shared = sdk.beta.threads.create(metadata={"shared": "yes"})
    clients = [Client(number) for number in range(CLIENTS)]
    start = threading.Barrier(CLIENTS)
    workers = [
        threading.Thread(
            target=client.run,
            args=(openai.OpenAI(api_key=secret, base_url=base_url, max_retries=0, timeout=60),
                  shared.id, start),
        )
        for client in clients
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    log = Path(log_path).read_text()
    failures = [f"client {c.number}: {e!r}" for c in clients for e in c.errors]
    assert not failures, "\n".join(failures) + "\n" + log[-3000:]
    assert "locked" not in log and "Traceback" not in log, log[-3000:]
    served_by = Counter(re.findall(r"served-by=<(\d+)> (\d+)", log))
    assert len({pid for pid, _ in served_by}) > 1, "one worker process served every request"
    assert {status for _, status in served_by} == {"200"}

    # Every acknowledged message is in the thread, exactly once, and nothing else is.
    stored = list(sdk.beta.threads.messages.list(shared.id, order="asc", limit=100))
    stored_ids = [m.id for m in stored]
    acknowledged = {a.object_id: a for c in clients for a in c.messages}
    assert len(acknowledged) == CLIENTS * MESSAGES
    assert len(stored_ids) == len(set(stored_ids)) == len(acknowledged)
    assert set(stored_ids) == set(acknowledged)
    origins = Counter((m.metadata["client"], m.metadata["n"]) for m in stored)
    assert max(origins.values()) == 1
    # List order and creation times agree: each time is taken under the thread's lock.
    times = [m.created_at for m in stored]
    assert times == sorted(times), "created_at goes backwards in an ascending list"

    # Each client's messages stand in the order it was answered.
    writer = {a.object_id: c.number for c in clients for a in c.messages}
    for client in clients:
        mine = [object_id for object_id in stored_ids if writer[object_id] == client.number]
        assert mine == [a.object_id for a in client.messages], f"client {client.number}"

    # Across clients: a message answered before another was sent stands before it.
    later_answered = float("inf")
    for object_id in reversed(stored_ids):
        message = acknowledged[object_id]
        assert later_answered >= message.sent_at, (
            f"{object_id} stands before a message that was answered before it was sent"
        )
        later_answered = min(later_answered, message.answered_at)

    # Every acknowledged thread is stored, once.
    listed = sdk.get("/threads", cast_to=object, options={"params": {"limit": 100}})
    thread_ids = []
    page = listed
    while True:
        thread_ids += [t["id"] for t in page["data"]]
        if not page["has_more"]:
            break
        page = sdk.get(
            "/threads", cast_to=object,
            options={"params": {"limit": 100, "after": page["last_id"]}},
        )
    created = {a.object_id for c in clients for a in c.threads}
    assert len(created) == CLIENTS * THREADS
    assert len(thread_ids) == len(set(thread_ids))
    assert set(thread_ids) == created | {shared.id}
    sdk.close()


@contextmanager
def holding_the_lock_of(thread_id: str):
    """Hold what every write into the thread takes first: its row's lock on PostgreSQL,
    the database's write lock on SQLite (immediate transactions take it at BEGIN)."""
    with transaction.atomic():
        yield Thread.objects.select_for_update().get(public_id=thread_id)


def in_background(call) -> tuple[threading.Thread, dict]:
    """Run ``call`` in a thread of its own; its answer (or error) lands in the dict."""
    outcome: dict = {}

    def run():
        try:
            outcome["answer"] = call()
        except BaseException as exc:  # shown by the test that waits for it
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    return worker, outcome


def test_created_at_is_taken_under_the_thread_lock(sdk):
    """A create that waits for the thread's lock is stamped once it holds it: a time taken
    before the wait would be older than that of the message written meanwhile, and the
    ascending list would go back in time. The SDK answers with the time stored."""
    thread = sdk.beta.threads.create()
    with holding_the_lock_of(thread.id) as locked:
        worker, outcome = in_background(
            lambda: sdk.beta.threads.messages.create(thread.id, role="user", content="waited")
        )
        time.sleep(1.2)  # the request has begun and waits; more than a second goes by
        now = timezone.now()
        meanwhile = Message.objects.create(thread=locked, role="user", created_at=now,
                                           completed_at=now, content=[text_part("meanwhile")])
    worker.join(timeout=60)
    assert "error" not in outcome, outcome
    waited = outcome["answer"]
    listed = list(sdk.beta.threads.messages.list(thread.id, order="asc"))
    assert [m.id for m in listed] == [meanwhile.public_id, waited.id]
    assert listed[0].created_at <= listed[1].created_at, "created_at goes backwards"
    stored = Message.objects.get(public_id=waited.id)
    assert stored.created_at >= meanwhile.created_at
    assert stored.completed_at == stored.created_at
    assert waited.created_at == waited.completed_at == unix_seconds(stored.created_at)
    assert listed[1] == waited


def metadata_doors(sdk, metadata: dict) -> dict:
    """For a thread, a message and a conversation holding ``metadata``: the thread's ID,
    a modify through the SDK, and a write of the stored map straight to the row."""
    thread = sdk.beta.threads.create(metadata=metadata)
    message = sdk.beta.threads.messages.create(thread.id, role="user", content="hi",
                                               metadata=metadata)
    conversation = sdk.conversations.create(metadata=metadata)
    conversation_thread = thread_id(conversation.id)
    return {
        "thread": (thread.id,
                   lambda body: sdk.beta.threads.update(thread.id, metadata=body),
                   lambda stored: Thread.objects.filter(public_id=thread.id)
                   .update(metadata=stored)),
        "message": (thread.id,
                    lambda body: sdk.beta.threads.messages.update(
                        message.id, thread_id=thread.id, metadata=body),
                    lambda stored: Message.objects.filter(public_id=message.id)
                    .update(metadata=stored)),
        "conversation": (conversation_thread,
                         lambda body: sdk.conversations.update(conversation.id, metadata=body),
                         lambda stored: Thread.objects.filter(public_id=conversation_thread)
                         .update(metadata=stored)),
    }


@pytest.mark.parametrize("door", ["thread", "message", "conversation"])
def test_a_modify_merges_into_the_map_it_finds_under_the_lock(sdk, door):
    """A key written while a modify waits for the lock is kept: the merge reads the
    stored map once it holds the lock, not before."""
    thread_id, modify, write = metadata_doors(sdk, {"a": "1"})[door]
    with holding_the_lock_of(thread_id):
        worker, outcome = in_background(lambda: modify({"b": "2"}))
        time.sleep(0.5)  # the modify has begun and waits
        write({"a": "1", "c": "3"})
    worker.join(timeout=60)
    assert "error" not in outcome, outcome
    assert outcome["answer"].metadata == {"a": "1", "c": "3", "b": "2"}
