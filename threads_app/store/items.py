"""A conversation's items (every row of its thread): pages by bytes, one, new ones.

An item is deleted as a message is (``messages.delete_message``).
"""

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError
from django.utils import timezone

from .. import signals, validation
from ..items import MESSAGE, MessageStatus, new_item_id, threads_content
from ..models import Message, Thread, Tombstone
from .database import atomic, read_alias, run, send_on_commit, sql_dialect, write_alias
from .messages import add_rows
from .sql import Names, bound_params
from .tombstones import kept_since_param, place_sql, position_sql

if TYPE_CHECKING:
    from ..pagination import PageRequest


def octets(names: Names, name: str) -> str:
    """The length in bytes of a text column of a message, without reading its value."""
    column = names.column(Message, name)
    if names.vendor == "postgresql":
        return f"OCTET_LENGTH({column})"
    return f"LENGTH(CAST({column} AS BLOB))"  # SQLite's LENGTH counts a text's characters


def item_position_live(names: Names) -> str:
    """The ``seq`` of an item of a thread. Parameters: thread ID, item ID."""
    return (f"SELECT {names.column(Message, 'seq', 'W0')} FROM {names.table(Message)} W0 "
            f"WHERE {names.column(Message, 'thread', 'W0')} = %s "
            f"AND {names.column(Message, 'public_id', 'W0')} = %s")


@cache
def item_sizes_sql(
    alias: str, vendor: str, limit: int, scan_ascending: bool, bounds: tuple[str, ...],
) -> str:
    """The keys and stored sizes of a page of a thread's items, in the order of the scan.

    The size is that of the item's stored JSON, or of the Threads parts a message
    is kept as. Parameters: thread ID; then for each bound, :func:`bound_params` of the
    thread ID and of thread ID, cursor ID, thread ID, cursor ID, kept since.
    """
    names = Names(alias)
    seq, thread = names.column(Message, "seq"), names.column(Message, "thread")
    size = f"COALESCE({octets(names, 'item')}, {octets(names, 'content')}, 0)"
    position = position_sql(names, item_position_live(names))
    conditions = [f"{thread} = %s"]
    conditions += [names.beyond(thread, seq, operator, "%s", position, scan_ascending)
                   for operator in bounds]
    direction = "ASC" if scan_ascending else "DESC"
    return (f"SELECT {seq}, {size} FROM {names.table(Message)} "
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY {thread} {direction}, {seq} {direction} LIMIT {int(limit) + 1}")


def item_page(thread: Thread, page: "PageRequest", max_bytes: int) -> tuple[list[Message], bool]:
    """A page of ``thread``'s items of at most ``max_bytes`` of stored JSON, and whether
    more lie beyond it.

    The page ends before the item that would take it past ``max_bytes`` (never
    before its first). The sizes first, then only the rows that fit: a worker never
    holds more of a page than it answers. The cursors are item IDs, resolved inside
    the query; one that names nothing gives an empty page.
    """
    alias = read_alias()
    vendor = sql_dialect(alias)
    cursors = page.bounds
    scan_ascending = page.scan_ascending
    sql = item_sizes_sql(alias, vendor, page.limit, scan_ascending,
                         tuple(operator for _, operator in cursors))
    params: list[Any] = [thread.public_id]
    for cursor, operator in cursors:
        params += bound_params(vendor, operator, scan_ascending, [thread.public_id],
                               [thread.public_id, cursor, thread.public_id, cursor,
                                kept_since_param(alias)])
    sizes = run(alias, sql, params)
    chosen: list[int] = []
    total = 0
    for seq, size in sizes:
        if len(chosen) == page.limit or (chosen and total + size > max_bytes):
            break
        chosen.append(seq)
        total += size
    rows = {row.seq: row for row in
            Message.objects.using(alias).filter(thread=thread, seq__in=chosen)}
    items = [rows[seq] for seq in chosen if seq in rows]  # one may be gone since
    if page.backwards:
        items.reverse()
    return items, len(sizes) > len(chosen)


@cache
def item_position_sql(alias: str, vendor: str) -> str:
    """Where an item stands or stood, and whether it expired (:func:`place_sql`)."""
    names = Names(alias)
    return place_sql(names, item_position_live(names))


def item_position(thread: Thread, item_id: str) -> tuple[int | None, bool]:
    """Where ``item_id`` stands (or stood) in ``thread``, None if it never did (or its
    place expired), and whether it expired."""
    alias = read_alias()
    kept = kept_since_param(alias)
    params = [thread.public_id, item_id, thread.public_id, item_id, kept,
              thread.public_id, item_id, kept]
    position, expired = run(alias, item_position_sql(alias, sql_dialect(alias)), params)[0]
    return position, bool(expired)


def find_item(thread: Thread, item_id: str, writing: bool = False) -> Message | None:
    """The item ``item_id`` of ``thread``; ``writing``: as ``messages.find_message``."""
    alias = write_alias() if writing else read_alias()
    return Message.objects.using(alias).filter(thread=thread, public_id=item_id).first()


def taken_ids(thread: Thread, ids: list[str]) -> set[str]:
    """Those of ``ids`` that name an item of ``thread`` now or named one before.

    IDs are unique within a conversation, and never reused there. Whatever
    other conversations hold (another owner's above all) is not looked at, so
    the answer to a given ID tells nothing about them. Read where the writes
    go, under the thread's lock.
    """
    alias = write_alias()
    live = Message.objects.using(alias).filter(thread=thread, public_id__in=ids)
    dead = Tombstone.objects.using(alias).filter(container=thread.public_id, public_id__in=ids)
    return set(live.values_list("public_id", flat=True)) | set(
        dead.values_list("public_id", flat=True)
    )


def item_rows(thread: Thread, items: list[dict[str, Any]], param: str = "items") -> list[Message]:
    """Model rows for cleaned items, in order; a given ID must be new to the conversation."""
    given = [item["public_id"] for item in items if item["public_id"]]
    taken = taken_ids(thread, given) if given else set()
    now = timezone.now()
    rows = []
    for index, item in enumerate(items):
        public_id = item["public_id"] or new_item_id(item["type"])
        if public_id in taken:
            raise validation.ValidationError(
                f"Invalid '{param}[{index}].id': '{public_id}' is already in use.",
                f"{param}[{index}].id",
                "id_in_use",
            )
        rows.append(item_row(thread, item, public_id, now))
    return rows


def item_row(thread: Thread, item: dict[str, Any], public_id: str, created_at: datetime) -> Message:
    """The model row of one cleaned item (the import builds its rows here too)."""
    row = Message(thread=thread, public_id=public_id, created_at=created_at, type=item["type"])
    row.item = {**item["item"], "id": public_id}
    if item["type"] == MESSAGE:
        row.role, row.status, row.completed_at = item["role"], item["status"], created_at
        row.content = threads_content(item["content"])
    else:
        # The column takes a message's statuses; a type may have others, or none.
        row.status = row.item.get("status") or MessageStatus.COMPLETED
    return row


def create_items(
    thread: Thread, items: list[dict[str, Any]], request: Any = None,
) -> list[Message]:
    """Store cleaned ``items`` in ``thread``, locked; all of them or none.

    400 (``id_in_use``) for a given ID the conversation holds or held;
    ``message_created`` is sent for each once they commit.
    """
    rows = item_rows(thread, items)
    try:
        with atomic():
            rows = add_rows(rows)
    except IntegrityError:
        # A concurrent request took one of the given IDs first.
        raise validation.ValidationError(
            "An item ID given is already in use.", "items", "id_in_use"
        ) from None
    for row in rows:
        send_on_commit(signals.message_created, row, request)
    return rows
