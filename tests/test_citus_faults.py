"""A Citus worker stopped under write load, and started again.

Run on a cluster (``DATABASE_CITUS=1``, tests/citus.py) that ``scripts/citus_cluster.sh
start DIR`` made, with ``CITUS_CLUSTER_DIR=DIR``: the test stops a worker's server there
with ``pg_ctl`` (as the ``postgres`` user when run as root) and starts it again, as the
Citus stage of .ci/run does. gunicorn serves the test database
(tests/test_concurrency.py); writers using the official SDK, without retries, add
messages to threads on both workers' shards and create threads with messages, before,
while and after the worker is down. Every request on the stopped worker's shards while
it is down must answer 503 with ``Retry-After`` and the error envelope, and nothing else
may fail; once it is back, every acknowledged write is listed, in its writer's order, no
refused write is, and amcheck finds every index of every node sound
(scripts/crash_test.py's check). """

import importlib.util
import itertools
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest
from django.db import connection, connections

from threads_app.models import APIKey

from . import citus
from .test_concurrency import gunicorn_url  # noqa: F401 (the server, a fixture)

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_DIR = os.environ.get("CITUS_CLUSTER_DIR")
WRITERS = 6
BATCH = 3  # messages in each thread created with messages
THREADS_PER_WORKER = 3  # threads the writers add messages to, on each worker
# Seconds the SDK waits for an answer: far more than a request should take, far less
# than forever. A worker that refuses connections fails a request at once; one that
# does not answer at all would hold it for citus.node_connection_timeout (docs/scaling.md).
CLIENT_TIMEOUT = 20

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not citus.CITUS or not CLUSTER_DIR,
        reason="needs a Citus cluster made by scripts/citus_cluster.sh start DIR, with "
        "DATABASE_CITUS=1, DATABASE_URL naming its coordinator and CITUS_CLUSTER_DIR=DIR "
        "(docs/scaling.md)",
    ),
]


class Worker:
    """A worker's server, in the folder ``scripts/citus_cluster.sh`` keeps it in (``node-PORT``)."""

    def __init__(self, node: citus.Node):
        self.node = node
        self.data = Path(CLUSTER_DIR) / f"node-{node.port}"
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        try:
            # The pg_ctl beside the server that runs it: the cluster's PostgreSQL version.
            self.pg_ctl = Path(os.readlink(f"/proc/{pid}/exe")).with_name("pg_ctl")
        except OSError:  # another user's process
            self.pg_ctl = Path(shutil.which("pg_ctl") or "pg_ctl")

    def pg_ctl_run(self, *args: str) -> None:
        command = [str(self.pg_ctl), "-D", str(self.data), "-w", *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["su", "postgres", "-c", subprocess.list2cmdline(command)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        self.pg_ctl_run("-m", "fast", "stop")

    def start(self) -> None:
        self.pg_ctl_run("-l", str(self.data.parent / f"node-{self.node.port}.log"), "start")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@dataclass
class Answer:
    """One request: what it was for, when, and what came back."""

    kind: str  # "message" or "thread"
    port: int | None  # the worker of the thread written to; None for a new thread
    marker: str  # the content written, unique to the request
    sent_at: float
    answered_at: float
    status: int | None = None  # None: no answer (a timeout, a broken connection)
    object_id: str | None = None
    thread_id: str | None = None
    retry_after: str | None = None
    body: dict | None = None
    error: str | None = None


@dataclass
class Writer:
    number: int
    answers: list[Answer] = field(default_factory=list)

    def run(
        self, sdk: openai.OpenAI, threads: list[tuple[str, int]], stop: threading.Event
    ) -> None:
        with sdk:
            for n in itertools.count():
                if stop.is_set():
                    return
                if n % 5 == 4:
                    self.answers.append(self.create_thread(sdk, n))
                else:
                    thread_id, port = threads[(self.number + n) % len(threads)]
                    self.answers.append(self.create_message(sdk, thread_id, port, n))

    def create_message(self, sdk: openai.OpenAI, thread_id: str, port: int, n: int) -> Answer:
        answer = Answer(
            "message",
            port,
            f"writer {self.number} message {n}",
            time.monotonic(),
            0.0,
            thread_id=thread_id,
        )
        return call(
            answer,
            lambda: sdk.beta.threads.messages.create(thread_id, role="user", content=answer.marker),
        )

    def create_thread(self, sdk: openai.OpenAI, n: int) -> Answer:
        answer = Answer("thread", None, f"writer {self.number} thread {n}", time.monotonic(), 0.0)
        messages = [{"role": "user", "content": f"{answer.marker}.{i}"} for i in range(BATCH)]
        return call(
            answer,
            lambda: sdk.beta.threads.create(messages=messages, metadata={"marker": answer.marker}),
        )


def call(answer: Answer, request) -> Answer:
    try:
        created = request()
    except openai.APIStatusError as refused:
        answer.status = refused.status_code
        answer.retry_after = refused.response.headers.get("Retry-After")
        answer.body = refused.response.json()
    except openai.APIError as failed:  # no answer at all
        answer.error = repr(failed)
    else:
        answer.status = 200
        answer.object_id = created.id
        if answer.kind == "thread":
            answer.thread_id = created.id
    answer.answered_at = time.monotonic()
    return answer


def worker_of(thread_id: str) -> int:
    """The port of the worker holding ``thread_id``'s messages."""
    with connection.cursor() as cursor:
        cursor.execute(
            # Citus's metadata alone (citus_shards would ask every worker for sizes).
            "SELECT nodeport FROM pg_dist_placement JOIN pg_dist_node USING (groupid) "
            "WHERE shardid = get_shard_id_for_distribution_column('threads_app_message', %s::text)",
            [thread_id],
        )
        return cursor.fetchone()[0]


def threads_on_every_worker(sdk: openai.OpenAI, ports: list[int]) -> list[tuple[str, int]]:
    """``THREADS_PER_WORKER`` threads on each worker, made through the API."""
    made: dict[int, list[str]] = {port: [] for port in ports}
    for _ in range(200):  # each new thread lands on a random shard
        thread_id = sdk.beta.threads.create().id
        port = worker_of(thread_id)
        if len(made[port]) < THREADS_PER_WORKER:
            made[port].append(thread_id)
        if all(len(ids) == THREADS_PER_WORKER for ids in made.values()):
            return [(t, port) for port, ids in made.items() for t in ids]
    raise AssertionError(f"200 threads did not land on every worker: {made}")


def first_request_with(key: str, base_url: str, thread_id: str, port: int) -> Answer:
    """A message added to ``thread_id`` (on the worker ``port``) with ``key``, its first use."""
    answer = Answer(
        "message", port, "a new key's first message", time.monotonic(), 0.0, thread_id=thread_id
    )
    with openai.OpenAI(
        api_key=key, base_url=base_url, max_retries=0, timeout=CLIENT_TIMEOUT
    ) as sdk:
        return call(
            answer,
            lambda: sdk.beta.threads.messages.create(thread_id, role="user", content=answer.marker),
        )


def load_crash_test():
    spec = importlib.util.spec_from_file_location("crash_test", ROOT / "scripts/crash_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def listed(sdk: openai.OpenAI, thread_id: str) -> list:
    return list(sdk.beta.threads.messages.list(thread_id, order="asc", limit=100))


def all_threads(sdk: openai.OpenAI) -> list[dict]:
    """The owner's threads, every page (the SDK has no call for this list)."""
    found, params = [], {"limit": 100}
    while True:
        page = sdk.get("/threads", cast_to=object, options={"params": params})
        found += page["data"]
        if not page["has_more"]:
            return found
        params["after"] = page["last_id"]


def test_a_stopped_worker_answers_503_and_loses_nothing(gunicorn_url, user, secret):  # noqa: F811
    base_url, log_path = gunicorn_url
    settings = connection.settings_dict
    workers = citus.workers_of(settings)
    stopped = Worker(workers[0])
    other = workers[1].port
    ports = [w.port for w in workers]
    # A key no server process has looked up: its first use is recorded, in a table that
    # every node holds a copy of.
    new_key = APIKey.generate(user)[1]
    sdk = openai.OpenAI(api_key=secret, base_url=base_url, max_retries=0, timeout=CLIENT_TIMEOUT)
    threads = threads_on_every_worker(sdk, ports)
    writers = [Writer(number) for number in range(WRITERS)]
    stop = threading.Event()
    pool = [
        threading.Thread(
            target=writer.run,
            args=(
                openai.OpenAI(
                    api_key=secret, base_url=base_url, max_retries=0, timeout=CLIENT_TIMEOUT
                ),
                threads,
                stop,
            ),
        )
        for writer in writers
    ]

    def answered(port: int, status: int, after: float) -> bool:
        return any(
            a.port == port and a.status == status and a.sent_at > after
            for w in writers
            for a in list(w.answers)
        )

    stopping = stopped_at = starting = started_at = None
    try:
        for thread in pool:
            thread.start()
        begun = time.monotonic()
        assert wait_for(lambda: answered(stopped.node.port, 200, begun), 30)
        stopping = time.monotonic()
        stopped.stop()
        stopped_at = time.monotonic()
        # Load on the stopped worker's shards, and on the other's, while it is down.
        assert wait_for(
            lambda: (
                answered(stopped.node.port, 503, stopped_at) and answered(other, 200, stopped_at)
            ),
            30,
        )
        first_use = first_request_with(
            new_key, base_url, next(t for t, p in threads if p == other), other
        )
        time.sleep(1)
        starting = time.monotonic()
        stopped.start()
        started_at = time.monotonic()
        back = wait_for(lambda: answered(stopped.node.port, 200, started_at), 60)
        time.sleep(0.5)  # and a moment of load after
    finally:
        stop.set()
        for thread in pool:
            thread.join(timeout=60)
        if not stopped.running():
            stopped.start()
        # This process's own session kept connections to the worker that died with it;
        # Citus refuses to use them in a TRUNCATE (the test database's flush, say).
        connections.close_all()
    assert back, "no write on the restarted worker's shards succeeded in 60 s"

    log = Path(log_path).read_text()
    answers = [a for w in writers for a in w.answers] + [first_use]
    statuses = Counter((a.kind, a.port, a.status) for a in answers)
    print(f"answers (kind, worker, status): {dict(statuses)}")

    # Nothing failed but with a 503, and every 503 says when to retry, in the envelope.
    unanswered = [a for a in answers if a.status is None]
    assert not unanswered, unanswered[:5]
    assert {a.status for a in answers} <= {200, 503}, [a for a in answers if a.status != 200][:5]
    assert "Traceback" not in log, log[-3000:]
    refused = [a for a in answers if a.status == 503]
    for answer in refused:
        assert answer.retry_after is not None and int(answer.retry_after) >= 1, answer
        assert answer.body == {
            "error": {
                "message": "The server is busy. Retry the request shortly.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }, answer

    # While the worker was down: every write to its threads refused, the other's all served.
    down = [a for a in answers if a.sent_at > stopped_at and a.answered_at < starting]
    assert {a.status for a in down if a.port == stopped.node.port} == {503}
    assert {a.status for a in answers if a.port == other} == {200}
    assert first_use.status == 200, first_use

    # The figures docs/scaling.md gives.
    failed = sorted(a.answered_at - a.sent_at for a in down if a.port == stopped.node.port)
    served = sorted(a.answered_at - a.sent_at for a in down if a.port == other)
    first_back = min(
        a.answered_at
        for a in answers
        if a.port == stopped.node.port and a.status == 200 and a.sent_at > started_at
    )
    print(f"pg_ctl stop took {stopped_at - stopping:.2f} s, start {started_at - starting:.2f} s")
    print(
        f"503s on the stopped worker's threads while down: {len(failed)}, answered in "
        f"{failed[len(failed) // 2] * 1000:.0f} ms (median), {failed[-1] * 1000:.0f} ms (max); "
        f"the other worker's writes meanwhile: {len(served)}, served in "
        f"{served[len(served) // 2] * 1000:.0f} ms (median), {served[-1] * 1000:.0f} ms (max)"
    )
    print(
        f"first write on its threads served {first_back - started_at:.2f} s after pg_ctl "
        f"start returned; 503s after that: "
        f"{sum(1 for a in answers if a.status == 503 and a.sent_at > started_at)}"
    )

    # Once it is back: every acknowledged message listed in its thread, in each writer's
    # order, and nothing else.
    markers = {a.marker: a for a in answers}
    for thread_id, _ in threads:
        stored = listed(sdk, thread_id)
        texts = [m.content[0].text.value for m in stored]
        acknowledged = [a for a in answers if a.thread_id == thread_id and a.status == 200]
        assert {m.id for m in stored} == {a.object_id for a in acknowledged}, thread_id
        assert all(markers[text].status == 200 for text in texts), thread_id
        for writer in writers:
            mine = [
                m.id
                for m in stored
                if m.content[0].text.value.startswith(f"writer {writer.number} ")
            ]
            assert mine == [
                a.object_id for a in writer.answers if a.thread_id == thread_id and a.status == 200
            ]
    # Threads created with messages: each acknowledged one whole, no refused one stored.
    made = {a.marker: a for a in answers if a.kind == "thread"}
    stored_threads = {
        t["metadata"]["marker"]: t["id"] for t in all_threads(sdk) if "marker" in t["metadata"]
    }
    assert stored_threads == {marker: a.object_id for marker, a in made.items() if a.status == 200}
    for marker, thread_id in stored_threads.items():
        assert [m.content[0].text.value for m in listed(sdk, thread_id)] == [
            f"{marker}.{i}" for i in range(BATCH)
        ]
    sdk.close()

    nodes = [
        citus.node_arguments(settings, node, settings["NAME"])
        for node in [citus.coordinator_of(settings), *workers]
    ]
    assert load_crash_test().postgres_problems(nodes, citus=True) == []
