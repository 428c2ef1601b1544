"""The databases the store runs on, as the host's routers choose them."""

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.dispatch import Signal
from django.utils import timezone

from ..models import Message, Thread

VENDORS = ("sqlite", "postgresql")
# The SQL a database is given: its vendor's, or on a PostgreSQL database with the
# Citus extension, a form of PostgreSQL's whose statements each route to one shard
# where the request names a thread (docs/scaling.md).
CITUS = "citus"

# SQLite's clock has milliseconds only, where every other write takes Python's
# microseconds: a function of ours gives it the same clock.
SQLITE_CLOCK = "threads_app_now"

# Whether the database of each alias has Citus, with the database it was asked of
# (host, port, name): :func:`probe_citus`.
citus_aliases: dict[str, tuple[tuple, bool]] = {}


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
    """The SQL the store writes for the database ``alias``: "sqlite", "postgresql" or
    "citus" (PostgreSQL with the Citus extension), a key of every statement's cache."""
    connection = connections[alias]
    vendor = connection.vendor
    if vendor not in VENDORS:
        raise ImproperlyConfigured(
            f"threads_app runs on SQLite or PostgreSQL; the database {alias!r} is {vendor}."
        )
    if vendor == "postgresql":
        probed = citus_aliases.get(alias)
        if probed is None or probed[0] != database_of(connection):
            connection.ensure_connection()  # a new connection is probed as it opens,
            probe_citus(None, connection)  # one opened before is probed here
            probed = citus_aliases[alias]
        if probed[1]:
            return CITUS
    return vendor


def database_of(connection: Any) -> tuple:
    settings = connection.settings_dict
    return settings["HOST"], settings["PORT"], settings["NAME"]


def probe_citus(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Note whether the database of a new PostgreSQL connection has the Citus extension
    (connected in apps.py). Once per alias and database, as the first connection to it
    opens: never among a request's statements, nor on every connection a pool lends."""
    if connection.vendor != "postgresql":
        return
    database = database_of(connection)
    probed = citus_aliases.get(connection.alias)
    if probed is not None and probed[0] == database:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS(SELECT 1 FROM pg_extension WHERE extname = 'citus')")
        citus_aliases[connection.alias] = (database, cursor.fetchone()[0])


def forget_citus(alias: str) -> None:
    """Ask again, at the next connection, whether ``alias``'s database has Citus (after the
    extension was created or dropped)."""
    citus_aliases.pop(alias, None)


def register_sqlite_clock(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Give a new SQLite connection the clock the insert reads (connected in apps.py)."""
    if connection.vendor == "sqlite":
        ops = connection.ops
        connection.connection.create_function(
            SQLITE_CLOCK, 0, lambda: ops.adapt_datetimefield_value(timezone.now())
        )
