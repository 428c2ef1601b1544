"""Threads of an owner."""

from functools import cache
from typing import Any

from django.conf import settings

from ..models import Thread
from .database import read_alias, run, sql_dialect
from .sql import Names, rows_in_seconds

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
