"""Where a deleted thread or message stood, so that a cursor naming it keeps its place.

A tombstone keeps a deleted row's ``seq`` under its public ID, in the list the
row was part of (its ``container``): the thread's public ID for a message, and
``Tombstone.owner_container(owner)`` for a thread. It keeps nothing else. A
cursor stands where its row is, else where its tombstone says the row stood.

The deletions of threads.py and messages.py write these, whichever door
(the API, the admin) they come through, under the thread's row lock.
"""

from ..models import Message, Thread, Tombstone
from .database import write_alias
from .sql import Names


def position_sql(names: Names, live: str) -> str:
    """Where a cursor stands: the ``seq`` that ``live`` selects, else its tombstone's.

    Parameters: those of ``live``, then the list's container and the cursor's ID.
    NULL if the cursor names nothing, which makes a bound by it hold for no row.
    """
    return (f"COALESCE(({live} LIMIT 1), "
            f"(SELECT {names.column(Tombstone, 'seq', 'T0')} FROM {names.table(Tombstone)} T0 "
            f"WHERE {names.column(Tombstone, 'container', 'T0')} = %s "
            f"AND {names.column(Tombstone, 'public_id', 'T0')} = %s LIMIT 1))")


def record_deleted_thread(thread: Thread) -> None:
    """Keep ``thread``'s place among its owner's threads; forget its messages' places.

    No cursor can reach the thread's messages once it is gone.
    """
    alias = write_alias()
    Tombstone.objects.using(alias).filter(container=thread.public_id).delete()
    Tombstone.objects.using(alias).create(
        public_id=thread.public_id, container=Tombstone.owner_container(thread.owner_id),
        seq=thread.seq,
    )


def record_deleted_message(thread: Thread, message: Message) -> None:
    """Keep ``message``'s place in ``thread``'s list."""
    Tombstone.objects.using(write_alias()).create(
        public_id=message.public_id, container=thread.public_id, seq=message.seq
    )

