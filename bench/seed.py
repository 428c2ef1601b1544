"""Fast seeding: one thread of N messages in bulk, with a progress bar.

Rows go in through the driver's bulk path (``executemany`` on SQLite, ``COPY``
on PostgreSQL), with every constant column prepared once by its model field,
so that a million messages take seconds rather than the hours that one ORM
``save()`` per row would.
"""

import random
import sys
import time
from collections.abc import Iterator

from django.db import connection, transaction
from django.utils import timezone

from threads_app.ids import ALPHABET, MESSAGE_PREFIX, RANDOM_LENGTH, id_start
from threads_app.models import Message, Thread

BATCH = 20_000
TEXT = "A message of the benchmark, about as long as a short chat turn. " * 3


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.started = label, total, time.perf_counter()
        self.update(0)

    def update(self, done: int) -> None:
        self.done = done
        width = 30
        filled = width * done // max(self.total, 1)
        elapsed = time.perf_counter() - self.started
        sys.stderr.write(
            f"\r  {self.label} [{'#' * filled}{'.' * (width - filled)}] "
            f"{done:>9,}/{self.total:,} {elapsed:5.1f}s"
        )
        if done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def fast_message_id(rng: random.Random) -> str:
    # Not secret, unlike production IDs: the benchmark needs only unique ones, quickly.
    return id_start(MESSAGE_PREFIX) + "".join(rng.choices(ALPHABET, k=RANDOM_LENGTH))


def message_rows(thread: Thread, count: int, seed: int) -> tuple[list[str], Iterator[tuple]]:
    """The message table's columns (but ``seq``) and ``count`` rows for them."""
    now = timezone.now()
    # Every other column as a new message has it, so that fields added later seed too.
    template = Message(thread=thread, created_at=now, completed_at=now, role="user", content=[])
    fields = [f for f in Message._meta.concrete_fields if f.name != "seq"]
    prepared = {
        f.name: f.get_db_prep_save(getattr(template, f.attname), connection)
        for f in fields
        if f.name not in ("content", "public_id")
    }
    if connection.vendor == "postgresql":
        # COPY adapts datetimes itself; keep them as objects.
        prepared["created_at"] = prepared["completed_at"] = now
    content_field = Message._meta.get_field("content")
    names = [f.name for f in fields]
    rng = random.Random(seed)

    def rows() -> Iterator[tuple]:
        for i in range(count):
            content = [{"type": "text", "text": {"value": f"{i}: {TEXT}", "annotations": []}}]
            values = dict(
                prepared,
                public_id=fast_message_id(rng),
                content=content_field.get_prep_value(content),
            )
            yield tuple(values[name] for name in names)

    return [f.column for f in fields], rows()


def insert_rows(table: str, columns: list[str], rows: Iterator[tuple], progress: Progress) -> None:
    """Insert ``rows`` into ``table`` through the driver's bulk path, in one transaction."""
    done = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    done += 1
                    if done % BATCH == 0:
                        progress.update(done)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
            batch: list[tuple] = []
            for row in rows:
                batch.append(row)
                if len(batch) == BATCH:
                    cursor.executemany(sql, batch)
                    done += len(batch)
                    batch.clear()
                    progress.update(done)
            if batch:
                cursor.executemany(sql, batch)
    if progress.done != progress.total:
        progress.update(progress.total)


def seed_thread(thread: Thread, count: int, label: str) -> None:
    """Append ``count`` messages to ``thread`` in bulk."""
    columns, rows = message_rows(thread, count, seed=thread.pk)
    insert_rows(Message._meta.db_table, columns, rows, Progress(label, count))
