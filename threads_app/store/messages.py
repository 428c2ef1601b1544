"""A thread's messages as the Threads API sees them: pages, one, a new one, a change, a deletion.

What the Conversations API sees of the same rows (every item) is items.py's.
"""

from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connections
from django.utils import timezone

from .. import signals, validation
from ..models import Message, Thread
from .database import (
    CITUS,
    SQLITE_CLOCK,
    atomic,
    read_alias,
    run,
    send_on_commit,
    sql_dialect,
    write_alias,
)
from .sql import (
    Names,
    bound_params,
    rows_in_seconds,
    stored_datetime,
    thread_params,
    thread_value_params,
)
from .tombstones import kept_since_param, place_sql, position_sql, record_deleted_message

if TYPE_CHECKING:
    from ..pagination import PageRequest

# The columns of a message's answer, in the order `message_object_from_row` reads them.
MESSAGE_COLUMNS = ("public_id", "created_at", "status", "incomplete_details", "completed_at",
                   "incomplete_at", "role", "content", "assistant_id", "run_id", "attachments",
                   "metadata")
# A new message's columns the insert fills with the time it took the thread's lock.
STAMPED = ("created_at", "completed_at")


def message_position_live(names: Names, confirming: bool) -> str:
    """The ``seq`` of a message of an owner's thread, in the Threads view.

    Parameters: :func:`thread_params` (owner, thread ID[, key]…), message ID.
    """
    table = names.table(Message)
    in_thread = names.in_thread(names.column(Message, "thread", "W0"), "V0", confirming)
    return (f"SELECT {names.column(Message, 'seq', 'W0')} FROM {table} W0 "
            f"WHERE {names.threads_view('W0')} AND {in_thread} "
            f"AND {names.column(Message, 'public_id', 'W0')} = %s")


@cache
def message_page_sql(
    alias: str, vendor: str, use_tz: bool, limit: int, scan_ascending: bool,
    bounds: tuple[str, ...], confirming: bool, by_run: bool = False,
) -> str:
    """A page of a thread's messages; ``bounds``: the comparisons ("<", ">") of its cursors.

    Parameters: :func:`thread_params` (owner, thread ID[, key]…); the run ID if
    ``by_run``; then for each bound, :func:`bound_params` of :func:`thread_value_params`
    (the partition of the row comparison) and of :func:`thread_params`, cursor ID,
    thread ID, cursor ID, kept since (where the cursor's message stands, or stood:
    :func:`tombstones.position_sql`).
    """
    names = Names(alias)
    table, seq = names.table(Message), names.column(Message, "seq")
    thread = names.column(Message, "thread")
    conditions = [names.threads_view(), names.in_thread(thread, "V0", confirming)]
    if by_run:
        conditions.append(f"{names.column(Message, 'run_id')} = %s")
    position = position_sql(names, message_position_live(names, confirming))
    conditions += [names.beyond(thread, seq, operator, names.thread_value("U0"), position,
                                scan_ascending) for operator in bounds]
    direction = "ASC" if scan_ascending else "DESC"
    return (f"SELECT {names.select(Message, MESSAGE_COLUMNS)} FROM {table} "
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY {thread} {direction}, {seq} {direction} LIMIT {int(limit) + 1}")


def message_page(
    owner: Any, thread_id: str, key: int | None, page: "PageRequest", run_id: str | None = None,
) -> list[tuple]:
    """Up to ``limit + 1`` messages of ``owner``'s thread in the order of the scan.

    The cursors of ``page`` are message IDs, resolved inside the query to where
    the message stands (or stood, if deleted); a cursor that names nothing, a
    thread that is not the owner's, or a key (``key``: its primary key, to
    confirm) that no longer holds give no rows. ``run_id``: only the messages of
    that run.
    """
    alias = read_alias()
    cursors = page.bounds
    confirming = key is not None
    vendor = sql_dialect(alias)
    scan_ascending = page.scan_ascending
    sql = message_page_sql(alias, vendor, settings.USE_TZ, page.limit, scan_ascending,
                           tuple(operator for _, operator in cursors), confirming,
                           run_id is not None)
    in_thread = thread_params(vendor, owner, thread_id, key)
    params = list(in_thread)
    if run_id is not None:
        params.append(run_id)
    for cursor, operator in cursors:
        params += bound_params(vendor, operator, scan_ascending,
                               thread_value_params(vendor, owner, thread_id),
                               [*in_thread, cursor, thread_id, cursor, kept_since_param(alias)])
    return rows_in_seconds(run(alias, sql, params), (1, 4, 5))


@cache
def message_position_sql(alias: str, vendor: str) -> str:
    """Where a message stands or stood, and whether it expired (:func:`place_sql`)."""
    names = Names(alias)
    return place_sql(names, message_position_live(names, False))


def message_position(owner: Any, thread_id: str, message_id: str) -> tuple[int | None, bool]:
    """Where ``message_id`` stands (or stood) in ``owner``'s thread, None if it never did
    (or its place expired), and whether it expired."""
    alias = read_alias()
    vendor = sql_dialect(alias)
    kept = kept_since_param(alias)
    params = [*thread_params(vendor, owner, thread_id, None), message_id, thread_id, message_id,
              kept, thread_id, message_id, kept]
    position, expired = run(alias, message_position_sql(alias, vendor), params)[0]
    return position, bool(expired)


@cache
def message_sql(alias: str, vendor: str, use_tz: bool, confirming: bool) -> str:
    """One message of a thread. Parameters: :func:`thread_params`, message ID."""
    names = Names(alias)
    in_thread = names.in_thread(names.column(Message, "thread"), "V0", confirming)
    # No ORDER BY: the ID is unique in its thread, and PostgreSQL would sort the one row.
    return (f"SELECT {names.select(Message, MESSAGE_COLUMNS)} FROM {names.table(Message)} "
            f"WHERE {names.threads_view()} AND {in_thread} "
            f"AND {names.column(Message, 'public_id')} = %s LIMIT 1")


def message(owner: Any, thread_id: str, message_id: str, key: int | None) -> tuple | None:
    """The row of message ``message_id`` of ``owner``'s thread, while ``key`` holds."""
    alias = read_alias()
    vendor = sql_dialect(alias)
    sql = message_sql(alias, vendor, settings.USE_TZ, key is not None)
    in_thread = thread_params(vendor, owner, thread_id, key)
    rows = rows_in_seconds(run(alias, sql, [*in_thread, message_id]), (1, 4, 5))
    return rows[0] if rows else None

@cache
def inserted_fields() -> list:
    """The fields of a new message the insert takes from the instance, in their order:
    a row's (:func:`row_fields`) but its thread and the times the insert stamps."""
    return [field for field in row_fields()
            if field.name != "thread" and field.name not in STAMPED]


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
    values = ", ".join(["%s"] * len(inserted_fields()) + ["locked_at"] * len(STAMPED)
                       + ["thread_id"])
    return (f"WITH parent (thread_id) AS MATERIALIZED "
            f"({names.owned_thread('V0', confirming)}{lock}), "
            f"stamped (thread_id, locked_at) AS MATERIALIZED "
            f"(SELECT thread_id, {clock} FROM parent) "
            f"INSERT INTO {names.table(Message)} ({inserted_columns(names)}) "
            f"SELECT {values} FROM stamped RETURNING {returned_columns(names)}")


def inserted_columns(names: Names) -> str:
    """The columns an insert fills: :func:`inserted_fields`, ``STAMPED``, the thread."""
    return ", ".join(
        [*(names.quote(field.column) for field in inserted_fields()),
         *(names.column(Message, name) for name in STAMPED), names.column(Message, "thread")]
    )


def returned_columns(names: Names) -> str:
    """What an insert returns: the new key, the thread, the stamped times."""
    return ", ".join(names.column(Message, name) for name in ("seq", "thread", *STAMPED))


@cache
def lock_thread_sql(alias: str, vendor: str, confirming: bool) -> str:
    """Citus: an owner's thread, its row locked, and the time read once the lock is held.

    Parameters: owner, thread ID[, key]. The first of a create's two statements on
    Citus (:func:`insert_message`); MATERIALIZED, as in :func:`insert_message_sql`,
    keeps the clock from being read before the lock is taken.
    """
    names = Names(alias)
    return (f"WITH parent (thread_id) AS MATERIALIZED "
            f"({names.owned_thread('V0', confirming)} FOR UPDATE) "
            f"SELECT thread_id, clock_timestamp() FROM parent")


@cache
def insert_values_sql(alias: str, vendor: str) -> str:
    """Citus: a message's row, given in full. Parameters: the values of
    :func:`inserted_fields`, the time for each of ``STAMPED``, the thread ID."""
    names = Names(alias)
    values = ", ".join(["%s"] * (len(inserted_fields()) + len(STAMPED) + 1))
    return (f"INSERT INTO {names.table(Message)} ({inserted_columns(names)}) "
            f"VALUES ({values}) RETURNING {returned_columns(names)}")


def insert_under_lock(
    alias: str, vendor: str, in_thread: list[Any], values: list[Any], confirming: bool,
) -> list[tuple]:
    """Citus's form of :func:`insert_message_sql`: the thread locked and the time read, then
    the row inserted with both as values, in one transaction; no row if there is no such
    thread (or the key no longer holds).

    Two statements, each routed to the thread's shard. The one statement of PostgreSQL is
    refused with bound parameters ("could not create distributed plan"), and with literal
    values is planned as an INSERT … SELECT pulled to the coordinator: the lock a subplan
    of its own, its row carried back through the coordinator, then copied into the shard
    (docs/scaling.md).
    """
    with atomic(savepoint=False):
        locked = run(alias, lock_thread_sql(alias, vendor, confirming), in_thread)
        if not locked:
            return []
        thread_id, locked_at = locked[0]
        params = [*values, *[locked_at] * len(STAMPED), thread_id]
        return run(alias, insert_values_sql(alias, vendor), params)


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


def insert_message(
    message: Message, owner: Any, thread_id: str, key: int | None, request: Any = None,
) -> bool:
    """Insert ``message`` (of :func:`new_message`) into ``owner``'s thread ``thread_id``.

    Sets its key, its thread's and the times it was stamped with. False if there
    is no such thread, or the key ``key`` (its primary key, to confirm) no longer
    holds. Like ``bulk_create``, it sends no ``pre_save`` or ``post_save``: the
    app's own ``message_created`` is the signal of a new message (signals.py),
    sent once the insert commits.
    """
    alias = write_alias()
    connection = connections[alias]
    vendor = sql_dialect(alias)
    in_thread = [owner, thread_id] if key is None else [owner, thread_id, key]
    values = [field.get_db_prep_save(field.pre_save(message, True), connection)
              for field in inserted_fields()]
    if vendor == CITUS:
        rows = insert_under_lock(alias, vendor, in_thread, values, key is not None)
    else:
        rows = run(alias, insert_message_sql(alias, vendor, key is not None),
                   in_thread + values)
    if not rows:
        return False
    message.pk, thread_id, *times = rows[0]
    setattr(message, Message._meta.get_field("thread").attname, thread_id)
    for name, moment in zip(STAMPED, times, strict=True):
        setattr(message, name, stored_datetime(moment))
    send_on_commit(signals.message_created, message, request)
    return True


@cache
def row_fields() -> list:
    """The fields a new row of :func:`add_rows` is inserted with, in their order."""
    return [field for field in Message._meta.concrete_fields
            if not field.primary_key and not getattr(field, "generated", False)]


@cache
def insert_rows_sql(alias: str, vendor: str, count: int) -> str:
    """Citus: ``count`` new rows in one INSERT … VALUES. Parameters: the values of
    :func:`row_fields` of each row in turn."""
    names = Names(alias)
    row = "(" + ", ".join(["%s"] * len(row_fields())) + ")"
    columns = ", ".join(names.quote(field.column) for field in row_fields())
    return (f"INSERT INTO {names.table(Message)} ({columns}) VALUES {', '.join([row] * count)} "
            f"RETURNING {names.column(Message, 'public_id')}, {names.column(Message, 'seq')}")


def add_rows(rows: list[Message]) -> list[Message]:
    """Insert new rows of one thread (a conversation's items, a new thread's messages), in
    order, as ``bulk_create`` does (no model signals).

    On Citus, several rows are one INSERT … VALUES, routed to the thread's shard:
    ``bulk_create`` sends them as arrays (INSERT … SELECT … FROM UNNEST(…)), which the
    coordinator plans as an INSERT … SELECT of its own, unpacking the rows itself and
    copying them into the shard.
    """
    alias = write_alias()
    vendor = sql_dialect(alias)
    if vendor != CITUS or len(rows) < 2:  # one row is an INSERT … VALUES already
        return Message.objects.using(alias).bulk_create(rows)
    connection = connections[alias]
    params = [field.get_db_prep_save(field.pre_save(row, True), connection)
              for row in rows for field in row_fields()]
    keys = dict(run(alias, insert_rows_sql(alias, vendor, len(rows)), params))
    # Stored rows, as ``Model.from_db`` builds them (their key from the insert: an ID is
    # unique within its thread), with the thread their receivers read, as given.
    names = [field.attname for field in Message._meta.concrete_fields]
    stored = []
    for row in rows:
        values = {name: getattr(row, name) for name in names}
        values[Message._meta.pk.attname] = keys[row.public_id]
        message = Message.from_db(alias, names, list(values.values()))
        message.thread = row.thread
        stored.append(message)
    return stored


def find_message(thread: Thread, message_id: str, writing: bool = False) -> Message | None:
    """The message ``message_id`` of ``thread`` in the Threads view.

    ``writing``: read where the writes go, as a change under the thread's lock must.
    """
    alias = write_alias() if writing else read_alias()
    messages = Message.objects.using(alias).in_threads_view()
    return messages.filter(thread=thread, public_id=message_id).first()


def create_message(thread: Thread, fields: dict[str, Any], request: Any = None) -> Message:
    """A new message in ``thread``, locked (``threads.lock_thread``): what
    :func:`insert_message` does in one statement, as the ORM does it."""
    with atomic(savepoint=False):
        now = timezone.now()  # under the thread's lock, as the insert takes it
        message = Message.objects.db_manager(write_alias()).create(
            thread=thread, created_at=now, completed_at=now, **fields
        )
        send_on_commit(signals.message_created, message, request)
    return message


def update_message(message: Message, changes: dict[str, Any], request: Any = None) -> None:
    """Write ``changes`` into ``message``, its thread locked; as ``threads.update_thread``."""
    if not changes:
        return
    values = validation.apply_patches(changes, message)
    for name, value in values.items():
        setattr(message, name, value)
    with atomic(savepoint=False):
        # Led by its thread, as every query of a message is (``Model.save()`` would
        # find the row by its key alone); like the insert, it sends no ``post_save``.
        row = Message.objects.using(write_alias()).filter(
            thread=message.thread_id, seq=message.seq
        )
        row.update(**values)
        send_on_commit(signals.message_updated, message, request)


def delete_message(thread: Thread, message: Message, request: Any = None) -> None:
    """Delete ``message`` (any item) of ``thread``, locked; keep its place in the list.

    The one way to delete a message or an item, the admin's included: its
    tombstone keeps a cursor that names it working. ``message_deleted`` is sent
    once it commits, with the message as ``Model.delete()`` leaves it.
    """
    with atomic(savepoint=False):
        record_deleted_message(thread, message)
        # Led by its thread, as every query of a message is.
        Message.objects.using(write_alias()).filter(thread=thread, seq=message.seq).delete()
        message.pk = None
        send_on_commit(signals.message_deleted, message, request)
