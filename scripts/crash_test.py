"""Crash test: SIGKILL the server under write load, restart it, and lose nothing acknowledged.

    python scripts/crash_test.py                 # SQLite, a fresh file in a temporary folder
    DATABASE_URL=postgres://USER@HOST:5432/DB python scripts/crash_test.py
                                                 # PostgreSQL, a fresh database beside DB
    DATABASE_CITUS=1 DATABASE_URL=postgres://USER@COORDINATOR:PORT/DB python scripts/crash_test.py
                                                 # Citus: a fresh database on every node,
                                                 # distributed (tests/citus.py)

The demo site runs under gunicorn (master and workers in a process group of
their own) on a fresh database. A client process writes without pause: messages
into a few threads, and threads created with a batch of messages. Several
times, mid-load, the whole server is killed with SIGKILL and started again. At
the end every create that was answered 200 must be stored; a thread must hold
its whole batch or not exist (a create is one transaction); and the database
must pass its integrity check (``PRAGMA integrity_check`` on SQLite, amcheck's
``bt_index_check`` of our indexes on PostgreSQL, on every node of a Citus
cluster). Prints the figures; exits 1 on any loss or failed check.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from multiprocessing.synchronize import Event
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BATCH = 5  # messages in each thread created with messages
SHARED_THREADS = 4  # threads the writers append messages to


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=3, help="kills and restarts")
    parser.add_argument("--writers", type=int, default=6, help="concurrent writers")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--load-seconds", type=float, default=2.0, help="load before each kill")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="crash-test-") as folder:
        database = FreshDatabase(os.environ.get("DATABASE_URL"), Path(folder))
        try:
            return run(options, database, Path(folder))
        finally:
            database.drop()


class FreshDatabase:
    """A database made for this run, on SQLite or on the PostgreSQL server named."""

    def __init__(self, url: str | None, folder: Path):
        self.base_url = url
        if not url or url.startswith("sqlite"):
            self.path = folder / "crash.sqlite3"
            self.url = f"sqlite:///{self.path}"
            self.kind = "SQLite"
        else:
            self.path = None
            self.name = f"threads_app_crash_{os.getpid()}"
            self.url = urlunsplit(urlsplit(url)._replace(path="/" + self.name))
            # What amcheck connects to: the server, or every node of a cluster.
            self.nodes: list[dict] = [{"conninfo": self.url}]
            if os.environ.get("DATABASE_CITUS") == "1":
                self.kind = "Citus"
                self.citus_setup()
            else:
                self.kind = "PostgreSQL"
                self.admin(f'CREATE DATABASE "{self.name}"')

    def citus_setup(self) -> None:
        """The database on the coordinator and every worker, with the extension and the
        workers registered, as the tests make theirs (tests/citus.py)."""
        import dj_database_url

        sys.path.insert(0, str(ROOT))
        from tests import citus

        self.citus = citus
        self.settings = dj_database_url.parse(self.base_url)
        self.citus_nodes = [citus.coordinator_of(self.settings), *citus.workers_of(self.settings)]
        citus.create_everywhere(self.settings, self.citus_nodes[0], self.citus_nodes[1:],
                                self.name)
        self.nodes = [citus.node_arguments(self.settings, node, self.name)
                      for node in self.citus_nodes]

    def admin(self, statement: str) -> None:
        import psycopg

        # On the server's maintenance database: the one the URL names need not exist.
        maintenance = urlunsplit(urlsplit(self.base_url)._replace(path="/postgres"))
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(statement)

    def drop(self) -> None:
        if self.path is not None:
            return
        if self.kind == "Citus":
            self.citus.drop_everywhere(self.settings, self.citus_nodes, self.name)
        else:
            self.admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def integrity_problems(self) -> list[str]:
        """What the database's own checks find wrong; empty when all is well."""
        if self.path is not None:
            with sqlite3.connect(self.path) as conn:
                result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
                orphans = conn.execute("PRAGMA foreign_key_check").fetchall()
            problems = [] if result == ["ok"] else result
            return problems + [f"foreign key broken: {row}" for row in orphans]
        return self.postgres_problems()

    def postgres_problems(self) -> list[str]:
        return postgres_problems(self.nodes, citus=self.kind == "Citus")


def postgres_problems(nodes: list[dict], citus: bool = False) -> list[str]:
    """What amcheck finds wrong in the app's btree indexes on every node of ``nodes``
    (psycopg's arguments; the server, or a Citus coordinator first), and messages
    without their thread; empty when all is well. tests/test_citus_faults.py runs it too.
    """
    import psycopg

    problems = []
    checked = 0
    # On Citus, every node: the workers' shards (threads_app_message_102008, say) and
    # the coordinator's copies of the reference tables. The extension is created on the
    # coordinator, which creates it on the workers.
    for number, node in enumerate(nodes):
        with psycopg.connect(**{**node, "autocommit": True}) as conn:
            if number == 0:
                conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            if citus:
                conn.execute("SET citus.override_table_visibility TO off")  # the shards
            indexes = conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am a ON a.oid = c.relam "
                "WHERE a.amname = 'btree' AND t.relname LIKE 'threads\\_app\\_%'"
            ).fetchall()
            for (index,) in indexes:
                try:
                    # heapallindexed: every row of the table must be found in the index.
                    conn.execute("SELECT bt_index_check(%s::regclass, true)", (index,))
                except psycopg.Error as exc:
                    problems.append(f"index {index} ({node}): {exc}")
            checked += len(indexes)
    with psycopg.connect(**{**nodes[0], "autocommit": True}) as conn:
        orphans = conn.execute(
            "SELECT count(*) FROM threads_app_message m LEFT JOIN threads_app_thread t "
            "ON t.public_id = m.thread_id WHERE t.public_id IS NULL"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} messages without their thread")
    print(f"amcheck: {checked} btree indexes checked")
    return problems


def manage(database: FreshDatabase, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=server_environment(database), capture_output=True, text=True, check=True,
    )
    return result.stdout


def server_environment(database: FreshDatabase) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database.url,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_DEBUG": "0",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn in a process group of its own, so one killpg takes master and workers."""

    def __init__(self, database: FreshDatabase, port: int, workers: int, log: Path):
        self.database = database
        self.port = port
        self.workers = workers
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "gunicorn", "project.wsgi:application",
                    "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                    "--log-level", "info", *no_control_socket(),
                ],
                cwd=ROOT, env=server_environment(self.database), stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.log.read_text()[offset:]
            if "Listening at" in text and text.count("Booting worker") >= self.workers:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("gunicorn did not start:\n" + self.log.read_text()[offset:])

    def pids(self) -> set[int]:
        group = os.getpgid(self.process.pid)
        return {
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and process_group(int(entry.name)) == group
        }

    def kill(self) -> int:
        """SIGKILL master and workers at once; answer how many processes died."""
        doomed = self.pids()
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() and not is_zombie(pid) for pid in doomed):
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes survived SIGKILL: {doomed}")
            time.sleep(0.01)
        return len(doomed)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


def no_control_socket() -> list[str]:
    # gunicorn 25+ opens a control socket at a fixed path; two servers would share it.
    from gunicorn.config import Config

    return ["--no-control-socket"] if "control_socket_disable" in Config().settings else []


def process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


# The client process ------------------------------------------------------


class API:
    """A keep-alive HTTP client of the mount, from the standard library: nothing to install."""

    def __init__(self, port: int, key: str):
        self.port = port
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.connection: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict | None = None, **query) -> tuple[int, dict]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        url = "/v1/" + path + ("?" + urlencode(query) if query else "")
        try:
            self.connection.request(
                method, url, body=None if body is None else json.dumps(body), headers=self.headers
            )
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None
            raise
        return response.status, json.loads(data) if data else {}

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def write_load(port: int, key: str, threads: list[str], writers: int, acks: str,
               stop: Event) -> None:
    """Write until told to stop; log each create answered 200, as it is answered."""
    lock = threading.Lock()
    with open(acks, "a") as log:

        def record(entry: dict) -> None:
            with lock:
                log.write(json.dumps(entry) + "\n")
                log.flush()

        def writer(number: int) -> None:
            api = API(port, key)
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    if n % 5 == 0:
                        record(create_thread(api, number, n))
                    else:
                        record(create_message(api, threads[n % len(threads)], number, n))
                except (OSError, http.client.HTTPException) as exc:
                    record({"failed": type(exc).__name__})
                    time.sleep(0.02)  # the server is down: try again shortly
                except RefusedError as exc:
                    record({"failed": f"HTTP {exc.args[0]}"})
            api.close()

        pool = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()


class RefusedError(Exception):
    """The server answered, with another status than 200."""


def create_message(api: API, thread_id: str, writer: int, n: int) -> dict:
    status, body = api.call(
        "POST", f"threads/{thread_id}/messages",
        {"role": "user", "content": f"writer {writer} message {n}"},
    )
    if status != 200:
        raise RefusedError(status)
    return {"message": body["id"], "thread": thread_id}


def create_thread(api: API, writer: int, n: int) -> dict:
    messages = [{"role": "user", "content": f"writer {writer} batch {n}.{i}"} for i in range(BATCH)]
    status, body = api.call("POST", "threads", {"messages": messages, "metadata": {"batch": "yes"}})
    if status != 200:
        raise RefusedError(status)
    return {"thread": body["id"], "batch": True}


# Checking ----------------------------------------------------------------


def stored_state(api: API) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Every thread of the key's owner, and every thread's message IDs, through the API."""
    threads = {thread["id"]: thread for thread in pages(api, "threads")}
    messages = {t: [m["id"] for m in pages(api, f"threads/{t}/messages")] for t in threads}
    return threads, messages


def pages(api: API, path: str):
    query = {"limit": 100, "order": "asc"}
    while True:
        status, body = api.call("GET", path, **query)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body}")
        yield from body["data"]
        if not body["has_more"]:
            return
        query["after"] = body["last_id"]


def run(options: argparse.Namespace, database: FreshDatabase, folder: Path) -> int:
    print(f"== crash test on {database.kind}: {options.cycles} SIGKILLs under load")
    manage(database, "migrate", "--verbosity", "0")
    if database.kind == "Citus":
        manage(database, "distribute_threads_app")
    key = manage(database, "create_api_key", "crash-test").strip().splitlines()[-1]
    port = free_port()
    server = Server(database, port, options.workers, folder / "gunicorn.log")
    server.start()
    try:
        api = API(port, key)
        shared = [api.call("POST", "threads", {})[1]["id"] for _ in range(SHARED_THREADS)]
        api.close()
        acks = folder / "acks.jsonl"
        stop = multiprocessing.Event()
        client = multiprocessing.Process(
            target=write_load, args=(port, key, shared, options.writers, str(acks), stop)
        )
        client.start()
        killed = 0
        for _ in range(options.cycles):
            time.sleep(options.load_seconds)
            killed += server.kill()
            time.sleep(0.2)  # requests meet a dead port for a moment
            server.start()
        time.sleep(options.load_seconds)  # and the restarted server takes load again
        stop.set()
        client.join(timeout=60)
        if client.exitcode != 0:
            print(f"FAIL: the client process ended with {client.exitcode}")
            return 1
        entries = [json.loads(line) for line in acks.read_text().splitlines()]
        api = API(port, key)  # the first connection died with the first server
        threads, messages = stored_state(api)
        api.close()
    finally:
        server.stop()
    log = (folder / "gunicorn.log").read_text()

    acked_messages = {e["message"]: e["thread"] for e in entries if "message" in e}
    acked_batches = {e["thread"] for e in entries if e.get("batch")}
    failures = Counter(e["failed"] for e in entries if "failed" in e)
    stored_messages = {m: t for t, ids in messages.items() for m in ids}
    lost_messages = [
        m for m, t in acked_messages.items() if stored_messages.get(m) != t
    ]
    lost_batches = [t for t in acked_batches if t not in threads]
    batches = [t for t, thread in threads.items() if thread["metadata"].get("batch")]
    # A batch thread whose messages did not all survive broke the create's transaction.
    partial = [t for t in batches if len(messages[t]) != BATCH]
    unacknowledged = len(batches) - len(acked_batches) + sum(
        1 for t in shared for m in messages[t] if m not in acked_messages
    )
    problems = database.integrity_problems()

    print(f"server processes killed: {killed} (master and {options.workers} workers, "
          f"{options.cycles} times)")
    print(f"requests not answered 200: {sum(failures.values())} "
          f"({', '.join(f'{kind}: {count}' for kind, count in failures.most_common()) or 'none'})")
    print(f"messages acknowledged: {len(acked_messages)}, found: "
          f"{len(acked_messages) - len(lost_messages)}, lost: {len(lost_messages)}")
    print(f"threads with {BATCH} messages acknowledged: {len(acked_batches)}, found: "
          f"{len(acked_batches) - len(lost_batches)}, lost: {len(lost_batches)}, "
          f"stored partially: {len(partial)}")
    print(f"stored though never acknowledged (cut off by a kill): {unacknowledged}")
    print(f"integrity check: {'ok' if not problems else '; '.join(problems)}")
    if any(kind.startswith("HTTP 5") and kind != "HTTP 503" for kind in failures):
        problems.append("the server answered with a fault (5xx other than 503)")
    if "database is locked" in log:
        problems.append("the server met 'database is locked'")
    if not acked_messages or not acked_batches or not killed:
        problems.append("the load never ran: nothing was tested")
    if lost_messages or lost_batches or partial or problems:
        print("FAIL")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print("OK: nothing acknowledged was lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
