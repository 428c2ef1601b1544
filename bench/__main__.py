"""The benchmark, in one command: `python -m bench` (`make bench`).

For each database (SQLite, PostgreSQL if reachable, then a Citus cluster if one is
named) it runs
``bench.measure`` in a process of its own (seeding, list latency against
thread size, queries per request, query plans), then serves the same database
with the production server (gunicorn, ``project/gunicorn.conf.py``) and loads
it from wrk, a separate process: each endpoint, then the floor view answering
a body of the same size, then the same view after one query (bench/floor.py),
in three turns, so that each ratio comes from one run and a turn's drift in
the machine's speed touches every side. Last, a client
walks the largest thread with the SDK's auto-pager while the workers' peak
memory is read from /proc. It prints a table and writes JSON to bench/results/.

    python -m bench [--quick] [--databases sqlite,postgres,citus] [--duration 12] [--reseed]

``--quick`` (or BENCH_QUICK=1) uses threads of 100, 10,000 and 100,000
messages and shorter runs. BENCH_POSTGRES_URL names the PostgreSQL database
(created if missing; default postgres://postgres@127.0.0.1:5432/threads_app_bench).
BENCH_CITUS_URL names a database on a Citus coordinator whose workers are
registered (``scripts/citus_cluster.sh start DIR threads_app_bench`` makes one);
the benchmark migrates it, runs ``distribute_threads_app`` and seeds through the
coordinator. Unset, Citus is not measured, and the report says so. The staff
admin's corpus (bench/admin.py) is not seeded on Citus. The report puts Citus
beside PostgreSQL when both ran.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .cpu import DATABASE_PARTS, GROUPS, CPUSplit, per_request_us, postmaster_of

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SIZES = [100, 100_000, 1_000_000]
QUICK_SIZES = [100, 10_000, 100_000]
# Threads of ten messages each on which bench/admin.py times the staff admin.
ADMIN_THREADS = 100_000
ADMIN_QUICK_THREADS = 10_000
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/threads_app_bench"
DATABASES = ("sqlite", "postgres", "citus")
CITUS_UNNAMED = (
    "not measured: BENCH_CITUS_URL names no Citus coordinator. Set it to a database of one "
    "whose workers are registered, e.g. the URL that `scripts/citus_cluster.sh start DIR "
    "threads_app_bench` prints"
)
SETTINGS = "bench.settings"
# The targets: throughput as a fraction of the floor.
TARGETS = {"create message": 0.35, "list 20 messages": 0.5, "retrieve message": 0.6}
# wrk runs per endpoint, each followed by one of each floor.
WRK_TURNS = 3
# What each turn runs: the endpoint; the floor (bench/floor.py), which the targets are
# ratios to; and the floor after one query, which shows what a round trip to the
# database costs by itself, apart from the app.
REFERENCES = ("endpoint", "floor", "query_floor")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
    }


def database_urls(selected: list[str]) -> dict[str, str | None]:
    """Each selected database's URL; None for Citus when BENCH_CITUS_URL is unset."""
    unknown = set(selected) - set(DATABASES)
    if unknown:
        raise SystemExit(
            f"--databases: no database {', '.join(sorted(unknown))}; "
            f"choose among {', '.join(DATABASES)}"
        )
    urls = {
        "sqlite": f"sqlite:///{Path(tempfile.gettempdir()) / 'threads_app_bench.sqlite3'}",
        "postgres": os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        "citus": os.environ.get("BENCH_CITUS_URL") or None,
    }
    return {name: urls[name] for name in selected}


def ensure_postgres_database(url: str) -> str | None:
    """Create the benchmark's database if missing; return why not, if PostgreSQL is away."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


def citus_workers(url: str) -> list[str]:
    """The URLs of the workers a Citus coordinator's database registers (the coordinator's
    user, password and database name on each worker's host and port)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT nodename, nodeport FROM pg_dist_node "
            "WHERE groupid <> 0 AND noderole = 'primary' ORDER BY nodeid"
        ).fetchall()
    parts = urllib.parse.urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return [
        urllib.parse.urlunsplit(
            parts._replace(
                netloc=f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
            )
        )
        for host, port in rows
    ]


def check_citus(url: str | None) -> str | None:
    """Why ``url`` cannot be measured as a Citus cluster, if it cannot."""
    import psycopg

    if not url:
        return CITUS_UNNAMED
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone():
                return (
                    "not measured: BENCH_CITUS_URL's database has no citus extension "
                    "(CREATE EXTENSION citus on every node, then citus_add_node)"
                )
        if not citus_workers(url):
            return "not measured: BENCH_CITUS_URL's database registers no worker (citus_add_node)"
    except psycopg.Error as exc:
        return f"not measured: {str(exc).strip()}"
    return None


def local_postmaster(url: str) -> int | None:
    """The process ID of the postmaster of the server ``url`` names, if it runs here."""
    import psycopg

    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in ("", "localhost", "127.0.0.1", "::1") and not host.startswith("/"):
        return None
    with psycopg.connect(url, connect_timeout=5) as conn:
        return postmaster_of(conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def database_postmasters(name: str, url: str) -> dict[str, list[int]] | None:
    """Whose processes are the run's "database" (bench/cpu.py): the PostgreSQL server's, or
    the Citus coordinator's and its workers' apart; None if one of them is not on this
    machine (then every PostgreSQL process here counts)."""
    if name == "sqlite":
        return {"database": []}
    parts = {"database": [url]}
    if name == "citus":
        parts = {"coordinator": [url], "worker_nodes": citus_workers(url)}
    found = {part: [local_postmaster(u) for u in urls] for part, urls in parts.items()}
    if any(pid is None for pids in found.values() for pid in pids):
        return None
    return found  # type: ignore[return-value]


def run_measure(
    url: str,
    sizes: list[int],
    rounds: int,
    reseed: bool,
    admin_threads: int,
    distribute: bool = False,
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [
            sys.executable,
            "-m",
            "bench.measure",
            "--sizes",
            ",".join(map(str, sizes)),
            "--rounds",
            str(rounds),
            "--admin-threads",
            str(admin_threads),
            "--out",
            out.name,
        ]
        if reseed:
            command.append("--reseed")
        if distribute:
            command.append("--distribute")
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": SETTINGS}
        subprocess.run(command, check=True, cwd=ROOT, env=env)
        return json.loads(Path(out.name).read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn with the production configuration, on a free port."""

    def __init__(self, database_url: str, database: dict[str, list[int]] | None = None) -> None:
        # The postmasters whose processes are "database" (bench/cpu.py).
        self.database = database
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "project/gunicorn.conf.py", "project.wsgi"],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(self.base + "/bench/floor", timeout=2).read()
                    return
                except OSError:  # refused, reset, or a worker still booting past the timeout
                    time.sleep(0.2)
            raise RuntimeError("gunicorn did not answer within 30 s")
        except BaseException:
            self.stop()  # no server left behind, whatever stopped the wait
            raise

    def worker_pids(self) -> list[int]:
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(child) for child in children]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


@contextmanager
def serving(database_url: str, database: dict[str, list[int]] | None = None) -> Iterator[Server]:
    server = Server(database_url, database)
    try:
        yield server
    finally:
        server.stop()


def request(url: str, method: str, body: bytes | None, key: str) -> bytes:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.read()


def wrk(
    url: str, method: str, body: bytes | None, key: str, seconds: int, connections: int
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body or b"")
        body_file.flush()
        env = {
            **os.environ,
            "BENCH_METHOD": method,
            "BENCH_KEY": key,
            "BENCH_BODY_FILE": body_file.name if body else "",
        }
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "-s",
                str(ROOT / "bench" / "wrk.lua"),
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    raw = json.loads(line.removeprefix("BENCH "))
    return {
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "requests": raw["requests"],
        "errors": raw["errors"] + raw["non_2xx"],
    }


def wrk_split(server: Server, *args: Any) -> dict[str, Any]:
    """:func:`wrk`'s figures, with the CPU seconds the run cost by group (see bench/cpu.py)."""
    split = CPUSplit([server.process.pid, *server.worker_pids()], server.database)
    split.start()
    run = wrk(*args)
    run["cpu_seconds"] = split.stop()
    return run


def message_body(i: int) -> dict[str, Any]:
    return {"role": "user", "content": f"Benchmark message {i}: " + "lorem ipsum " * 12}


def throughput(server: Server, prepared: dict[str, Any], seconds: int) -> dict[str, Any]:
    """Each endpoint under load, then both floors with a body of the same size, back to back."""
    key = prepared["secret"]
    largest = prepared["threads"][max(prepared["threads"], key=int)]
    api = f"{server.base}/v1"
    cases = {
        "create message": (
            "POST",
            f"{api}/threads/{prepared['write_thread']}/messages",
            message_body(0),
        ),
        "list 20 messages": ("GET", f"{api}/threads/{largest['id']}/messages?limit=20", None),
        "retrieve message": (
            "GET",
            f"{api}/threads/{largest['id']}/messages/{largest['middle_message']}",
            None,
        ),
        "retrieve thread": ("GET", f"{api}/threads/{largest['id']}", None),
        "create thread (10 messages)": (
            "POST",
            f"{api}/threads",
            {"messages": [message_body(i) for i in range(10)]},
        ),
    }
    connections = 2 * len(server.worker_pids())
    # The machine's speed drifts over seconds: endpoint and floor take turns in
    # short runs, and each ratio comes from a run and the floor's run right after.
    turns = WRK_TURNS
    turn_seconds = max(1, round(seconds / turns))
    results = {}
    for name, (method, url, payload) in cases.items():
        body = json.dumps(payload).encode() if payload else None
        for _ in range(20):  # warm up every worker on this path, and learn the answer's size
            size = len(request(url, method, body, key))
        floor_url = f"{server.base}/bench/floor?bytes={size}"
        query_floor_url = f"{server.base}/bench/floor-query?bytes={size}"
        for reference in (floor_url, query_floor_url):
            for _ in range(20):
                assert len(request(reference, method, body, key)) == size
        log(f"  wrk {name}: {turns} turns of {turn_seconds}s, each followed by both floors")
        runs = [
            {
                "endpoint": wrk_split(server, url, method, body, key, turn_seconds, connections),
                "floor": wrk_split(server, floor_url, method, body, key, turn_seconds, connections),
                "query_floor": wrk_split(
                    server, query_floor_url, method, body, key, turn_seconds, connections
                ),
            }
            for _ in range(turns)
        ]
        results[name] = {
            "body_bytes": size,
            **{part: combined([run[part] for run in runs]) for part in REFERENCES},
            # The target's ratio; the endpoint's to the floor after one query; and
            # that floor's own, the most any endpoint with one query could reach.
            **ratio(runs, "ratio", of="endpoint", to="floor"),
            **ratio(runs, "ratio_to_query_floor", of="endpoint", to="query_floor"),
            **ratio(runs, "query_floor_ratio", of="query_floor", to="floor"),
            "turns": runs,
            "target": TARGETS.get(name),
        }
    return {
        "connections": connections,
        "workers": len(server.worker_pids()),
        "seconds": turn_seconds * turns,
        "turns": turns,
        "cases": results,
    }


def ratio(runs: list[dict[str, Any]], name: str, of: str, to: str) -> dict[str, Any]:
    """``of``'s requests a second over ``to``'s, turn by turn, as ``name``: median and range."""
    turns = sorted(run[of]["rps"] / run[to]["rps"] for run in runs)
    return {
        name: round(statistics.median(turns), 3),
        f"{name}_range": [round(turns[0], 3), round(turns[-1], 3)],
    }


def combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several wrk runs as one: requests per second over all, the median p50 and p99,
    and the CPU a request cost over all."""
    requests = sum(run["requests"] for run in runs)
    return {
        "rps": round(statistics.mean(run["rps"] for run in runs), 1),
        "p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "p99_ms": statistics.median(run["p99_ms"] for run in runs),
        "requests": requests,
        "errors": sum(run["errors"] for run in runs),
        "cpu_us": per_request_us(
            {
                group: sum(run["cpu_seconds"][group] for run in runs)
                for group in runs[0]["cpu_seconds"]
            },
            requests,
        ),
    }


def proc_status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def walk_memory(server: Server, prepared: dict[str, Any]) -> dict[str, Any]:
    """Walk the largest thread with the SDK's auto-pager; read the workers' peak RSS."""
    import openai

    size = max(prepared["threads"], key=int)
    thread_id = prepared["threads"][size]["id"]
    client = openai.OpenAI(base_url=f"{server.base}/v1", api_key=prepared["secret"], max_retries=0)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for _ in range(10):
        client.beta.threads.messages.list(thread_id, limit=100)
    before = {pid: proc_status_kib(pid, "VmRSS") for pid in server.worker_pids()}
    log(f"  SDK auto-pager over {int(size):,} messages (limit=100)")
    started = time.perf_counter()
    walked = sum(1 for _ in client.beta.threads.messages.list(thread_id, limit=100, order="asc"))
    elapsed = time.perf_counter() - started
    assert walked == int(size), (walked, size)
    peak = {pid: proc_status_kib(pid, "VmHWM") for pid in server.worker_pids()}
    return {
        "messages": walked,
        "seconds": round(elapsed, 1),
        "rss_before_mib": round(max(before.values()) / 1024, 1),
        "peak_rss_mib": round(max(peak.values()) / 1024, 1),
    }


def run_database(name: str, url: str, sizes: list[int], args: argparse.Namespace) -> dict:
    log(f"== {name}")
    admin_threads = ADMIN_QUICK_THREADS if args.quick else ADMIN_THREADS
    if name == "citus":
        admin_threads = 0  # the admin's corpus is not the question on a cluster
    measured = run_measure(
        url, sizes, args.rounds, args.reseed, admin_threads, distribute=name == "citus"
    )
    database = database_postmasters(name, url)
    measured["cpu_database"] = "split by server" if database else "every PostgreSQL process"
    with serving(url, database) as server:
        measured["throughput"] = throughput(server, measured, args.duration)
    with serving(url, database) as server:  # fresh workers, so that the peak is the walk's own
        measured["memory"] = walk_memory(server, measured)
    measured.pop("secret")
    return measured


def span(low_high: list[float]) -> str:
    return f"{low_high[0]:.2f}-{low_high[1]:.2f}"


def cpu_groups(by_group: dict[str, Any]) -> tuple[str, ...]:
    """The groups of a CPU split, with the database's parts if it was split (Citus)."""
    return GROUPS + tuple(part for part in DATABASE_PARTS if part in by_group)


# Column headings of the database's parts, in 8 characters.
HEADINGS = {"coordinator": "coord", "worker_nodes": "w. nodes"}


def cpu_heading(groups: tuple[str, ...] = GROUPS) -> str:
    return cpu_row({group: HEADINGS.get(group, group) for group in groups}, groups)


def cpu_row(by_group: dict[str, Any], groups: tuple[str, ...] = GROUPS) -> str:
    return " ".join(f"{by_group[group]:>8}" for group in groups)


def print_admin(result: dict[str, Any]) -> None:
    """The staff admin's figures (bench/admin.py)."""
    print(
        f"\nThe admin, with {result['threads']:,} more threads of ten messages"
        " (in-process, a staff session; ms)"
    )
    print(f"{'page':<46} {'p50':>8} {'max':>8} {'queries':>8} {'slowest query':>14}")
    for name, page in result["pages"].items():
        print(
            f"{name:<46} {page['p50_ms']:>8.1f} {page['max_ms']:>8.1f} {page['queries']:>8}"
            f" {page['slowest_query_ms']:>14.1f}"
        )


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"\nMachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM; Python {m['python']}"
    )
    for name, result in report["databases"].items():
        if "skipped" in result:
            print(f"\n## {name}: skipped ({result['skipped']})")
            continue
        print(f"\n## {name}")
        print("\nList latency, GET /threads/{id}/messages?limit=20 (in-process, ms)")
        print(
            f"{'messages':>12} {'first p50':>10} {'first p99':>10}"
            f" {'deep p50':>10} {'deep p99':>10}"
        )
        latency = result["list_latency"]
        for size, pages in latency.items():
            print(
                f"{int(size):>12,} {pages['first']['p50_ms']:>10.2f}"
                f" {pages['first']['p99_ms']:>10.2f}"
                f" {pages['deep']['p50_ms']:>10.2f} {pages['deep']['p99_ms']:>10.2f}"
            )
        small, large = latency[min(latency, key=int)], latency[max(latency, key=int)]
        print(
            f"{'ratio':>12} "
            + " ".join(
                f"{large[page][q] / small[page][q]:>10.2f}"
                for page in ("first", "deep")
                for q in ("p50_ms", "p99_ms")
            )
        )
        t = result["throughput"]
        print(
            f"\nHTTP throughput: gunicorn, {t['workers']} sync workers; "
            f"wrk -c{t['connections']}, {t['seconds']} s each for endpoint and each floor, "
            f"in {t['turns']} turns; a ratio is the median turn's (and the range)"
        )
        print(
            f"{'endpoint':<28} {'bytes':>6} {'req/s':>7} {'p50':>6} {'p99':>6} "
            f"{'floor/s':>8} {'p50':>6} {'p99':>6} {'ratio':>6} {'range':>10} {'target':>6}"
        )
        for case, r in t["cases"].items():
            e, f = r["endpoint"], r["floor"]
            target = f"{r['target']:.2f}" if r["target"] else "-"
            errors = f"  ({e['errors']} errors)" if e["errors"] else ""
            print(
                f"{case:<28} {r['body_bytes']:>6} {e['rps']:>7.0f} {e['p50_ms']:>6.1f} "
                f"{e['p99_ms']:>6.1f} {f['rps']:>8.0f} {f['p50_ms']:>6.1f} {f['p99_ms']:>6.1f} "
                f"{r['ratio']:>6.2f} {span(r['ratio_range']):>10} {target:>6}{errors}"
            )
        print(
            "\nThe floor after one query (SELECT 1): its ratio to the floor is the most an"
            " endpoint that makes one query could reach; the endpoint's ratio to it is what"
            " the app costs beside that query"
        )
        print(
            f"{'endpoint':<28} {'req/s':>7} {'p50':>6} {'p99':>6} {'of floor':>9} {'range':>10}"
            f" {'endpoint of it':>15} {'range':>10}"
        )
        for case, r in t["cases"].items():
            q = r["query_floor"]
            print(
                f"{case:<28} {q['rps']:>7.0f} {q['p50_ms']:>6.1f} {q['p99_ms']:>6.1f}"
                f" {r['query_floor_ratio']:>9.2f} {span(r['query_floor_ratio_range']):>10}"
                f" {r['ratio_to_query_floor']:>15.2f} {span(r['ratio_to_query_floor_range']):>10}"
            )
        groups = cpu_groups(next(iter(t["cases"].values()))["endpoint"]["cpu_us"])
        parts = (
            ", of it the coordinator's and the worker nodes'" if len(groups) > len(GROUPS) else ""
        )
        print(
            "\nCPU per request (us), endpoint | its floor | the floor after one query: the"
            f" server's workers, the database{parts}, wrk, and the rest of the machine (the"
            " kernel's threads, other services)"
        )
        print(f"{'endpoint':<28} " + " | ".join(cpu_heading(groups) for _ in REFERENCES))
        for case, r in t["cases"].items():
            print(
                f"{case:<28} "
                + " | ".join(cpu_row(r[part]["cpu_us"], groups) for part in REFERENCES)
            )
        print("\nQueries per request (authentication included)")
        for case, q in result["queries"].items():
            print(f"  {case:<30} {q['queries']}")
        if result.get("admin"):
            print_admin(result["admin"])
        mem = result["memory"]
        print(
            f"\nSDK auto-pager over {mem['messages']:,} messages: {mem['seconds']} s; "
            f"worker RSS {mem['rss_before_mib']} MiB before, peak {mem['peak_rss_mib']} MiB"
        )
        for plan in result["plans"]["queries"]:
            print(
                "\nPlan of the list query (after a cursor, "
                f"{int(max(latency, key=int)):,} messages):"
            )
            print("  " + "\n  ".join(plan["plan"]))
    print_comparison(report)


def print_comparison(report: dict[str, Any]) -> None:
    """Citus beside PostgreSQL, measured in the same run, with the ratio of each figure."""
    pg, citus = (report["databases"].get(name, {}) for name in ("postgres", "citus"))
    if "throughput" not in pg or "throughput" not in citus:
        return
    pg_cases, citus_cases = pg["throughput"]["cases"], citus["throughput"]["cases"]
    cases = [case for case in pg_cases if case in citus_cases]
    print("\n## Citus beside PostgreSQL (this run; citus/pg divides the two)")
    print(
        "\nThroughput (req/s) and its ratio to the floor (the median turn's); the last"
        " column divides the two ratios, which takes out the machine's drift between the"
        " databases' runs"
    )
    print(
        f"{'endpoint':<28} {'pg':>7} {'citus':>7} {'citus/pg':>9} {'pg/floor':>9}"
        f" {'citus/floor':>12} {'citus/pg':>9}"
    )
    for case in cases:
        p, c = pg_cases[case], citus_cases[case]
        print(
            f"{case:<28} {p['endpoint']['rps']:>7.0f} {c['endpoint']['rps']:>7.0f}"
            f" {c['endpoint']['rps'] / p['endpoint']['rps']:>9.2f} {p['ratio']:>9.2f}"
            f" {c['ratio']:>12.2f} {c['ratio'] / p['ratio']:>9.2f}"
        )
    floors = [
        statistics.median(r["query_floor_ratio"] for r in cases_of.values())
        for cases_of in (pg_cases, citus_cases)
    ]
    print(
        f"The floor after one query (SELECT 1, which the coordinator answers alone), of the"
        f" floor: pg {floors[0]:.2f}, citus {floors[1]:.2f} (median over the endpoints)"
    )
    print("\nList latency p50, GET /threads/{id}/messages?limit=20 (in-process, ms)")
    print(f"{'messages':>12} {'page':>6} {'pg':>8} {'citus':>8} {'citus/pg':>9}")
    for size in [size for size in pg["list_latency"] if size in citus["list_latency"]]:
        for page in ("first", "deep"):
            a = pg["list_latency"][size][page]["p50_ms"]
            b = citus["list_latency"][size][page]["p50_ms"]
            print(f"{int(size):>12,} {page:>6} {a:>8.2f} {b:>8.2f} {b / a:>9.2f}")
    groups = cpu_groups(citus_cases[cases[0]]["endpoint"]["cpu_us"]) if cases else GROUPS
    print("\nCPU per request (us) under load, the endpoint's turns: PostgreSQL | Citus")
    print(f"{'endpoint':<28} {cpu_heading()} | {cpu_heading(groups)}")
    for case in cases:
        print(
            f"{case:<28} {cpu_row(pg_cases[case]['endpoint']['cpu_us'])} | "
            f"{cpu_row(citus_cases[case]['endpoint']['cpu_us'], groups)}"
        )
    print("\nQueries per request, PostgreSQL | Citus")
    for case in [case for case in pg["queries"] if case in citus["queries"]]:
        print(
            f"  {case:<30} {pg['queries'][case]['queries']:>3} | "
            f"{citus['queries'][case]['queries']:>3}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK") == "1",
        help="threads of 100, 10,000 and 100,000 messages; 6 s of wrk per endpoint",
    )
    parser.add_argument(
        "--databases",
        default=",".join(DATABASES),
        help="among sqlite,postgres,citus; citus only with BENCH_CITUS_URL (unset: the "
        "report says it was not measured)",
    )
    parser.add_argument(
        "--duration",
        type=int,
        default=None,
        help="seconds of wrk per endpoint, as many for each floor, in turns",
    )
    parser.add_argument("--rounds", type=int, default=None, help="latency samples per case")
    parser.add_argument("--reseed", action="store_true", help="seed again even if data exists")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (Debian/Ubuntu) or brew install wrk")
    sizes = QUICK_SIZES if args.quick else SIZES
    args.duration = args.duration or (6 if args.quick else 12)
    args.rounds = args.rounds or (100 if args.quick else 300)
    report: dict[str, Any] = {
        "machine": machine(),
        "started": datetime.now(UTC).isoformat(),
        "quick": args.quick,
        "sizes": sizes,
        "databases": {},
    }
    for name, url in database_urls(args.databases.split(",")).items():
        why = None
        if name == "postgres":
            why = ensure_postgres_database(url)
        elif name == "citus":
            why = check_citus(url)
        if why:
            log(f"== {name} skipped: {why}")
            report["databases"][name] = {"skipped": why}
            continue
        report["databases"][name] = run_database(name, url, sizes, args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=1))
    print_report(report)
    print(f"\nFigures written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
