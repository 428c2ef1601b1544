"""An owner's threads: a page of them, one, a locked one, a new one, a change, a deletion."""

from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models.signals import post_delete, pre_delete
from django.utils import timezone

from .. import signals, validation
from ..models import Message, Thread, Tombstone
from .database import atomic, read_alias, run, send_on_commit, sql_dialect, write_alias
from .messages import add_rows
from .sql import Names, bound_params, rows_in_seconds
from .tombstones import kept_since_param, place_sql, position_sql, record_deleted_thread

if TYPE_CHECKING:
    from ..pagination import PageRequest

# The columns of a thread's answer, in the order `thread_object_from_row` reads them.
THREAD_COLUMNS = ("public_id", "created_at", "tool_resources", "metadata")


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


def thread_position_live(names: Names) -> str:
    """The ``seq`` of an owner's thread. Parameters: owner, thread ID."""
    return (f"SELECT {names.column(Thread, 'seq', 'W0')} FROM {names.table(Thread)} W0 "
            f"WHERE {names.column(Thread, 'owner', 'W0')} = %s "
            f"AND {names.column(Thread, 'public_id', 'W0')} = %s")


@cache
def thread_page_sql(
    alias: str, vendor: str, use_tz: bool, limit: int, scan_ascending: bool,
    bounds: tuple[str, ...],
) -> str:
    """A page of an owner's threads; ``bounds``: the comparisons ("<", ">") of its cursors.

    Parameters: owner; then for each bound, :func:`bound_params` of the owner (the
    partition of the row comparison) and of owner, cursor ID, the owner's container, cursor ID,
    kept since (where the cursor's thread stands, or stood).
    """
    names = Names(alias)
    owner, seq = names.column(Thread, "owner"), names.column(Thread, "seq")
    conditions = [names.in_partition(owner, names.owner("U0"))]
    position = position_sql(names, thread_position_live(names))
    # No seek: with the bound on seq alone as well, a table never analyzed was read by a
    # bitmap scan and sorted (test_queries); an owner's threads are few beside a thread's
    # messages.
    conditions += [names.beyond(owner, seq, operator, "%s", position, scan_ascending, seek=False)
                   for operator in bounds]
    direction = "ASC" if scan_ascending else "DESC"
    return (f"SELECT {names.select(Thread, THREAD_COLUMNS)} FROM {names.table(Thread)} "
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY {owner} {direction}, {seq} {direction} LIMIT {int(limit) + 1}")


def thread_page(owner: Any, page: "PageRequest") -> list[tuple]:
    """Up to ``limit + 1`` rows of ``owner``'s threads in the order of the scan.

    The cursors are thread IDs, resolved inside the query to where the thread
    stands (or stood, if deleted); one that names nothing gives no rows.
    """
    alias = read_alias()
    cursors = page.bounds
    vendor = sql_dialect(alias)
    scan_ascending = page.scan_ascending
    sql = thread_page_sql(alias, vendor, settings.USE_TZ, page.limit, scan_ascending,
                          tuple(operator for _, operator in cursors))
    container = Tombstone.owner_container(owner)
    params = [owner]
    for cursor, operator in cursors:
        params += bound_params(vendor, operator, scan_ascending, [owner],
                               [owner, cursor, container, cursor, kept_since_param(alias)],
                               seek=False)
    return rows_in_seconds(run(alias, sql, params), (1,))


@cache
def thread_position_sql(alias: str, vendor: str) -> str:
    """Where a thread of an owner stands or stood, and whether it expired (:func:`place_sql`)."""
    names = Names(alias)
    return place_sql(names, thread_position_live(names))


def thread_position(owner: Any, thread_id: str) -> tuple[int | None, bool]:
    """Where ``thread_id`` stands (or stood) among ``owner``'s threads, None if it never did
    (or its place expired), and whether it expired."""
    alias = read_alias()
    container, kept = Tombstone.owner_container(owner), kept_since_param(alias)
    params = [owner, thread_id, container, thread_id, kept, container, thread_id, kept]
    position, expired = run(alias, thread_position_sql(alias, sql_dialect(alias)), params)[0]
    return position, bool(expired)


def find_thread(owner: Any, thread_id: str) -> Thread | None:
    """``owner``'s thread ``thread_id`` (``owner``: the owner or its key)."""
    return Thread.objects.using(read_alias()).filter(owner=owner, public_id=thread_id).first()


def lock_thread(owner: Any, thread_id: str) -> Thread | None:
    """``owner``'s thread ``thread_id``, its row locked until the transaction ends.

    Every write into a thread takes this lock first (in :func:`atomic`), on
    PostgreSQL a row lock (SELECT … FOR UPDATE), so that writes into one thread
    are serialized and commit in the order of their keys; SQLite's writers are
    serialized by its database lock.
    """
    threads = Thread.objects.using(write_alias()).select_for_update()
    return threads.filter(owner=owner, public_id=thread_id).first()


def create_thread(
    owner: Any, metadata: dict[str, Any], tool_resources: dict[str, Any],
    messages: Iterable[dict[str, Any]] = (), request: Any = None,
) -> Thread:
    """A new thread of ``owner`` (a user), with ``messages`` (their fields) in it.

    Under the database's lock where it has one (SQLite's, taken at BEGIN), so that
    threads listed in order of creation have their times in that order too.
    ``thread_created``, then each ``message_created``, is sent once it commits.
    """
    alias = write_alias()
    with atomic(savepoint=False):
        now = timezone.now()
        thread = Thread.objects.db_manager(alias).create(
            owner=owner, created_at=now, metadata=metadata, tool_resources=tool_resources,
        )
        created = add_rows([
            Message(thread=thread, created_at=now, completed_at=now, **fields)
            for fields in messages
        ])
        send_on_commit(signals.thread_created, thread, request)
        for message in created:
            send_on_commit(signals.message_created, message, request)
    return thread


def update_thread(thread: Thread, changes: dict[str, Any], request: Any = None) -> None:
    """Write ``changes`` (of ``validation.clean_*_update``) into ``thread``, locked.

    Patches of ``metadata`` merge into the map as it stands under the lock, so that
    concurrent modifies keep each other's keys. No changes, no write and no signal;
    else ``thread_updated`` once it commits.
    """
    if not changes:
        return
    for name, value in validation.apply_patches(changes, thread).items():
        setattr(thread, name, value)
    with atomic(savepoint=False):
        # By its ID as well as its key: on Citus the ID finds the thread's shard, where
        # ``Model.save()`` would ask every shard. Like a message's, it sends no ``post_save``.
        Thread.objects.using(write_alias()).filter(
            pk=thread.pk, public_id=thread.public_id
        ).update(**{name: getattr(thread, name) for name in changes})
        send_on_commit(signals.thread_updated, thread, request)


def delete_thread(thread: Thread, request: Any = None) -> None:
    """Delete ``thread`` (locked: :func:`lock_thread`) and its messages; keep its place.

    The one way to delete a thread, the admin's included: its tombstone keeps a
    cursor that names it working. ``thread_deleted`` is sent once it commits.
    """
    alias = write_alias()
    with atomic(savepoint=False):
        record_deleted_thread(thread)
        if thread_deleted_alone():
            # Led by the thread, as every query of its rows is: its messages (with no
            # relations of their own, one DELETE … WHERE thread_id = …), then its row by
            # ID as well as key. ``Model.delete()`` finds the row by its key alone, which
            # on Citus asks every shard.
            Message.objects.using(alias).filter(thread=thread).delete()
            run(alias, delete_thread_sql(alias), [thread.pk, thread.public_id])
            thread.pk = None
        else:
            thread.delete(using=alias)
        send_on_commit(signals.thread_deleted, thread, request)


def thread_deleted_alone() -> bool:
    """Whether a thread's row can go by a DELETE of its own: no model but the app's
    messages refers to threads (a host's may), and no receiver of Django's delete signals
    waits for them; else ``Model.delete()`` collects what goes with it."""
    related = [rel for rel in Thread._meta.related_objects if rel.related_model is not Message]
    listening = pre_delete.has_listeners(Thread) or post_delete.has_listeners(Thread)
    return not related and not listening


@cache
def delete_thread_sql(alias: str) -> str:
    """Delete a thread's row (returning its key, as ``run`` reads rows). Parameters: its
    key, its ID."""
    names = Names(alias)
    seq = names.column(Thread, "seq")
    return (f"DELETE FROM {names.table(Thread)} WHERE {seq} = %s "
            f"AND {names.column(Thread, 'public_id')} = %s RETURNING {seq}")
