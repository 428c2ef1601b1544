"""The store: every read and write of threads, messages, items, tombstones and keys.

The Threads and Conversations viewsets, the admin, the commands and the
importer call these functions; none of them builds a query of its own.

    database.py     which database (the host's routers), transactions, signals on commit
    sql.py          quoted names and predicates every statement shares
    threads.py      an owner's threads: a page, one, one locked, a new one (with its
                    first messages), a change, a deletion
    messages.py     a thread's messages in the Threads view: a page (by run too), one,
                    a new one, a change, a deletion (of any item)
    items.py        a conversation's items: a page bounded in bytes, one, new ones
    tombstones.py   where a deleted thread or message stood, for cursors; how long
                    that is kept (TOMBSTONE_RETENTION), and the purge
    keys.py         whether an API key still holds; what staff do with keys
    idempotency.py  a key's claim and the answer kept for it
    search.py       which threads and messages a term typed in the admin finds
    staff.py        the admin's lists, a thread's transcript, the admin's saves
    transfer.py     what the exporter reads and the importer writes
    citus.py        where each table goes on a Citus cluster (distribute_threads_app)

A page's cursors are IDs, resolved inside the page's own query to where the
row stands, else where its tombstone says it stood; ``*_position`` answers the
same for one cursor, for a caller that must tell an empty page from a cursor
that names nothing. Writes into a thread take its row lock first
(:func:`lock_thread`, inside :func:`atomic`) and arrange the app's signals
(signals.py) to be sent once they commit, with the request that made them, or
None.

The paths every client hits on every turn (a page of messages, a message, a
thread, a new message, an API key's lookup and the confirmation of a
remembered one) are SQL of our own, one text per shape
(:func:`functools.cache`), for SQLite and PostgreSQL, the two databases the
app runs on (a system check refuses others): building a query with the ORM
cost more than SQLite takes to run it (0.5 ms against 0.05 ms for a page of
20; bench/). So are the pages of threads and of items, which share their
cursors' SQL. Each runs in ``with connections[alias].cursor()`` on the
database the routers choose, so ``connection.execute_wrapper``,
``connection.queries``, the debug toolbar and Django's error translation all
see it. Cooler paths (locks, changes, deletions, new threads and items) use
the ORM, on the same databases. On a Citus coordinator (PostgreSQL with the
extension: :func:`~.database.sql_dialect`), the statements of a thread's
messages name the thread by a value of its own, which routes each to the
thread's shard (docs/scaling.md).

Tables and columns are the models' (``_meta.db_table``, ``field.column``). A
message is led by its thread in every query, and the Threads view repeats the
predicate of its partial index (migration 0006) in full, as literals: a bound
parameter would not let SQLite, nor a generic plan of PostgreSQL, prove that
the index covers the query. Rows come back as tuples: timestamps as epoch
seconds computed by the database, JSON as the text it was stored as.
"""

from . import citus, idempotency, keys, search, staff, tombstones, transfer
from .database import (
    atomic,
    on_commit,
    read_alias,
    register_sqlite_clock,
    send_on_commit,
    write_alias,
)
from .items import create_items, find_item, item_page, item_position, item_row
from .keys import find_key, key_is_usable
from .messages import (
    create_message,
    delete_message,
    find_message,
    insert_message,
    message,
    message_page,
    message_position,
    new_message,
    update_message,
)
from .threads import (
    create_thread,
    delete_thread,
    find_thread,
    lock_thread,
    thread,
    thread_page,
    thread_position,
    update_thread,
)

__all__ = [
    "atomic", "citus", "create_items", "create_message", "create_thread", "delete_message",
    "delete_thread", "find_item", "find_key", "find_message", "find_thread", "idempotency",
    "insert_message", "item_page", "item_position", "item_row", "key_is_usable", "keys",
    "lock_thread", "message", "message_page", "message_position", "new_message",
    "on_commit", "read_alias", "register_sqlite_clock", "search", "send_on_commit", "staff",
    "thread", "thread_page", "thread_position", "tombstones", "transfer", "update_message",
    "update_thread", "write_alias",
]
