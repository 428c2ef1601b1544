"""The SQL of the hot paths: written out, and run through Django's own cursor.

Building a query with the ORM cost more than SQLite takes to run it (0.5 ms
against 0.05 ms for a page of 20; bench/), so the paths every client hits on
every turn (a page of messages, a message, a thread, a new message, and the
confirmation of a remembered API key) are SQL of our own, one text per shape
(:func:`functools.cache`), for SQLite and PostgreSQL, the two databases the app
runs on. Each runs in ``with connections[alias].cursor()`` on the database the
routers choose, so ``connection.execute_wrapper``, ``connection.queries``, the
debug toolbar and Django's error translation all see it.

Tables and columns are the models' (``_meta.db_table``, ``field.column``). A
message is led by its thread in every query, and the Threads view repeats the
predicate of its partial index (migration 0006) in full, as literals: a bound
parameter would not let SQLite, nor a generic plan of PostgreSQL, prove that
the index covers the query. Rows come back as tuples: timestamps as epoch
seconds computed by the database, JSON as the text it was stored as.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .items import THREADS_ROLES
from .models import APIKey, Message, Thread, Tombstone

VENDORS = ("sqlite", "postgresql")

# The columns of a message's answer, in the order `message_object_from_row` reads them.
MESSAGE_COLUMNS = ("public_id", "created_at", "status", "incomplete_details", "completed_at",
                   "incomplete_at", "role", "content", "assistant_id", "run_id", "attachments",
                   "metadata")
# The columns of a thread's answer, in the order `thread_object_from_row` reads them.
THREAD_COLUMNS = ("public_id", "created_at", "tool_resources", "metadata")
TIMESTAMPS = frozenset({"created_at", "completed_at", "incomplete_at"})
# A new message's columns the insert fills with the time it took the thread's lock.
STAMPED = ("created_at", "completed_at")

# SQLite's clock has milliseconds only, where every other write takes Python's
# microseconds: a function of ours gives it the same clock.
SQLITE_CLOCK = "threads_app_now"


def read_alias() -> str:
    """The database the routers read messages and threads from."""
    return router.db_for_read(Message)


def write_alias() -> str:
    """The database the routers write messages and threads to."""
    return router.db_for_write(Message)


def atomic() -> transaction.Atomic:
    """A transaction on the database the app's writes go to (``transaction.atomic()`` would
    open one on the default database, whatever the routers say)."""
    return transaction.atomic(using=write_alias())


def on_commit(func: Callable[[], Any]) -> None:
    """Run ``func`` once the transaction of the app's writes commits."""
    transaction.on_commit(func, using=write_alias())


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


class Names:
    """The quoted names of the tables and columns of one database's SQL."""

    def __init__(self, alias: str) -> None:
        self.quote = connections[alias].ops.quote_name
        self.vendor = sql_dialect(alias)

    def table(self, model: type[Model]) -> str:
        return self.quote(model._meta.db_table)

    def column(self, model: type[Model], name: str, alias: str | None = None) -> str:
        column = self.quote(model._meta.get_field(name).column)
        return f"{alias}.{column}" if alias else column

    def seconds(self, model: type[Model], name: str, alias: str | None = None) -> str:
        """A timestamp column as whole seconds since the epoch.

        On SQLite, only the whole seconds of the text (it would round .9995 up to
        the next second, where Python and PostgreSQL's TRUNC keep the second it
        is in). Without USE_TZ, SQLite holds local times, which it would read as
        UTC: the column is then read as it is, for :func:`timestamp_seconds`.
        """
        column = self.column(model, name, alias)
        if self.vendor == "postgresql":
            return f"TRUNC(EXTRACT(EPOCH FROM {column}))::bigint"
        if settings.USE_TZ:
            return f"CAST(strftime('%%s', substr({column}, 1, 19)) AS INTEGER)"
        return column

    def select(self, model: type[Model], names: Sequence[str]) -> str:
        return ", ".join(
            self.seconds(model, name) if name in TIMESTAMPS else self.column(model, name)
            for name in names
        )

    def in_partition(self, column: str, subquery: str) -> str:
        """``column`` equal to the one value of ``subquery``, as the planner needs it.

        PostgreSQL counts ``= (subquery)`` as a constant, drops the column from the
        ordering, and may walk the primary key instead of the partition's index
        (1.8 s instead of 0.1 ms for a first page of 1.1M messages): ``= ANY(ARRAY(…))``
        leaves it only the index led by the partition.
        """
        if self.vendor == "postgresql":
            return f"{column} = ANY(ARRAY({subquery}))"
        return f"{column} = ({subquery})"

    def usable_key(self) -> str:
        """SQL that holds while the API key of the one parameter authenticates."""
        user_field = APIKey._meta.get_field("user")
        user_model = user_field.related_model
        k, u = "k", "u"
        conditions = [f"{self.column(APIKey, 'revoked_at', k)} IS NULL"]
        join = ""
        if any(field.name == "is_active" for field in user_model._meta.concrete_fields):
            join = (f" INNER JOIN {self.table(user_model)} {u} ON "
                    f"{k}.{self.quote(user_field.column)} = "
                    f"{u}.{self.quote(user_field.target_field.column)}")
            conditions.append(self.column(user_model, "is_active", u))
        conditions.append(f"{k}.{self.quote(APIKey._meta.pk.column)} = %s")
        return f"SELECT 1 FROM {self.table(APIKey)} {k}{join} WHERE {' AND '.join(conditions)}"

    def owned_thread(self, alias: str, confirming: bool) -> str:
        """The key of the thread of two parameters, owner and public ID, with a key's if asked."""
        sql = (f"SELECT {self.column(Thread, 'seq', alias)} FROM {self.table(Thread)} {alias} "
               f"WHERE {self.column(Thread, 'owner', alias)} = %s "
               f"AND {self.column(Thread, 'public_id', alias)} = %s")
        return sql + (f" AND EXISTS({self.usable_key()})" if confirming else "")

    def threads_view(self, alias: str | None = None) -> str:
        """The rows a Threads client sees (``IN_THREADS_VIEW``), as migration 0006's index reads."""
        roles = ", ".join(literal(role) for role in THREADS_ROLES)
        return (f"{self.column(Message, 'role', alias)} IN ({roles}) "
                f"AND {self.column(Message, 'type', alias)} = {literal('message')}")


def literal(value: str) -> str:
    """One of our own constants as an SQL string literal."""
    if not value.isidentifier():
        raise ValueError(f"not a constant of ours: {value!r}")
    return f"'{value}'"


def timestamp_seconds(value: Any) -> int | None:
    """A timestamp read by :meth:`Names.seconds`, as whole seconds since the epoch."""
    if value is None or isinstance(value, int):
        return value
    return int(parse_datetime(value).timestamp())  # naive: local time, as Python takes it


# Page reads.

@cache
def message_page_sql(
    alias: str, vendor: str, use_tz: bool, limit: int, scan_ascending: bool,
    bounds: tuple[str, ...], confirming: bool,
) -> str:
    """A page of a thread's messages; ``bounds``: the comparisons ("<", ">") of its cursors.

    Parameters: owner, thread ID[, key]; then for each bound: on PostgreSQL owner and
    thread ID (the partition of the row comparison), and owner, thread ID[, key],
    cursor ID, thread ID, cursor ID (where the cursor's message stands, or stood).
    """
    names = Names(alias)
    table, seq = names.table(Message), names.column(Message, "seq")
    thread = names.column(Message, "thread")
    conditions = [names.threads_view(),
                  names.in_partition(thread, names.owned_thread("V0", confirming))]
    for operator in bounds:
        in_thread = names.in_partition(names.column(Message, "thread", "W0"),
                                       names.owned_thread("V0", confirming))
        position = (
            f"COALESCE((SELECT {names.column(Message, 'seq', 'W0')} FROM {table} W0 "
            f"WHERE {names.threads_view('W0')} AND {in_thread} "
            f"AND {names.column(Message, 'public_id', 'W0')} = %s LIMIT 1), "
            f"(SELECT {names.column(Tombstone, 'seq', 'T0')} FROM {names.table(Tombstone)} T0 "
            f"WHERE {names.column(Tombstone, 'container', 'T0')} = %s "
            f"AND {names.column(Tombstone, 'public_id', 'T0')} = %s LIMIT 1))"
        )
        if vendor == "postgresql":
            # A bound on seq alone let the planner read every thread's rows in between
            # through the primary key, and sort them (35 ms against 0.5 ms).
            conditions.append(f"({thread}, {seq}) {operator} "
                              f"(({names.owned_thread('U0', False)}), {position})")
        else:
            conditions.append(f"{seq} {operator} {position}")
    direction = "ASC" if scan_ascending else "DESC"
    return (f"SELECT {names.select(Message, MESSAGE_COLUMNS)} FROM {table} "
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY {thread} {direction}, {seq} {direction} LIMIT {int(limit) + 1}")


def message_page(
    owner: Any, thread_id: str, key: int | None, limit: int, ascending: bool,
    after: str | None, before: str | None, backwards: bool,
) -> list[tuple]:
    """Up to ``limit + 1`` messages of ``owner``'s thread in the order of the scan.

    ``after`` and ``before`` are message IDs, resolved inside the query to where
    the message stands (or stood, if deleted); a cursor that names nothing, a
    thread that is not the owner's, or a key (``key``: its primary key, to
    confirm) that no longer holds give no rows.
    """
    alias = read_alias()
    follows, precedes = (">", "<") if ascending else ("<", ">")
    bounds = tuple(operator for cursor, operator in ((after, follows), (before, precedes))
                   if cursor is not None)
    confirming = key is not None
    vendor = sql_dialect(alias)
    sql = message_page_sql(alias, vendor, settings.USE_TZ, limit, ascending != backwards,
                           bounds, confirming)
    in_thread = [owner, thread_id, key] if confirming else [owner, thread_id]
    params = list(in_thread)
    for cursor in (after, before):
        if cursor is not None:
            if vendor == "postgresql":
                params += [owner, thread_id]
            params += [*in_thread, cursor, thread_id, cursor]
    return rows_in_seconds(run(alias, sql, params), (1, 4, 5))


def rows_in_seconds(rows: list[tuple], positions: tuple[int, ...]) -> list[tuple]:
    """``rows`` with the timestamps at ``positions`` as seconds (SQLite without USE_TZ)."""
    if not rows or all(isinstance(rows[0][i], int | None) for i in positions):
        return rows
    return [
        tuple(timestamp_seconds(value) if i in positions else value for i, value in enumerate(row))
        for row in rows
    ]


@cache
def message_sql(alias: str, vendor: str, use_tz: bool, confirming: bool) -> str:
    """One message of a thread. Parameters: owner, thread ID[, key], message ID."""
    names = Names(alias)
    in_thread = names.in_partition(names.column(Message, "thread"),
                                   names.owned_thread("V0", confirming))
    # No ORDER BY: the ID is unique in its thread, and PostgreSQL would sort the one row.
    return (f"SELECT {names.select(Message, MESSAGE_COLUMNS)} FROM {names.table(Message)} "
            f"WHERE {names.threads_view()} AND {in_thread} "
            f"AND {names.column(Message, 'public_id')} = %s LIMIT 1")


def message(owner: Any, thread_id: str, message_id: str, key: int | None) -> tuple | None:
    """The row of message ``message_id`` of ``owner``'s thread, while ``key`` holds."""
    alias = read_alias()
    sql = message_sql(alias, sql_dialect(alias), settings.USE_TZ, key is not None)
    in_thread = [owner, thread_id] if key is None else [owner, thread_id, key]
    rows = rows_in_seconds(run(alias, sql, [*in_thread, message_id]), (1, 4, 5))
    return rows[0] if rows else None


@cache
def thread_sql(alias: str, vendor: str, use_tz: bool, confirming: bool) -> str:
    """One thread of an owner. Parameters: owner, thread ID[, key]."""
    names = Names(alias)
    sql = (f"SELECT {names.select(Thread, THREAD_COLUMNS)} FROM {names.table(Thread)} "
           f"WHERE {names.column(Thread, 'owner')} = %s "
           f"AND {names.column(Thread, 'public_id')} = %s")
    if confirming:
        sql += f" AND EXISTS({names.usable_key()})"
    return sql + " LIMIT 1"


def thread(owner: Any, thread_id: str, key: int | None) -> tuple | None:
    """The row of ``owner``'s thread ``thread_id``, while the key ``key`` holds."""
    alias = read_alias()
    sql = thread_sql(alias, sql_dialect(alias), settings.USE_TZ, key is not None)
    params = [owner, thread_id] if key is None else [owner, thread_id, key]
    rows = rows_in_seconds(run(alias, sql, params), (1,))
    return rows[0] if rows else None


# The new message.

@cache
def inserted_fields() -> list:
    """The fields of a new message the insert takes from the instance, in their order."""
    return [field for field in Message._meta.concrete_fields
            if not field.primary_key and field.name != "thread"
            and not getattr(field, "generated", False) and field.name not in STAMPED]


@cache
def insert_message_sql(alias: str, vendor: str, confirming: bool) -> str:
    """A message inserted under its thread, which the statement finds and locks.

    Parameters: owner, thread ID[, key], then the values of :func:`inserted_fields`.
    One round trip, atomic without a transaction of its own; no row if there is
    no such thread. On PostgreSQL the thread's row is locked (FOR UPDATE), so
    writes into a thread commit in the order of their keys; SQLite's writers are
    serialized by its database lock. The time is read once the lock is held (a
    time taken before could be older than that of a row the lock's holder was
    inserting, and the order of the rows would disagree with their times), once
    for both stamped columns: MATERIALIZED keeps either from being inlined.
    """
    names = Names(alias)
    lock = " FOR UPDATE" if vendor == "postgresql" else ""
    clock = "clock_timestamp()" if vendor == "postgresql" else f"{SQLITE_CLOCK}()"
    fields = inserted_fields()
    columns = ", ".join(
        [*(names.quote(field.column) for field in fields),
         *(names.column(Message, name) for name in STAMPED), names.column(Message, "thread")]
    )
    values = ", ".join(["%s"] * len(fields) + ["locked_at"] * len(STAMPED) + ["thread_key"])
    returning = ", ".join(names.column(Message, name) for name in ("seq", "thread", *STAMPED))
    return (f"WITH parent (thread_key) AS MATERIALIZED "
            f"({names.owned_thread('V0', confirming)}{lock}), "
            f"stamped (thread_key, locked_at) AS MATERIALIZED "
            f"(SELECT thread_key, {clock} FROM parent) "
            f"INSERT INTO {names.table(Message)} ({columns}) "
            f"SELECT {values} FROM stamped RETURNING {returning}")


def new_message(values: dict[str, Any]) -> Message:
    """A message for :func:`insert_message`: ``values`` over the fields' defaults.

    Built by ``Model.from_db``, so that once inserted it is in the state of a
    stored row, as the receivers of ``message_created`` expect; it is also the
    cheaper of the two ways to build an instance (keyword arguments are the
    slow path of ``Model.__init__``).
    """
    fields = Message._meta.concrete_fields
    return Message.from_db(
        write_alias(), [field.attname for field in fields],
        [values[field.attname] if field.attname in values else field.get_default()
         for field in fields],
    )


def insert_message(message: Message, owner: Any, thread_id: str, key: int | None) -> bool:
    """Insert ``message`` (of :func:`new_message`) into ``owner``'s thread ``thread_id``.

    Sets its key, its thread's and the times it was stamped with. False if there
    is no such thread, or the key ``key`` (its primary key, to confirm) no longer
    holds. Like ``bulk_create``, it sends no ``pre_save`` or ``post_save``: the
    app's own ``message_created`` is the signal of a new message (signals.py).
    """
    alias = write_alias()
    connection = connections[alias]
    fields = inserted_fields()
    params = [owner, thread_id] if key is None else [owner, thread_id, key]
    params += [field.get_db_prep_save(field.pre_save(message, True), connection)
               for field in fields]
    rows = run(alias, insert_message_sql(alias, sql_dialect(alias), key is not None), params)
    if not rows:
        return False
    message.pk, thread_seq, *times = rows[0]
    setattr(message, Message._meta.get_field("thread").attname, thread_seq)
    for name, moment in zip(STAMPED, times, strict=True):
        setattr(message, name, stored_datetime(moment))
    return True


def stored_datetime(value: datetime | str) -> datetime:
    """A timestamp an INSERT returned, as the ORM would read it."""
    if isinstance(value, datetime):
        return value
    moment = parse_datetime(value)  # SQLite's text
    if settings.USE_TZ and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


# API keys.

@cache
def usable_key_sql(alias: str, vendor: str) -> str:
    return Names(alias).usable_key() + " LIMIT 1"


def key_is_usable(key: int) -> bool:
    """Whether the API key ``key`` still authenticates: not revoked, its user active."""
    alias = router.db_for_read(APIKey)
    return bool(run(alias, usable_key_sql(alias, sql_dialect(alias)), [key]))


def find_key(digest: str) -> APIKey | None:
    """The unrevoked key of ``digest``, with its user (a process's first request with it)."""
    return (APIKey.objects.select_related("user")
            .filter(key_hash=digest, revoked_at__isnull=True).first())

