"""The app's tables on a Citus cluster: which are distributed, by what, and beside what.

A thread's messages, items and tombstones are found by the thread's public ID
(migration 0009), so they are distributed by it, each table beside the threads
(colocated): a request that names a thread reads and writes one shard, and the
thread's row lock, which orders its writes, lives on that shard too. The users
and their API keys are reference tables, a copy on every node, so that the
ownership and key checks of those requests stay on the same shard. Idempotency
records are distributed by their owner, which every statement of theirs names.

``distribute_threads_app`` applies :func:`steps` in one transaction.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Model

from ..models import APIKey, IdempotencyRecord, Message, Thread, Tombstone


class Refused(Exception):
    """The database cannot be laid out as :func:`layout` says; the message says why."""


@dataclass(frozen=True)
class Placement:
    """Where a model's table goes: a reference table (no ``column``), or distributed by the
    field ``column``, beside the table of ``colocate_with`` if given (else in a group of its
    own)."""

    model: type[Model]
    column: str | None = None
    colocate_with: type[Model] | None = None

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def distribution_column(self) -> str | None:
        return None if self.column is None else self.model._meta.get_field(self.column).column

    def __str__(self) -> str:
        if self.column is None:
            return f"{self.table}: reference table"
        beside = f", beside {self.colocate_with._meta.db_table}" if self.colocate_with else ""
        return f"{self.table}: distributed by {self.distribution_column}{beside}"


def layout() -> list[Placement]:
    """The app's tables, in the order they are placed (a table after those it refers to)."""
    return [
        Placement(get_user_model()),
        Placement(APIKey),
        Placement(Thread, "public_id"),
        Placement(Message, "thread", colocate_with=Thread),
        # A thread's own tombstone has the container "owner:<pk>", and lands on another
        # shard than the thread: it is read by the owner's thread list, which asks every
        # shard anyway.
        Placement(Tombstone, "container", colocate_with=Thread),
        Placement(IdempotencyRecord, "owner"),
    ]


@dataclass(frozen=True)
class Step:
    """One statement of the layout, and what it does, in words."""

    description: str
    sql: str
    params: tuple[Any, ...] = ()


def check_database(alias: str) -> None:
    """Refuse a database that is not PostgreSQL with the Citus extension, or not migrated."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        raise Refused(
            f"The database {alias!r} is {connection.display_name}; distributing the tables "
            "needs PostgreSQL with the Citus extension."
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'")
        if cursor.fetchone() is None:
            raise Refused(
                f"The database {alias!r} is PostgreSQL without the Citus extension: "
                "run CREATE EXTENSION citus on the coordinator and on every worker, and "
                "register the workers (citus_add_node), first."
            )
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise Refused(f"The database {alias!r} has unapplied migrations: run migrate first.")


def placement_of(cursor: Any, table: str) -> tuple[str, str | None, int] | None:
    """How Citus holds ``table`` now: its type ("distributed", "reference", "local"), its
    distribution column and colocation group; None for a table Citus does not know."""
    cursor.execute(
        "SELECT citus_table_type, distribution_column, colocation_id FROM citus_tables "
        "WHERE table_name = to_regclass(%s)", [table],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    kind, column, colocation = row
    return kind, (None if kind != "distributed" else column), colocation


def key_steps(alias: str, cursor: Any, placement: Placement) -> list[Step]:
    """The primary key rewritten to include the distribution column, which Citus requires of
    every primary key and unique constraint of a distributed table.

    The key keeps its columns first, so that a lookup by them alone (``pk``, which Django
    keeps as it was) still finds an index on each shard; the sequence behind it keeps them
    unique by themselves. A unique constraint without the distribution column is refused:
    widening it would change what it promises.
    """
    connection = connections[alias]
    quote = connection.ops.quote_name
    column = placement.distribution_column
    steps = []
    constraints = connection.introspection.get_constraints(cursor, placement.table)
    for name, constraint in sorted(constraints.items()):
        if not constraint["unique"] or column in constraint["columns"]:
            continue
        if not constraint["primary_key"]:
            raise Refused(
                f"{placement.table} has a unique constraint or index without its distribution "
                f"column {column}: {name} {tuple(constraint['columns'])}. Citus cannot keep it."
            )
        columns = [*constraint["columns"], column]
        new_name = f"{placement.table}_pkey"
        table = quote(placement.table)
        # Two statements: Citus refuses ADD CONSTRAINT beside another subcommand, on a
        # table it holds (one with a foreign key to a reference table, say).
        steps += [
            Step(f"{placement.table}: primary key ({', '.join(constraint['columns'])}) "
                 f"becomes ({', '.join(columns)})",
                 f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}"),
            Step("", f"ALTER TABLE {table} ADD CONSTRAINT {quote(new_name)} "
                     f"PRIMARY KEY ({', '.join(map(quote, columns))})"),
        ]
    return steps


def steps(alias: str) -> list[Step]:
    """What is left to do to lay the app's tables out as :func:`layout` says; empty if done.

    In this order: the primary keys widened (:func:`key_steps`); the foreign keys from the
    tables to distribute to the tables to copy set aside; the reference tables made; the
    others distributed; the foreign keys put back; the rows the coordinator kept of each
    table, now copied into its shards, deleted (:func:`emptied`).

    Making a reference table of a table that plain tables refer to turns those into Citus
    local tables (so that their foreign keys still hold, on the coordinator), and Citus
    cannot distribute a Citus local table with an identity column (Django's
    ``BigAutoField``) afterwards: ours let go of the users' table until they are
    distributed. The site's own tables that refer to the users (Django's admin
    log, groups, permissions) do become Citus local tables, and stay on the coordinator.

    Refuses (:class:`Refused`) a table that Citus holds otherwise (distributed by another
    column, beside other tables, or of another type): moving it is a decision of its own
    (``alter_distributed_table``, ``undistribute_table``).
    """
    check_database(alias)
    keys: list[Step] = []
    set_aside: list[Step] = []
    references: list[Step] = []
    distribute: list[Step] = []
    put_back: list[Step] = []
    colocation: dict[str, int | None] = {}
    copied = [placement.table for placement in layout() if placement.column is None]
    with connections[alias].cursor() as cursor:
        for placement in layout():
            now = placement_of(cursor, placement.table)
            if placement.column is None:
                references += reference_steps(placement, now)
                continue
            if now is not None and now[0] == "distributed":
                check_distributed(placement, now, colocation)
                colocation[placement.table] = now[2]
                continue
            if now is not None:
                raise Refused(f"{placement.table} is a {now[0]} table of Citus; the layout "
                              f"distributes it by {placement.distribution_column}.")
            keys += key_steps(alias, cursor, placement)
            aside, back = foreign_key_steps(alias, cursor, placement, copied)
            set_aside += aside
            put_back += back
            beside = placement.colocate_with._meta.db_table if placement.colocate_with else "none"
            distribute.append(Step(
                str(placement),
                "SELECT create_distributed_table(%s, %s, colocate_with => %s)",
                (placement.table, placement.distribution_column, beside),
            ))
            colocation[placement.table] = None
    placed = [emptied(placement) for placement in layout()
              if any(step.params[:1] == (placement.table,) for step in references + distribute)]
    return keys + set_aside + references + distribute + put_back + placed


def foreign_key_steps(
    alias: str, cursor: Any, placement: Placement, copied: list[str],
) -> tuple[list[Step], list[Step]]:
    """The foreign keys of ``placement``'s table to the tables ``copied`` (reference tables
    to be), dropped, and made again as they were."""
    quote = connections[alias].ops.quote_name
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' "
        "AND conrelid = to_regclass(%s) AND confrelid IN (SELECT to_regclass(name) "
        "FROM unnest(%s::text[]) AS name) ORDER BY conname",
        [placement.table, copied],
    )
    table = quote(placement.table)
    aside, back = [], []
    for name, definition in cursor.fetchall():
        aside.append(Step(f"{placement.table}: foreign key {name} set aside",
                          f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}"))
        back.append(Step(f"{placement.table}: foreign key {name} put back",
                         f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}"))
    return aside, back


def reference_steps(placement: Placement, now: tuple | None) -> list[Step]:
    if now is not None and now[0] == "reference":
        return []
    if now is not None and now[0] == "distributed":
        raise Refused(f"{placement.table} is distributed by {now[1]}; the layout makes it a "
                      "reference table.")
    return [Step(str(placement), "SELECT create_reference_table(%s)", (placement.table,))]


def emptied(placement: Placement) -> Step:
    """The coordinator's own copy of the rows a table held before Citus copied them into its
    shards (or a reference table's copies): no query reads it again, and it keeps its
    space until emptied."""
    return Step("", "SELECT truncate_local_data_after_distributing_table(%s)",
                (placement.table,))


def check_distributed(
    placement: Placement, now: tuple[str, str | None, int], colocation: dict[str, int | None],
) -> None:
    if now[1] != placement.distribution_column:
        raise Refused(f"{placement.table} is distributed by {now[1]}; the layout distributes it "
                      f"by {placement.distribution_column}.")
    if placement.colocate_with is None:
        return
    beside = placement.colocate_with._meta.db_table
    if colocation.get(beside, now[2]) != now[2]:
        raise Refused(f"{placement.table} is distributed by {now[1]}, but not beside {beside}.")


def apply(alias: str, todo: list[Step], report: Callable[[Step], None]) -> None:
    """Run ``todo`` in one transaction: all of it, or nothing."""
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        for step in todo:
            if step.description:
                report(step)
            cursor.execute(step.sql, list(step.params))
