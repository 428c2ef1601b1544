"""The quoted names, predicates and conversions every statement of the store shares."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import DateTimeField, Field, Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..items import MESSAGE, THREADS_ROLES
from ..models import APIKey, Message, Thread
from .database import CITUS, sql_dialect

TIMESTAMPS = frozenset({"created_at", "completed_at", "incomplete_at"})


class Names:
    """The quoted names of the tables and columns of one database's SQL."""

    def __init__(self, alias: str) -> None:
        self.quote = connections[alias].ops.quote_name
        self.dialect = sql_dialect(alias)
        self.vendor = connections[alias].vendor  # "postgresql" on Citus too
        self.citus = self.dialect == CITUS

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

    def beyond(
        self, partition: str, seq: str, operator: str, value: str, position: str,
        scan_ascending: bool, seek: bool = True,
    ) -> str:
        """A page's bound at a cursor: ``seq`` past ``position`` (``operator``: "<" or ">").

        ``value`` is the partition every row of the page has. On PostgreSQL the bound
        reads ``(partition, seq) > (value, position)``, which only the index led by the
        partition serves: a bound on seq alone let the planner read every partition's
        rows in between through the primary key, and sort them (35 ms against 0.5 ms).
        The row bound alone does not tell the index where to start within the
        partition, though: the scan began at the partition's end and filtered its way
        to the cursor (2.4 ms warm, 32 ms cold for a cursor 100,000 messages deep). So
        the bound the scan starts from also bounds ``seq`` alone, and the scan starts at
        the cursor (``seek``). Parameters: :func:`bound_params`, with the same ``seek``.
        """
        if self.vendor != "postgresql":
            return f"{seq} {operator} {position}"
        bound = f"({partition}, {seq}) {operator} (({value}), {position})"
        if seek and starts_scan(operator, scan_ascending):
            bound += f" AND {seq} {operator} {position}"
        return bound

    def in_thread(self, column: str, alias: str, confirming: bool) -> str:
        """``column`` naming the thread of the parameters owner, thread ID[, key], if it is
        that owner's (and the key holds, if asked). Parameters: :func:`thread_params`.

        On Citus the thread ID comes once more, as a value of its own: the coordinator
        routes a statement to one shard only when its distribution column is compared
        with a value it holds (a subquery's is known to the workers alone, and asks every
        shard), and the ownership becomes an EXISTS beside it.
        """
        owned = self.owned_thread(alias, confirming)
        if self.citus:
            return f"EXISTS({owned}) AND {column} = %s"
        return self.in_partition(column, owned)

    def thread_value(self, alias: str) -> str:
        """The thread of an owner as the partition of a bound's row comparison
        (:meth:`beyond`): the owner's thread's ID, or on Citus, the ID given.
        Parameters: :func:`thread_value_params`."""
        return "%s" if self.citus else self.owned_thread(alias, False)

    def owner(self, alias: str) -> str:
        """The key of the owner of the one parameter, read from the users' table.

        A subquery, as a thread is for its messages, so that :meth:`in_partition`
        can hide the value from PostgreSQL's planner.
        """
        field = Thread._meta.get_field("owner")
        column = f"{alias}.{self.quote(field.target_field.column)}"
        return (f"SELECT {column} FROM {self.table(field.related_model)} {alias} "
                f"WHERE {column} = %s")

    def usable_key(self) -> str:
        """SQL that holds while the API key of the one parameter authenticates."""
        user_model = APIKey._meta.get_field("user").related_model
        k, u = "k", "u"
        conditions = [f"{self.column(APIKey, 'revoked_at', k)} IS NULL"]
        join = ""
        if any(field.name == "is_active" for field in user_model._meta.concrete_fields):
            join = " " + self.key_user_join(k, u)
            conditions.append(self.column(user_model, "is_active", u))
        conditions.append(f"{k}.{self.quote(APIKey._meta.pk.column)} = %s")
        return f"SELECT 1 FROM {self.table(APIKey)} {k}{join} WHERE {' AND '.join(conditions)}"

    def key_user_join(self, key: str, user: str) -> str:
        """``INNER JOIN`` of the user (as ``user``) to the API keys' table (as ``key``)."""
        user_field = APIKey._meta.get_field("user")
        return (f"INNER JOIN {self.table(user_field.related_model)} {user} ON "
                f"{key}.{self.quote(user_field.column)} = "
                f"{user}.{self.quote(user_field.target_field.column)}")

    def owned_thread(self, alias: str, confirming: bool) -> str:
        """The thread of two parameters, owner and public ID, if it is theirs (and the key holds,
        if asked): its public ID, which its messages name it by."""
        public_id = self.column(Thread, "public_id", alias)
        sql = (f"SELECT {public_id} FROM {self.table(Thread)} {alias} "
               f"WHERE {self.column(Thread, 'owner', alias)} = %s "
               f"AND {public_id} = %s")
        return sql + (f" AND EXISTS({self.usable_key()})" if confirming else "")

    def threads_view(self, alias: str | None = None) -> str:
        """The rows a Threads client sees (``IN_THREADS_VIEW``), as migration 0006's index reads."""
        roles = ", ".join(literal(role) for role in THREADS_ROLES)
        return (f"{self.column(Message, 'role', alias)} IN ({roles}) "
                f"AND {self.column(Message, 'type', alias)} = {literal(MESSAGE)}")


def thread_params(dialect: str, owner: Any, thread_id: str, key: int | None) -> list[Any]:
    """The parameters of :meth:`Names.in_thread`: owner, thread ID[, key][, thread ID]."""
    params = [owner, thread_id] if key is None else [owner, thread_id, key]
    return [*params, thread_id] if dialect == CITUS else params


def thread_value_params(dialect: str, owner: Any, thread_id: str) -> list[Any]:
    """The parameters of :meth:`Names.thread_value`."""
    return [thread_id] if dialect == CITUS else [owner, thread_id]


def starts_scan(operator: str, scan_ascending: bool) -> bool:
    """Whether a bound by ``operator`` is the one a scan in that direction starts from."""
    return operator == (">" if scan_ascending else "<")


def bound_params(
    vendor: str, operator: str, scan_ascending: bool, value: Sequence[Any],
    position: Sequence[Any], seek: bool = True,
) -> list[Any]:
    """The parameters of a :meth:`Names.beyond` bound: ``value``'s and ``position``'s.

    ``vendor``: :func:`~.database.sql_dialect`'s answer."""
    if vendor == "sqlite":
        return list(position)
    again = position if seek and starts_scan(operator, scan_ascending) else ()
    return [*value, *position, *again]


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


def rows_in_seconds(rows: list[tuple], positions: tuple[int, ...]) -> list[tuple]:
    """``rows`` with the timestamps at ``positions`` as seconds (SQLite without USE_TZ)."""
    if not rows or all(isinstance(rows[0][i], int | None) for i in positions):
        return rows
    return [
        tuple(timestamp_seconds(value) if i in positions else value for i, value in enumerate(row))
        for row in rows
    ]


def model_instance(model: type[Model], alias: str, values: Sequence[Any]) -> Model:
    """An instance of ``model`` from the driver's values of its concrete fields, in order.

    Converted as the ORM reads them: a field's own ``from_db_value`` (JSON, a host's
    fields), timestamps aware as stored, everything else through ``to_python``.
    """
    connection = connections[alias]
    fields = model._meta.concrete_fields
    return model.from_db(
        alias, [field.attname for field in fields],
        [python_value(field, value, connection) for field, value in zip(fields, values,
                                                                         strict=True)],
    )


def python_value(field: Field, value: Any, connection: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, DateTimeField):
        return stored_datetime(value)
    if hasattr(field, "from_db_value"):
        return field.from_db_value(value, None, connection)
    return field.to_python(value)


def stored_datetime(value: datetime | str) -> datetime:
    """A timestamp the database returned, as the ORM would read it."""
    # SQLite's driver parses a column declared datetime, to a naive time; not an expression.
    moment = value if isinstance(value, datetime) else parse_datetime(value)
    if settings.USE_TZ and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment
