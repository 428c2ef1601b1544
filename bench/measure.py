"""The in-process half of the benchmark, run once per database.

    DATABASE_URL=... python -m bench.measure --sizes 100,100000,1000000 --out FILE

Migrates, seeds (or reuses) the benchmark threads, then measures list latency
against thread size, queries per request, the list query's plan, and the staff
admin on many threads (``bench.admin``). It writes JSON for ``python -m bench``,
which serves the same database over HTTP. ``--distribute`` (a Citus coordinator)
runs ``distribute_threads_app`` after migrating, before seeding, so that the rows
go through the coordinator into the shards as a site's would.
"""

import argparse
import io
import json
import os
import sys
import time
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import DEFAULT_DB_ALIAS, connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from threads_app.models import APIKey, Message, Thread  # noqa: E402
from threads_app.store.database import sql_dialect  # noqa: E402

from . import admin as admin_bench  # noqa: E402
from .seed import seed_thread  # noqa: E402

MOUNT = "/v1"
SEEDED_MARK = "bench_size"
USERNAME = "bench"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def message_text(i: int) -> dict[str, Any]:
    return {"role": "user", "content": f"Benchmark message {i}: " + "lorem ipsum " * 12}


def prepare(sizes: list[int], reseed: bool, distribute: bool = False) -> dict[str, Any]:
    """Migrate (and lay the tables out on Citus), find or seed one thread per size, and
    drop what earlier runs wrote."""
    call_command("migrate", verbosity=0)
    if distribute:
        # A second run finds the tables laid out, and changes nothing.
        call_command("distribute_threads_app", stdout=io.StringIO())
        if sql_dialect(DEFAULT_DB_ALIAS) != "citus":
            raise SystemExit("--distribute: the store does not see Citus on this database")
    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    if reseed:
        Thread.objects.filter(owner=user).delete()
    # Threads and messages that earlier runs' write benchmarks created.
    Thread.objects.filter(owner=user).exclude(metadata__contains=SEEDED_MARK).delete()
    APIKey.objects.filter(user=user).delete()
    secret = APIKey.generate(user, name="benchmark")[1]
    threads: dict[str, Any] = {}
    seeding: dict[str, float] = {}
    for size in sizes:
        mark = {SEEDED_MARK: str(size)}
        thread = next(
            (
                t
                for t in Thread.objects.filter(owner=user, metadata__contains=SEEDED_MARK)
                if t.metadata == mark
            ),
            None,
        )
        if thread is not None and Message.objects.filter(thread=thread).count() != size:
            thread.delete()
            thread = None
        if thread is None:
            thread = Thread.objects.create(owner=user, metadata=mark)
            started = time.perf_counter()
            seed_thread(thread, size, f"{connection.vendor} {size:>9,} messages")
            seeding[str(size)] = round(time.perf_counter() - started, 2)
        ids = list(
            Message.objects.filter(thread=thread)
            .order_by("seq")
            .values_list("public_id", flat=True)[size // 2 : size // 2 + 1]
        )
        threads[str(size)] = {"id": thread.public_id, "middle_message": ids[0]}
    if seeding and connection.vendor == "postgresql":
        # What autovacuum would do after a bulk load; the planner needs the statistics.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Message._meta.db_table}")
    writes = Thread.objects.create(owner=user)
    return {
        "secret": secret,
        "threads": threads,
        "write_thread": writes.public_id,
        "seeding_seconds": seeding,
    }


def list_latency(client: Client, threads: dict[str, Any], rounds: int) -> dict[str, Any]:
    """p50/p99 of a first and a deep page per size, interleaved so that drift hits all alike."""
    cases = []
    for size, thread in threads.items():
        base = f"{MOUNT}/threads/{thread['id']}/messages?limit=20"
        cases.append((size, "first", base))
        cases.append((size, "deep", base + f"&after={thread['middle_message']}"))
    for size, _, path in cases:  # warm up, and check the answers
        response = client.get(path)
        assert response.status_code == 200, response.content
        assert len(response.json()["data"]) == min(20, int(size) // 2), path
    samples: dict[tuple[str, str], list[float]] = {(s, p): [] for s, p, _ in cases}
    for _ in range(rounds):
        for size, page, path in cases:
            started = time.perf_counter()
            client.get(path)
            samples[(size, page)].append((time.perf_counter() - started) * 1000)
    result: dict[str, Any] = {}
    for (size, page), values in samples.items():
        result.setdefault(size, {})[page] = {
            "p50_ms": round(percentile(values, 0.5), 3),
            "p99_ms": round(percentile(values, 0.99), 3),
        }
    return result


def count_queries(client: Client, method: str, path: str, body: Any = None) -> dict[str, Any]:
    send = getattr(client, method)
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
    with CaptureQueriesContext(connection) as captured:
        response = send(path, **kwargs)
    assert response.status_code == 200, response.content
    return {"queries": len(captured), "sql": [q["sql"] for q in captured.captured_queries]}


def queries_per_request(client: Client, threads: dict[str, Any], writes: str) -> dict[str, Any]:
    largest = threads[max(threads, key=int)]
    messages = f"{MOUNT}/threads/{largest['id']}/messages"
    client.get(messages)  # the key's last_used_at is written now, not below
    cases = {
        "list (limit=1)": ("get", messages + "?limit=1", None),
        "list (limit=20)": ("get", messages + "?limit=20", None),
        "list (limit=100)": ("get", messages + "?limit=100", None),
        "list (limit=20, after)": (
            "get",
            messages + f"?limit=20&after={largest['middle_message']}",
            None,
        ),
        "retrieve message": ("get", f"{messages}/{largest['middle_message']}", None),
        "create message": ("post", f"{MOUNT}/threads/{writes}/messages", message_text(0)),
        "retrieve thread": ("get", f"{MOUNT}/threads/{largest['id']}", None),
        "create thread (10 messages)": (
            "post",
            f"{MOUNT}/threads",
            {"messages": [message_text(i) for i in range(10)]},
        ),
    }
    return {name: count_queries(client, *case) for name, case in cases.items()}


def explain(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            return [row[0] for row in cursor.fetchall()]
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        rows = cursor.fetchall()
    depth = {0: -1}
    lines = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


def list_plans(queries: dict[str, Any]) -> dict[str, Any]:
    """EXPLAIN each query of the deep list request that reads messages."""
    table = Message._meta.db_table
    plans = []
    for sql in queries["list (limit=20, after)"]["sql"]:
        if table in sql and "LIMIT" in sql.upper():
            lines = explain(sql)
            plans.append(
                {
                    "sql": sql,
                    "plan": lines,
                    "uses_thread_index": any(
                        "threads_app_message_thread" in line for line in lines
                    ),
                }
            )
    return {"vendor": connection.vendor, "queries": plans}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,100000,1000000")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument(
        "--distribute",
        action="store_true",
        help="a Citus coordinator: run distribute_threads_app after migrating",
    )
    parser.add_argument("--admin-threads", type=int, default=100_000,
                        help="threads of the admin's corpus (bench/admin.py); 0 skips it")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    prepared = prepare(sizes, args.reseed, args.distribute)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {prepared['secret']}")
    print(f"  {connection.vendor}: list latency, {args.rounds} rounds", file=sys.stderr)
    latency = list_latency(client, prepared["threads"], args.rounds)
    queries = queries_per_request(client, prepared["threads"], prepared["write_thread"])
    plans = list_plans(queries)
    admin = admin_bench.run(args.admin_threads, 5, args.reseed) if args.admin_threads else None
    with open(args.out, "w") as out:
        json.dump(
            {
                **prepared,
                "vendor": connection.vendor,
                "dialect": sql_dialect(DEFAULT_DB_ALIAS),
                "list_latency": latency,
                "queries": queries,
                "plans": plans,
                "admin": admin,
            },
            out,
            indent=1,
        )


if __name__ == "__main__":
    main()
