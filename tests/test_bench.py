"""The benchmark's own parts: its seeding must make messages the API serves as it would its own."""

import os
import subprocess
import sys

import pytest
from django.test import Client

from bench.__main__ import ratio
from bench.cpu import GROUPS, CPUSplit, per_request_us, process_seconds
from bench.floor import canned_body
from bench.instructions import CASES, prepare, requester
from bench.seed import seed_thread
from threads_app.models import Message, Thread

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
