"""Distribute the app's tables over a Citus cluster, from its coordinator.

Run it once, after ``migrate``, on a database whose coordinator and workers have
the Citus extension and whose workers are registered (``citus_add_node``); it
does nothing on a database laid out already. The layout (threads_app/store/citus.py,
docs/scaling.md): the users' and API keys' tables are reference tables, a copy
on every node; threads are distributed by their public ID, and their messages
(and items), and tombstones beside them by the same ID; idempotency records by
their owner.

Citus requires every primary key and unique constraint of a distributed table
to include its distribution column: a shard can only check what it holds. The
unique constraints of the app's tables do (a message's ID is unique within its
thread, a tombstone's within its container, an idempotency key within its
owner's), and the primary keys do not, so this command widens each of them to
its columns followed by the distribution column (a message's ``(seq)`` becomes
``(seq, thread_id)``), under the name PostgreSQL gives a table's primary key
(``<db_table>_pkey``). Django still takes ``seq`` (or ``id``) as the primary
key, and the sequence that fills it keeps it unique alone. The migrations leave
the keys as they are, so that a database on one server is the same whatever it
may become.

All of it runs in one transaction: it is done, or nothing is.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from threads_app.store import citus, write_alias


class Command(BaseCommand):
    help = (
        "Distribute the app's tables on a Citus cluster (PostgreSQL with the citus "
        "extension), from its coordinator: users and API keys as reference tables, threads "
        "by public ID with their messages and tombstones beside them, idempotency records by "
        "owner. Run after migrate; a second run changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--database",
            help="Database alias of the coordinator; default: where the routers write the "
            "app's models.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"] or write_alias()
        try:
            todo = citus.steps(alias)
        except citus.Refused as refused:
            raise CommandError(str(refused)) from None
        if not todo:
            self.stdout.write(f"Nothing to change: the tables on {alias!r} are laid out already.")
            for placement in citus.layout():
                self.stdout.write(f"  {placement}")
            return
        citus.apply(alias, todo, lambda step: self.stdout.write(f"  {step.description}"))
        self.stdout.write(f"Distributed the app's tables on {alias!r}: {len(todo)} statements, "
                          "in one transaction.")
