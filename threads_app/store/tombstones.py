"""Tombstones: where deleted threads and messages stood, for as long as a cursor may name them.

A tombstone marks its place for ``TOMBSTONE_RETENTION`` after ``deleted_at``.
From then on no query takes it as a position (the page's SQL in messages.py
and the ORM's, through :func:`marking`, both compare with :func:`kept_since`),
a cursor naming it is refused whether or not it is still stored
(``views.cursor_position``), and :func:`purge` deletes it.
"""

import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connections, router
from django.db.models import QuerySet
from django.utils import timezone

from ..conf import app_settings
from ..models import Tombstone

# Tombstones one statement of the purge deletes. Each batch commits on its own, so
# that the purge never holds many row locks, nor SQLite's write lock, for long.
PURGE_BATCH = 1000


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


@lru_cache(maxsize=4)
def kept_since_param(alias: str, since: datetime) -> Any:
    """:func:`kept_since` as a parameter of SQL compared with ``deleted_at`` on ``alias``."""
    return Tombstone._meta.get_field("deleted_at").get_db_prep_value(since, connections[alias])


def marking(tombstones: QuerySet, since: datetime | None) -> QuerySet:
    """Those of ``tombstones`` that still mark their place, ``since`` from :func:`kept_since`."""
    return tombstones if since is None else tombstones.filter(deleted_at__gte=since)


def retention_text() -> str:
    """The retention in words, for messages to people: "30 days", "12 hours", "90 seconds"."""
    seconds = app_settings.TOMBSTONE_RETENTION
    units = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    unit, count = next((unit, seconds // length) for unit, length in units
                       if seconds % length == 0)
    return f"{count} {unit}{'' if count == 1 else 's'}"


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
