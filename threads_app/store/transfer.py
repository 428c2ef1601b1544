"""What the exporter reads and the importer writes (see ``threads_app/transfer.py``).

The export reads threads, then each thread's rows through the (thread, seq)
index, in chunks: memory stays flat however large the export, and no query
spans threads. The import writes a thread's rows under its row lock, inside
the caller's :func:`~.database.atomic`, as the API's writes do; it decides
what is already there on the database it writes to, not on a replica that
may lag behind it.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet

from ..models import Message, Thread
from .database import write_alias

# Rows read at a time by the export.
THREAD_CHUNK = 500
ROW_CHUNK = 1000


# Export ------------------------------------------------------------------------


def select_threads(
    owners: Iterable[str] = (),
    thread_ids: Iterable[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    using: str | None = None,
) -> QuerySet[Thread]:
    """Threads by owner's username, by ID, and created in ``[since, until)``; each filter
    narrows the others, and none means all. ``using``: a database to read them from
    (a replica, say) rather than the one the routers choose."""
    threads = Thread.objects.all() if using is None else Thread.objects.using(using)
    owners, thread_ids = list(owners), list(thread_ids)
    if owners:
        username_field = get_user_model().USERNAME_FIELD
        threads = threads.filter(**{f"owner__{username_field}__in": owners})
    if thread_ids:
        threads = threads.filter(public_id__in=thread_ids)
    if since is not None:
        threads = threads.filter(created_at__gte=since)
    if until is not None:
        threads = threads.filter(created_at__lt=until)
    return threads.order_by("seq")


def selected_threads(threads: QuerySet) -> QuerySet[Thread]:
    """The threads an admin list or action selected, in the export's order."""
    return Thread.objects.using(threads.db).filter(pk__in=threads.values("pk")).order_by("seq")


def exported_threads(threads: QuerySet) -> Iterator[Thread]:
    """The threads of ``threads``, with their owners, a chunk at a time."""
    return threads.select_related("owner").iterator(chunk_size=THREAD_CHUNK)


def exported_rows(thread: Thread) -> Iterator[Message]:
    """Every row of ``thread`` in order, a chunk at a time, from where the thread was read."""
    return thread.messages.order_by("seq").iterator(chunk_size=ROW_CHUNK)


# Import ------------------------------------------------------------------------


def user_named(username: str) -> Model | None:
    """The user of ``username``, or None."""
    manager = get_user_model()._default_manager
    try:
        return manager.get_by_natural_key(username)
    except manager.model.DoesNotExist:
        return None


def stored_thread(public_id: str) -> Thread | None:
    """The thread of ID ``public_id``, as the database written to holds it."""
    return Thread.objects.using(write_alias()).filter(public_id=public_id).first()


def locked_thread(public_id: str) -> Thread | None:
    """The thread of ID ``public_id``, its row locked until the transaction ends."""
    threads = Thread.objects.using(write_alias()).select_for_update()
    return threads.filter(public_id=public_id).first()


def create_thread(**fields: Any) -> Thread:
    return Thread.objects.using(write_alias()).create(**fields)


def stored_ids(thread: Thread, ids: list[str]) -> list[str]:
    """Those of ``ids`` that ``thread`` holds already (IDs are unique within a thread)."""
    rows = Message.objects.using(write_alias()).filter(thread=thread, public_id__in=ids)
    return list(rows.order_by().values_list("public_id", flat=True))


def insert_rows(rows: Iterable[Message]) -> None:
    """Insert ``rows``, in their order: their seq is their place in their thread."""
    Message.objects.using(write_alias()).bulk_create(rows)
