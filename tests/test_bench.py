"""The benchmark's own parts: its seeding must make messages the API serves as it would its own."""

import os
import subprocess
import sys

import pytest
from django.test import Client

from bench.__main__ import (
    CITUS_UNNAMED,
    check_citus,
    database_postmasters,
    database_urls,
    print_comparison,
    print_report,
    ratio,
)
from bench.cpu import DATABASE_PARTS, GROUPS, CPUSplit, per_request_us, process_seconds
from bench.floor import canned_body
from bench.instructions import CASES, prepare, requester
from bench.seed import seed_thread
from threads_app.models import Message, Thread

from . import citus
from .conftest import url


@pytest.mark.django_db(transaction=True)
def test_seeded_messages_are_served_like_created_ones(api, user):
    thread = Thread.objects.create(owner=user)
    seed_thread(thread, 45, "test")
    assert Message.objects.filter(thread=thread).count() == 45

    first = api.get(url("message-list", thread_id=thread.public_id), {"limit": 20}).json()
    assert len(first["data"]) == 20 and first["has_more"]
    assert first["data"][0]["content"][0]["text"]["value"].startswith("44: ")

    oldest = api.get(
        url("message-list", thread_id=thread.public_id), {"order": "asc", "limit": 100}
    ).json()
    assert [m["content"][0]["text"]["value"].split(":")[0] for m in oldest["data"]] == [
        str(i) for i in range(45)
    ]
    added = api.post(
        url("message-list", thread_id=thread.public_id), {"role": "user", "content": "after"},
        format="json",
    ).json()
    newest = api.get(url("message-list", thread_id=thread.public_id), {"limit": 2}).json()["data"]
    assert [m["id"] for m in newest] == [added["id"], first["data"][0]["id"]]
    # A seeded message has every field a created one has, with values of the same kinds.
    seeded = newest[1]
    assert {k: type(v) for k, v in seeded.items()} == {k: type(v) for k, v in added.items()}
    assert seeded["created_at"] <= added["created_at"] and seeded["status"] == "completed"


@pytest.mark.parametrize("size", [0, 31, 32, 1000])
def test_floor_answers_json_of_the_size_asked(size, settings):
    settings.ROOT_URLCONF = "bench.urls"
    response = Client().get("/bench/floor", {"bytes": size})
    assert response.status_code == 200
    assert len(response.content) == max(size, 31)
    assert response.json()["object"] == "floor"
    assert canned_body(size) == response.content


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_query_floor_answers_the_floors_body_after_one_query(
    method, settings, django_assert_num_queries
):
    settings.ROOT_URLCONF = "bench.urls"
    with django_assert_num_queries(1) as queries:
        response = getattr(Client(), method)("/bench/floor-query?bytes=600")
    assert response.status_code == 200
    assert response.content == canned_body(600)
    assert queries.captured_queries[0]["sql"] == "SELECT 1"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", CASES)
def test_every_case_of_the_instruction_count_is_answered(case, settings):
    settings.ROOT_URLCONF = "bench.urls"
    answer = requester(case, prepare())
    for _ in range(3):
        answer()  # fails unless the answer is a 200


# 0.3 s of CPU, burnt by this process (exec) and by a child (python -c) alike.
BURN = """
import time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
"""


def test_cpu_split_charges_each_group_with_its_own_time():
    # This process stands for the server's worker; a child that burns CPU and
    # ends, for the load client.
    split = CPUSplit([os.getpid()])
    split.start()
    exec(BURN, {})
    subprocess.run([sys.executable, "-c", BURN], check=True)
    spent = split.stop()
    assert set(spent) == set(GROUPS)
    # Ticks are 10 ms; the child also spends some time starting Python.
    assert 0.25 <= spent["workers"] <= 0.6
    assert spent["client"] >= 0.25
    assert all(seconds >= 0 for seconds in spent.values())


def test_cpu_per_request_in_microseconds():
    seconds = {"workers": 0.5, "database": 0.25, "client": 0.1, "rest": 0.0}
    assert per_request_us(seconds, 1000) == {
        "workers": 500, "database": 250, "client": 100, "rest": 0
    }


def test_a_process_that_is_gone_has_spent_nothing():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_seconds(child.pid) == 0.0
    assert process_seconds(os.getpid()) > 0


def test_ratios_are_taken_turn_by_turn():
    # Each turn's endpoint against the same turn's reference, never averages against
    # averages: the machine's speed drifts between turns.
    runs = [
        {"endpoint": {"rps": 100}, "floor": {"rps": 400}, "query_floor": {"rps": 200}},
        {"endpoint": {"rps": 300}, "floor": {"rps": 600}, "query_floor": {"rps": 400}},
        {"endpoint": {"rps": 200}, "floor": {"rps": 1000}, "query_floor": {"rps": 500}},
    ]
    assert ratio(runs, "ratio", of="endpoint", to="floor") == {
        "ratio": 0.25, "ratio_range": [0.2, 0.5]
    }
    assert ratio(runs, "ceiling", of="query_floor", to="floor") == {
        "ceiling": 0.5, "ceiling_range": [0.5, 0.667]
    }


@pytest.mark.django_db(transaction=True)
def test_admin_bench_seeds_a_corpus_the_admin_serves():
    from bench import admin as admin_bench

    result = admin_bench.run(threads=12, rounds=1, reseed=False)
    assert (result["threads"], result["messages"]) == (12, 120)
    assert Thread.objects.filter(owner__username__startswith=admin_bench.OWNER_PREFIX).count() == 12
    pages = result["pages"]
    # Every page loaded (timed() checks for 200) with a bounded number of queries.
    assert {"threads list", "sorted by last activity", "owner suggestions"} <= set(pages)
    assert all(0 < page["queries"] <= 9 for page in pages.values())
    # A second run reuses the corpus.
    assert admin_bench.run(threads=12, rounds=1, reseed=False)["seeding_seconds"] is None


def test_citus_is_not_measured_unless_a_coordinator_is_named(monkeypatch, capsys):
    monkeypatch.delenv("BENCH_CITUS_URL", raising=False)
    assert database_urls(["postgres", "citus"])["citus"] is None
    why = check_citus(None)
    assert why == CITUS_UNNAMED and "BENCH_CITUS_URL" in why
    report = {
        "machine": {"nproc": 2, "cpu": "a CPU", "ram_gib": 4.0, "python": "3.11"},
        "databases": {"citus": {"skipped": why}},
    }
    print_report(report)
    assert f"## citus: skipped ({CITUS_UNNAMED})" in capsys.readouterr().out
    monkeypatch.setenv("BENCH_CITUS_URL", "postgres://coordinator/bench")
    assert database_urls(["citus"]) == {"citus": "postgres://coordinator/bench"}
    with pytest.raises(SystemExit, match="no database mysql"):
        database_urls(["sqlite", "mysql"])


def test_cpu_split_names_the_parts_of_a_cluster():
    # No process of these postmasters runs: the parts are there, and spent nothing.
    cluster = CPUSplit([os.getpid()], {"coordinator": [], "worker_nodes": []})
    cluster.start()
    spent = cluster.stop()
    assert set(spent) == set(GROUPS) | set(DATABASE_PARTS)
    assert spent["database"] == spent["coordinator"] == spent["worker_nodes"] == 0
    one_server = CPUSplit([os.getpid()], {"database": []})
    one_server.start()
    assert set(one_server.stop()) == set(GROUPS)


def run_figures(rps: float, cpu: dict[str, int]) -> dict:
    return {"rps": rps, "cpu_us": cpu}


def measured(rps: float, cpu: dict[str, int]) -> dict:
    """A database's figures as ``python -m bench`` keeps them, as few as the comparison reads."""
    case = {
        "endpoint": run_figures(rps, cpu),
        "ratio": rps / 1000,
        "query_floor_ratio": 0.66,
    }
    return {
        "throughput": {"cases": {"list 20 messages": case}},
        "list_latency": {"100": {"first": {"p50_ms": 2.0}, "deep": {"p50_ms": 2.5}}},
        "queries": {"list (limit=20)": {"queries": 1}},
    }


def test_the_report_puts_citus_beside_postgres(capsys):
    pg = measured(500, {"workers": 700, "database": 130, "client": 80, "rest": 7})
    cluster = measured(
        250,
        {"workers": 900, "database": 600, "client": 80, "rest": 9, "coordinator": 350,
         "worker_nodes": 250},
    )
    print_comparison({"databases": {"postgres": pg, "citus": cluster}})
    out = capsys.readouterr().out
    assert "Citus beside PostgreSQL" in out
    row = next(line for line in out.splitlines() if line.startswith("list 20 messages"))
    # req/s on each, citus/pg, each one's ratio to its floor, and the ratio of those
    assert row.split()[3:] == ["500", "250", "0.50", "0.50", "0.25", "0.50"]
    cpu = next(line for line in out.splitlines() if line.startswith("endpoint") and "coord" in line)
    assert cpu.split()[-2:] == ["w.", "nodes"]
    cpu_row = [line for line in out.splitlines() if line.startswith("list 20 messages")][1]
    assert cpu_row.split()[-6:] == ["900", "600", "80", "9", "350", "250"]
    print_comparison({"databases": {"postgres": pg, "citus": {"skipped": CITUS_UNNAMED}}})
    assert capsys.readouterr().out == ""


@pytest.mark.skipif(
    not citus.CITUS,
    reason="needs a Citus cluster: DATABASE_CITUS=1 and DATABASE_URL naming its coordinator "
    "(docs/scaling.md)",
)
@pytest.mark.django_db(transaction=True)
def test_bench_measures_a_citus_cluster(settings):
    from django.db import connection

    from bench import measure

    settings.ROOT_URLCONF = "bench.urls"
    prepared = measure.prepare([100], reseed=False, distribute=True)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {prepared['secret']}")
    latency = measure.list_latency(client, prepared["threads"], rounds=1)
    assert set(latency["100"]) == {"first", "deep"}
    queries = measure.queries_per_request(
        client, prepared["threads"], prepared["write_thread"]
    )
    assert queries["list (limit=20)"]["queries"] == 1
    (plan,) = measure.list_plans(queries)["queries"]
    assert "Task Count: 1" in "\n".join(plan["plan"])
    # Its CPU split finds the coordinator and each worker as processes of this machine
    # (tests/citus.py's cluster is local).
    s = connection.settings_dict
    login = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    coordinator = f"postgres://{login}@{s['HOST'] or '127.0.0.1'}:{s['PORT']}/{s['NAME']}"
    postmasters = database_postmasters("citus", coordinator)
    assert postmasters is not None and set(postmasters) == set(DATABASE_PARTS)
    assert len(postmasters["coordinator"]) == 1 and len(postmasters["worker_nodes"]) >= 1
