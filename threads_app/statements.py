"""Querysets compiled once per shape, then run again with other values.

Building and compiling the list query cost ten times what SQLite takes to run
it (0.5 ms against 0.05 ms for a page of 20; see bench/). The hot read paths
therefore build theirs once per shape (order, direction, which cursors, limit)
with stand-in values, note which SQL parameter each stand-in became, and from
then on run the stored SQL with the caller's values, through the same cursor
and converters as the ORM. A shape whose stand-ins cannot be traced (a custom
user model's key, say) is simply built by the ORM on every request.
"""

import weakref
from collections.abc import Callable, Hashable
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators


class Statement:
    """One compiled queryset, with the positions of its variable parameters."""

    def __init__(self, queryset: QuerySet, stand_ins: dict[str, Any]) -> None:
        self.compiler = queryset.query.get_compiler(queryset.db)
        self.sql, params = self.compiler.as_sql()
        names = {value: name for name, value in stand_ins.items()}
        self.params = list(params)
        self.slots = [names.get(p) if isinstance(p, Hashable) else None for p in params]
        if {slot for slot in self.slots if slot} != set(stand_ins):
            raise LookupError("a stand-in did not reach the SQL as a parameter")
        self.converters = self.compiler.get_converters(
            [expression for expression, _, _ in self.compiler.select]
        )

    def rows(self, values: dict[str, Any]) -> list:
        params = [
            p if slot is None else values[slot]
            for slot, p in zip(self.slots, self.params, strict=True)
        ]
        with self.compiler.connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
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
            except (LookupError, TypeError, ValueError):
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
