"""The databases the store runs on, as the host's routers choose them."""

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.dispatch import Signal
from django.utils import timezone

from ..models import Message, Thread

VENDORS = ("sqlite", "postgresql")

# SQLite's clock has milliseconds only, where every other write takes Python's
# microseconds: a function of ours gives it the same clock.
SQLITE_CLOCK = "threads_app_now"


def read_alias() -> str:
    """The database the routers read messages and threads from."""
    return router.db_for_read(Message)


def write_alias() -> str:
    """The database the routers write messages and threads to."""
    return router.db_for_write(Message)


def atomic(savepoint: bool = True) -> transaction.Atomic:
    """A transaction on the database the app's writes go to (``transaction.atomic()`` would
    open one on the default database, whatever the routers say).

    ``savepoint=False``: inside another, no savepoint of its own (what the store's
    writes use, so that a caller's transaction costs no more round trips).
    """
    return transaction.atomic(using=write_alias(), savepoint=savepoint)


def on_commit(func: Callable[[], Any]) -> None:
    """Run ``func`` once the transaction of the app's writes commits."""
    transaction.on_commit(func, using=write_alias())


def send_on_commit(signal: Signal, instance: Thread | Message, request: Any) -> None:
    """Send one of the app's signals (signals.py) about ``instance`` once its write commits.

    ``request``: the API's request, or the admin's; None from a command.
    """
    name = "thread" if isinstance(instance, Thread) else "message"
    on_commit(lambda: signal.send(sender=type(instance), **{name: instance}, request=request))


def run(alias: str, sql: str, params: Sequence[Any]) -> list[tuple]:
    """All rows of ``sql``; all, always: SQLite commits an INSERT … RETURNING only at its end."""
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def sql_dialect(alias: str) -> str:
    vendor = connections[alias].vendor
    if vendor not in VENDORS:
        raise ImproperlyConfigured(
            f"threads_app runs on SQLite or PostgreSQL; the database {alias!r} is {vendor}."
        )
    return vendor


def register_sqlite_clock(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Give a new SQLite connection the clock the insert reads (connected in apps.py)."""
    if connection.vendor == "sqlite":
        ops = connection.ops
        connection.connection.create_function(
            SQLITE_CLOCK, 0, lambda: ops.adapt_datetimefield_value(timezone.now())
        )
