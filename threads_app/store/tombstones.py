"""Where a deleted thread or message stood, so that a cursor naming it keeps its place.

A tombstone keeps a deleted row's ``seq`` under its public ID, in the list the
row was part of (its ``container``): the thread's public ID for a message, and
``Tombstone.owner_container(owner)`` for a thread. A cursor stands where its
row is, else where its tombstone says the row stood, for ``TOMBSTONE_RETENTION``
after ``deleted_at``. From then on no query takes the tombstone as a position
(:func:`position_sql` compares with :func:`kept_since`), a cursor naming it is
refused whether or not it is still stored (:func:`expired_sql` tells the view why),
and :func:`purge` deletes it.

The deletions of threads.py and messages.py write these, whichever door
(the API, the admin) they come through, under the thread's row lock.
"""

import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connections, router
from django.utils import timezone

from ..conf import app_settings
from ..models import Message, Thread, Tombstone
from .database import write_alias
from .sql import Names

# Tombstones one statement of the purge deletes. Each batch commits on its own, so
# that the purge never holds many row locks, nor SQLite's write lock, for long.
PURGE_BATCH = 1000
# What "kept since" is without a retention: every tombstone is younger.
EVER = datetime(1970, 1, 1, tzinfo=UTC)


def position_sql(names: Names, live: str) -> str:
    """Where a cursor stands: the ``seq`` that ``live`` selects, else its kept tombstone's.

    Parameters: those of ``live``, then the list's container, the cursor's ID and
    :func:`kept_since_param`. NULL if the cursor names nothing (or an object deleted
    past the retention), which makes a bound by it hold for no row.
    """
    return (f"COALESCE(({live} LIMIT 1), "
            f"(SELECT {names.column(Tombstone, 'seq', 'T0')} FROM {names.table(Tombstone)} T0 "
            f"WHERE {names.column(Tombstone, 'container', 'T0')} = %s "
            f"AND {names.column(Tombstone, 'public_id', 'T0')} = %s "
            f"AND {names.column(Tombstone, 'deleted_at', 'T0')} >= %s LIMIT 1))")


def expired_sql(names: Names) -> str:
    """Whether a cursor names an object deleted past the retention, its tombstone not yet
    purged. Parameters: the list's container, the cursor's ID, :func:`kept_since_param`."""
    return (f"EXISTS(SELECT 1 FROM {names.table(Tombstone)} T1 "
            f"WHERE {names.column(Tombstone, 'container', 'T1')} = %s "
            f"AND {names.column(Tombstone, 'public_id', 'T1')} = %s "
            f"AND {names.column(Tombstone, 'deleted_at', 'T1')} < %s)")


def place_sql(names: Names, live: str) -> str:
    """A cursor's place, for the checks of a page that came back empty: its position
    (:func:`position_sql`), and whether it expired (:func:`expired_sql`). Parameters:
    those of ``live``, then container, cursor ID, kept since, twice."""
    return f"SELECT {position_sql(names, live)}, {expired_sql(names)}"


def kept_since() -> datetime | None:
    """The earliest deletion time whose tombstone still marks its place; None: every one does.

    Taken from the start of the current second, so that it, and its form as a parameter
    (:func:`kept_since_param`), is computed once a second: a page with a cursor reads it.
    """
    seconds = app_settings.TOMBSTONE_RETENTION
    if seconds is None:
        return None
    return cutoff(int(time.time()), seconds, settings.USE_TZ)


@lru_cache(maxsize=2)
def cutoff(second: int, retention: int, use_tz: bool) -> datetime:
    """``retention`` seconds before the epoch second ``second``, as ``timezone.now()``
    gives times (aware in UTC, or naive and local without USE_TZ)."""
    moment = datetime.fromtimestamp(second - retention, UTC)
    return moment if use_tz else timezone.make_naive(moment)


def kept_since_param(alias: str) -> Any:
    """:func:`kept_since` as the parameter :func:`position_sql` compares ``deleted_at`` with."""
    since = kept_since()
    if since is None:
        since = EVER if settings.USE_TZ else timezone.make_naive(EVER)
    return prepared_time(alias, since)


@lru_cache(maxsize=4)
def prepared_time(alias: str, moment: datetime) -> Any:
    return Tombstone._meta.get_field("deleted_at").get_db_prep_value(moment, connections[alias])


def retention_text() -> str:
    """The retention in words, for messages to people: "30 days", "12 hours", "90 seconds"."""
    seconds = app_settings.TOMBSTONE_RETENTION
    units = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    unit, count = next((unit, seconds // length) for unit, length in units
                       if seconds % length == 0)
    return f"{count} {unit}{'' if count == 1 else 's'}"


def record_deleted_thread(thread: Thread) -> None:
    """Keep ``thread``'s place among its owner's threads; forget its messages' places.

    No cursor can reach the thread's messages once it is gone.
    """
    Tombstone.objects.using(write_alias()).filter(container=thread.public_id).delete()
    record_place(Tombstone.owner_container(thread.owner_id), thread.public_id, thread.seq)


def record_deleted_message(thread: Thread, message: Message) -> None:
    """Keep ``message``'s place in ``thread``'s list."""
    record_place(thread.public_id, message.public_id, message.seq)


def record_place(container: str, public_id: str, seq: int) -> None:
    """Keep where ``public_id`` stood in ``container``, from now.

    An ID deleted once may stand there again (imported back) and be deleted again: its
    newer place replaces the older, in the one statement (``ON CONFLICT … DO UPDATE``).
    """
    Tombstone.objects.using(write_alias()).bulk_create(
        [Tombstone(container=container, public_id=public_id, seq=seq)],
        update_conflicts=True, unique_fields=["container", "public_id"],
        update_fields=["seq", "deleted_at"],
    )


def purge(batch_size: int = PURGE_BATCH) -> int:
    """Delete the tombstones past retention, ``batch_size`` at a time; return how many went.

    Oldest first, through the index on ``deleted_at``. With no retention it deletes nothing.
    """
    since = kept_since()
    if since is None:
        return 0
    alias = router.db_for_write(Tombstone)
    expired = Tombstone.objects.using(alias).filter(deleted_at__lt=since).order_by("deleted_at")
    deleted = 0
    while True:
        batch = list(expired.values_list("pk", flat=True)[:batch_size])
        if batch:
            deleted += Tombstone.objects.using(alias).filter(pk__in=batch).delete()[0]
        if len(batch) < batch_size:
            return deleted
