"""Querysets compiled once per shape, then run again with other values.

Building and compiling the list query cost ten times what SQLite takes to run
it (0.5 ms against 0.05 ms for a page of 20; see bench/). The hot read paths
therefore build theirs once per shape (order, direction, which cursors, limit)
with stand-in values, note which SQL parameter each stand-in became, and from
then on run the stored SQL with the caller's values, with the converters of
the ORM, on a driver cursor kept for the connection (see :func:`run`). A
shape whose stand-ins cannot be traced (a custom user model's key, say) is
simply built by the ORM on every request.
"""

import weakref
from collections.abc import Callable, Hashable
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.signals import post_save, pre_save
from django.utils import timezone


def run(connection: Any, sql: str, params: list) -> list:
    """Run ``sql`` and fetch all its rows.

    The hot statements skip Django's cursor wrapper (a new cursor each time,
    the async and thread checks), about 140,000 instructions of a 1.5 million
    request (bench/, callgrind): they run on a cursor of the database driver
    that is kept for the connection.
    On PostgreSQL it binds parameters on the server, which lets psycopg prepare
    a statement once it has run a few times (``prepare_threshold``): the server
    then plans it once per connection, not on every request (planning the page
    query cost more than running it). Errors are still Django's, and while
    queries are logged (DEBUG, tests) the usual cursor is used so that they
    show: psycopg keeps no text of a prepared run for the log. All rows are
    fetched, always: SQLite commits an ``INSERT … RETURNING`` only once its
    statement has run to the end.
    """
    if connection.queries_logged:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        cursor = kept_cursor(connection)
        cursor.execute(sql, params)
        return cursor.fetchall()


def kept_cursor(connection: Any) -> Any:
    """The driver's cursor kept for ``connection``'s current link to the database."""
    cursor = getattr(connection, "threads_app_cursor", None)
    if cursor is None or cursor.connection is not connection.connection:
        if connection.vendor == "postgresql":
            from django.db.backends.postgresql.base import ServerBindingCursor

            cursor = ServerBindingCursor(connection.connection)
        else:
            cursor = connection.create_cursor()
        connection.threads_app_cursor = cursor
    return cursor


class UntracedStandIn(LookupError):
    """A stand-in did not reach the compiled SQL as a parameter of its own."""


# Why a shape may not compile, in which case the ORM builds it on every request.
# Any other error of ``build`` is a mistake, and raises.
UNCOMPILABLE = (UntracedStandIn, TypeError, ValueError)


class Statement:
    """One compiled queryset, with the positions of its variable parameters.

    A stand-in of None stands for no parameter: the shape fixes that value (no
    cursor, no key to confirm), and the queryset is built with None for it.
    """

    def __init__(self, queryset: QuerySet, stand_ins: dict[str, Any]) -> None:
        self.compiler = queryset.query.get_compiler(queryset.db)
        self.sql, params = self.compiler.as_sql()
        names = {value: name for name, value in stand_ins.items() if value is not None}
        self.params = list(params)
        self.slots = [names.get(p) if isinstance(p, Hashable) else None for p in params]
        if {slot for slot in self.slots if slot} != set(names.values()):
            raise UntracedStandIn("a stand-in did not reach the SQL as a parameter")
        self.converters = self.compiler.get_converters(
            [expression for expression, _, _ in self.compiler.select]
        )

    def rows(self, values: dict[str, Any]) -> list:
        params = [
            p if slot is None else values[slot]
            for slot, p in zip(self.slots, self.params, strict=True)
        ]
        rows = run(self.compiler.connection, self.sql, params)
        if self.converters:
            rows = list(self.compiler.apply_converters(rows, self.converters))
        return rows

    def instances(self, values: dict[str, Any]) -> list[Model]:
        """Model instances, with their ``select_related`` ones, as the ORM's iterable makes them."""
        compiler, db = self.compiler, self.compiler.using
        klass_info, select = compiler.klass_info, compiler.select
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        names = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, db)
        found = []
        for row in self.rows(values):
            instance = klass_info["model"].from_db(db, names, row[start:end])
            for populator in populators:
                populator.populate(row, instance)
            found.append(instance)
        return found


class StatementCache:
    """Statements by shape, for each database connection (so for each thread) apart."""

    def __init__(self) -> None:
        self.by_connection: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def statement(
        self, shape: Hashable, build: Callable[[dict[str, Any]], QuerySet],
        stand_ins: dict[str, Any], using: str,
    ) -> Statement | None:
        statements = self.by_connection.setdefault(connections[using], {})
        if shape not in statements:
            try:
                statements[shape] = Statement(build(stand_ins), stand_ins)
            except UNCOMPILABLE:
                statements[shape] = None
        return statements[shape]

    def rows(
        self,
        shape: Hashable,
        build: Callable[[dict[str, Any]], QuerySet],
        stand_ins: dict[str, Any],
        values: dict[str, Any],
        using: str = "default",
    ) -> list:
        """Run ``build(values)``'s query, compiled from ``build(stand_ins)`` the first time."""
        statement = self.statement(shape, build, stand_ins, using)
        return list(build(values)) if statement is None else statement.rows(values)

    def instances(
        self,
        shape: Hashable,
        build: Callable[[dict[str, Any]], QuerySet],
        stand_ins: dict[str, Any],
        values: dict[str, Any],
        using: str = "default",
    ) -> list[Model]:
        """As :meth:`rows`, for a queryset of model instances."""
        statement = self.statement(shape, build, stand_ins, using)
        return list(build(values)) if statement is None else statement.instances(values)


# The time on SQLite, as Django stores a datetime there: a function of ours, since
# SQLite's own clock has milliseconds only and the other writes take Python's.
SQLITE_CLOCK = "threads_app_now"


def clock_sql(connection: Any) -> str | None:
    """SQL for the current time, read when the statement evaluates it; None if unknown here."""
    if connection.vendor == "postgresql":
        return "clock_timestamp()"  # now() would be the time the statement began
    if connection.vendor == "sqlite":
        return f"{SQLITE_CLOCK}()"
    return None


def ensure_clock(connection: Any) -> None:
    """Give this connection's link to SQLite the function :func:`clock_sql` names."""
    if connection.vendor != "sqlite":
        return
    connection.ensure_connection()
    if getattr(connection, "threads_app_clock", None) is not connection.connection:
        ops = connection.ops
        connection.connection.create_function(
            SQLITE_CLOCK, 0, lambda: ops.adapt_datetimefield_value(timezone.now())
        )
        connection.threads_app_clock = connection.connection


class InsertUnder:
    """A row inserted under the parent row a query finds, in one statement.

    ``WITH parent AS (SELECT parent.pk FROM parent WHERE ... FOR UPDATE),
    stamped AS (SELECT key, <the time> FROM parent) INSERT INTO child (...)
    SELECT %s, ..., stamped.time, stamped.key FROM stamped RETURNING ...``:
    the lookup of the parent (locked on PostgreSQL, so that writes into one
    parent commit in the order of their keys) and the insert are one round
    trip, atomic without a transaction of their own. No row comes back when
    the query finds no parent. The parent query is compiled once per
    connection, as :class:`StatementCache` does; ``pre_save`` and
    ``post_save`` are sent as ``Model.save`` sends them.

    The ``stamped`` fields get the time read once the parent is locked (on
    SQLite, whose writers the database lock serializes, once the statement
    holds that lock), and come back on the instance: a time taken before the
    lock could be older than that of a row the lock's holder was inserting,
    and the order of the rows would disagree with their times. Only SQLite
    and PostgreSQL are known to take all this; elsewhere :meth:`insert`
    answers None and the caller saves as usual.
    """

    vendors = ("sqlite", "postgresql")

    def __init__(
        self, parent_field: str, build_parent: Callable[[dict[str, Any]], QuerySet],
        stand_ins: dict[str, Any], stamped: tuple[str, ...] = (),
    ) -> None:
        self.parent_field, self.build_parent, self.stand_ins = parent_field, build_parent, stand_ins
        self.stamped = stamped
        self.by_connection: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def statement(self, model: type[Model], using: str) -> tuple | None:
        connection = connections[using]
        if connection.vendor not in self.vendors:
            return None
        statements = self.by_connection.setdefault(connection, {})
        if model not in statements:
            statements[model] = self.compile(model, connection)
        return statements[model]

    def compile(self, model: type[Model], connection: Any) -> tuple | None:
        if not connection.features.can_return_columns_from_insert:
            return None
        opts = model._meta
        parent_key = opts.get_field(self.parent_field)
        stamped = [opts.get_field(name) for name in self.stamped]
        fields = [field for field in opts.concrete_fields
                  if not field.primary_key and field is not parent_key and not field.generated
                  and field not in stamped]
        try:
            parent = Statement(self.build_parent(self.stand_ins).order_by(), self.stand_ins)
        except UNCOMPILABLE:
            return None
        if len(parent.compiler.select) != 1:
            return None
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in [*fields, *stamped, parent_key])
        returned = [opts.pk, parent_key, *stamped]
        returning, _ = connection.ops.return_insert_columns(returned)
        converters = parent.compiler.get_converters(
            [field.get_col(opts.db_table) for field in returned]
        )
        lock = ""
        if connection.features.has_select_for_update:
            lock = " " + connection.ops.for_update_sql()
        values = ", ".join(["%s"] * len(fields) + ["locked_at"] * len(stamped) + ["parent_key"])
        # MATERIALIZED: the time is read once for every stamped field, from the parent's
        # row as the lock yields it, never before.
        sql = (f"WITH parent (parent_key) AS MATERIALIZED ({parent.sql}{lock}), "
               f"stamped (parent_key, locked_at) AS MATERIALIZED "
               f"(SELECT parent_key, {clock_sql(connection)} FROM parent) "
               f"INSERT INTO {quote(opts.db_table)} ({columns}) "
               f"SELECT {values} FROM stamped {returning}")
        return sql, fields, parent, converters

    def insert(
        self, instance: Model, values: dict[str, Any], using: str = "default"
    ) -> bool | None:
        """Insert ``instance`` under the parent ``values`` find; set its key and stamped fields.

        False if there is none; None if this database is not one of ``vendors``.
        """
        model = type(instance)
        statement = self.statement(model, using)
        if statement is None:
            return None
        sql, fields, parent, converters = statement
        connection = connections[using]
        pre_save.send(
            sender=model, instance=instance, raw=False, using=using, update_fields=None
        )
        params = [p if slot is None else values[slot]
                  for slot, p in zip(parent.slots, parent.params, strict=True)]
        params += [field.get_db_prep_save(field.pre_save(instance, True), connection)
                   for field in fields]
        ensure_clock(connection)
        rows = run(connection, sql, params)
        if not rows:
            return False
        if converters:
            rows = list(parent.compiler.apply_converters(rows, converters))
        instance.pk, parent_pk, *times = rows[0]
        setattr(instance, model._meta.get_field(self.parent_field).attname, parent_pk)
        for name, moment in zip(self.stamped, times, strict=True):
            setattr(instance, name, moment)
        instance._state.adding, instance._state.db = False, using
        post_save.send(sender=model, instance=instance, created=True, update_fields=None,
                       raw=False, using=using)
        return True
