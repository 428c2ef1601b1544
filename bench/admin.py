"""The staff admin at scale: the threads list, its search, the owner filter, a transcript.

    DATABASE_URL=... python -m bench.admin [--threads 100000] [--rounds 5] [--reseed]

Seeds (or reuses) a corpus beside what the database already holds: ``--threads``
threads of ten short messages each (1,000,000 messages at the default), owned
by users among as many users again as there are threads, half of whom own
nothing. Then it times, in-process through Django's test client with a staff
session, the pages staff load: the threads list (as it opens, and sorted by
last activity), a word search that hits every thread, a few, one message, or
nothing, the owner filter's suggestions, and a transcript of the largest thread
in the database (its first page, and the page of a message in its middle).

``python -m bench`` runs it on each database within ``bench.measure`` (``--quick``:
10,000 threads); run alone it measures the admin only, in a few minutes.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from threads_app.ids import ALPHABET, RANDOM_LENGTH, THREAD_PREFIX, id_start  # noqa: E402
from threads_app.models import Message, Thread  # noqa: E402

from .seed import Progress, fast_message_id, insert_rows  # noqa: E402

OWNER_PREFIX = "bench-owner-"
STAFF = "bench-staff"
MESSAGES_PER_THREAD = 10
TOPICS = (
    "kettle toaster blender mixer grinder juicer cooker steamer fryer griddle waffle "
    "teapot thermos skillet wok colander ladle whisk spatula peeler grater sieve "
    "carafe decanter pitcher tumbler goblet saucer platter tureen ramekin trivet "
    "apron oven freezer fridge dishwasher microwave percolator"
).split()
# What the searches look for, and in how much of the corpus it is.
SEARCHES = {
    "every thread": "refund",  # in every assistant message
    "a few threads": "percolator",  # a topic: about 5% of threads
    "one message": None,  # a ticket number, filled in from the corpus
    "nothing": "xylophone",
}


def fast_id(rng: random.Random, prefix: str) -> str:
    return id_start(prefix) + "".join(rng.choices(ALPHABET, k=RANDOM_LENGTH))


def ticket(thread: int, message: int) -> str:
    return f"TK{thread:06d}{message}"


def prepared_columns(model: Any, template: Any, skip: tuple[str, ...]) -> tuple[list, dict]:
    """A model's concrete fields (but its key) and their values as ``template`` has them."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    prepared = {
        f.name: f.get_db_prep_save(getattr(template, f.attname), connection)
        for f in fields
        if f.name not in skip
    }
    return fields, prepared


def seed_users(count: int) -> list[int]:
    user_model = get_user_model()
    now = timezone.now()
    template = user_model(password="!", last_login=None, date_joined=now)
    fields, prepared = prepared_columns(user_model, template, ("username", "email"))
    if connection.vendor == "postgresql":
        prepared["date_joined"] = now

    def rows() -> Iterator[tuple]:
        for i in range(count):
            values = dict(prepared, username=f"{OWNER_PREFIX}{i:06d}",
                          email=f"owner{i:06d}@example.com")
            yield tuple(values[f.name] for f in fields)

    insert_rows(user_model._meta.db_table, [f.column for f in fields], rows(),
                Progress(f"{connection.vendor} users", count))
    return list(
        user_model.objects.filter(username__startswith=OWNER_PREFIX)
        .order_by("username").values_list("pk", flat=True)
    )


def seed_threads(count: int, owners: list[int], rng: random.Random) -> list[tuple[str, Any]]:
    """``count`` threads over the last year, oldest first; their IDs and creation times."""
    now = timezone.now()
    start = now - timedelta(days=365)
    step = timedelta(days=365) / count
    fields, prepared = prepared_columns(
        Thread, Thread(created_at=now), ("public_id", "owner", "created_at", "metadata")
    )
    metadata_field = Thread._meta.get_field("metadata")
    created_field = Thread._meta.get_field("created_at")
    half = owners[: len(owners) // 2]  # the other half owns nothing

    def rows() -> Iterator[tuple]:
        for t in range(count):
            topic = TOPICS[t % len(TOPICS)]
            metadata = {"customer": str(rng.randrange(10**6)),
                        "channel": rng.choice(["email", "chat", "phone"])}
            if t % 3 == 0:
                metadata["title"] = f"{topic.capitalize()} trouble, order A-{t:06d}"
            created = start + step * t
            values = dict(
                prepared,
                public_id=fast_id(rng, THREAD_PREFIX),
                owner=rng.choice(half),
                created_at=created if connection.vendor == "postgresql"
                else created_field.get_db_prep_save(created, connection),
                metadata=metadata_field.get_prep_value(metadata),
            )
            yield tuple(values[f.name] for f in fields)

    insert_rows(Thread._meta.db_table, [f.column for f in fields], rows(),
                Progress(f"{connection.vendor} threads", count))
    return list(
        Thread.objects.filter(owner__username__startswith=OWNER_PREFIX)
        .order_by("seq").values_list("public_id", "created_at")
    )


def seed_messages(threads: list[tuple[str, Any]], rng: random.Random) -> None:
    now = timezone.now()
    template = Message(created_at=now, completed_at=now, role="user", content=[])
    fields, prepared = prepared_columns(
        Message, template, ("public_id", "thread", "role", "content", "created_at", "completed_at")
    )
    content_field = Message._meta.get_field("content")
    created_field = Message._meta.get_field("created_at")
    total = len(threads) * MESSAGES_PER_THREAD

    def when(value: Any) -> Any:
        if connection.vendor == "postgresql":
            return value
        return created_field.get_db_prep_save(value, connection)

    def rows() -> Iterator[tuple]:
        for t, (thread_id, created) in enumerate(threads):
            topic, other = TOPICS[t % len(TOPICS)], rng.choice(TOPICS)
            at = created
            for j in range(MESSAGES_PER_THREAD):
                at += timedelta(minutes=rng.randrange(1, 600))
                if j % 2 == 0:
                    text = (f"Hello, my {topic} from order A-{t:06d} stopped working, and the "
                            f"{other} too. Could you have a look? Ticket {ticket(t, j)}.")
                else:
                    text = (f"Thanks for writing. I checked order A-{t:06d}: the {topic} will be "
                            f"replaced, or a refund issued if you prefer. Ticket {ticket(t, j)}.")
                content = [{"type": "text", "text": {"value": text, "annotations": []}}]
                values = dict(
                    prepared,
                    public_id=fast_message_id(rng),
                    thread=thread_id,
                    role="user" if j % 2 == 0 else "assistant",
                    content=content_field.get_prep_value(content),
                    created_at=when(at),
                    completed_at=when(at),
                )
                yield tuple(values[f.name] for f in fields)

    insert_rows(Message._meta.db_table, [f.column for f in fields], rows(),
                Progress(f"{connection.vendor} messages", total))


def prepare(threads: int, reseed: bool) -> dict[str, Any]:
    """Migrate, and seed the corpus unless it is there already at this size."""
    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    owners = user_model.objects.filter(username__startswith=OWNER_PREFIX)
    corpus = Thread.objects.filter(owner__username__startswith=OWNER_PREFIX)
    seconds = None
    if reseed or corpus.count() != threads or owners.count() != threads:
        started = time.perf_counter()
        Message.objects.filter(thread__owner__username__startswith=OWNER_PREFIX).delete()
        corpus.delete()
        owners.delete()
        rng = random.Random(threads)
        created = seed_threads(threads, seed_users(threads), rng)
        seed_messages(created, rng)
        if connection.vendor == "postgresql":
            # What autovacuum would do after a bulk load; the planner needs the statistics.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        seconds = round(time.perf_counter() - started, 1)
    staff, _ = user_model.objects.get_or_create(
        username=STAFF, defaults={"is_staff": True, "is_superuser": True}
    )
    return {"threads": threads, "messages": threads * MESSAGES_PER_THREAD,
            "seeding_seconds": seconds, "staff": staff}


def timed(client: Client, path: str, rounds: int) -> dict[str, Any]:
    """Median, slowest and first of ``rounds`` loads of ``path``, in ms, and its queries."""
    samples = []
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    queries = captured.captured_queries  # read now: the next request empties the log
    for _ in range(rounds):
        started = time.perf_counter()
        client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "path": path,
        "p50_ms": round(statistics.median(samples), 1),
        "max_ms": round(max(samples), 1),
        "queries": len(queries),
        "slowest_query_ms": max((float(q["time"]) * 1000 for q in queries), default=0.0),
    }


def measure(client: Client, threads: int, rounds: int) -> dict[str, Any]:
    threads_url = reverse("admin:threads_app_thread_changelist")
    # `o=-5`: last activity (the fifth column after the checkbox), newest first.
    cases: dict[str, str] = {
        "threads list": threads_url,
        "sorted by last activity": threads_url + "?o=-5",
    }
    for name, word in SEARCHES.items():
        cases[f"search: {name}"] = threads_url + "?q=" + (word or ticket(threads // 2, 3))
    cases["owner suggestions"] = (
        reverse("admin:threads_app_thread_owners") + f"?term={OWNER_PREFIX}0123"
    )
    largest = (
        Message.objects.values("thread", "thread__seq").annotate(n=Count("*")).order_by("-n")
        .first()
    )
    if largest:
        change = reverse("admin:threads_app_thread_change", args=[largest["thread__seq"]])
        middle = (
            Message.objects.filter(thread=largest["thread"]).order_by("seq")
            .values_list("public_id", flat=True)[largest["n"] // 2]
        )
        cases[f"transcript of {largest['n']:,} messages, first page"] = change
        cases["the same, the page of its middle message"] = change + f"?message={middle}"
    return {name: timed(client, path, rounds) for name, path in cases.items()}


def run(threads: int, rounds: int, reseed: bool) -> dict[str, Any]:
    prepared = prepare(threads, reseed)
    client = Client()
    client.force_login(prepared.pop("staff"))
    print(f"  {connection.vendor}: the admin, {rounds} rounds", file=sys.stderr)
    return {**prepared, "vendor": connection.vendor, "pages": measure(client, threads, rounds)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--out", help="write the figures here as JSON")
    args = parser.parse_args(argv)
    result = run(args.threads, args.rounds, args.reseed)
    if args.out:
        with open(args.out, "w") as out:
            json.dump(result, out, indent=1)
    from .__main__ import print_admin

    print_admin(result)


if __name__ == "__main__":
    main()
