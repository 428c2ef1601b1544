"""The store: every read and write of threads, messages, items, tombstones and keys.

The Threads and Conversations viewsets, the admin, the commands and the
importer call these functions; none of them builds a query of its own.

    database.py  which database (the host's routers), transactions, running SQL
    sql.py       quoted names and predicates every statement shares
    threads.py   an owner's threads
    messages.py  a thread's messages and items: pages, one, a new one
    keys.py      an API key of a digest, and whether one still holds
    tombstones.py  how long a deleted object's place is kept, and the purge

The paths every client hits on every turn (a page of messages, a message, a
thread, a new message, an API key's lookup and the confirmation of a
remembered one) are SQL of our own, one text per shape
(:func:`functools.cache`), for SQLite and PostgreSQL, the two databases the
app runs on (a system check refuses others): building a query with the ORM
cost more than SQLite takes to run it (0.5 ms against 0.05 ms for a page of
20; bench/). Each runs in ``with connections[alias].cursor()`` on the
database the routers choose, so ``connection.execute_wrapper``,
``connection.queries``, the debug toolbar and Django's error translation all
see it.

Tables and columns are the models' (``_meta.db_table``, ``field.column``). A
message is led by its thread in every query, and the Threads view repeats the
predicate of its partial index (migration 0006) in full, as literals: a bound
parameter would not let SQLite, nor a generic plan of PostgreSQL, prove that
the index covers the query. Rows come back as tuples: timestamps as epoch
seconds computed by the database, JSON as the text it was stored as.
"""

from .database import atomic, on_commit, read_alias, register_sqlite_clock, write_alias
from .keys import find_key, key_is_usable
from .messages import insert_message, message, message_page, new_message
from .threads import thread

__all__ = [
    "atomic", "find_key", "insert_message", "key_is_usable", "message", "message_page",
    "new_message", "on_commit", "read_alias", "register_sqlite_clock", "thread", "write_alias",
]
