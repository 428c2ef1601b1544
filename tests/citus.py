"""The test database on a Citus cluster, for a run with ``DATABASE_CITUS=1``.

``DATABASE_URL`` then names the cluster's coordinator (a database of it whose
``pg_dist_node`` lists the workers, as ``scripts/citus_cluster.sh start`` leaves it), or
``DATABASE_CITUS_WORKERS`` lists the workers as ``host:port,host:port``. The
test database pytest-django would make is made on every node instead, with the
citus extension; the workers are registered in it; then Django migrates it and
``distribute_threads_app`` lays the app's tables out, as a site would. At the
end it is dropped on every node. Only the ``default`` database is made so.
"""

import io
import os
from dataclasses import dataclass
from typing import Any

CITUS = os.environ.get("DATABASE_CITUS") == "1"


@dataclass(frozen=True)
class Node:
    host: str
    port: int


def node_arguments(settings: dict[str, Any], node: Node, dbname: str) -> dict[str, Any]:
    return {"host": node.host, "port": node.port, "user": settings["USER"],
            "password": settings["PASSWORD"] or None, "dbname": dbname, "autocommit": True}


def coordinator_of(settings: dict[str, Any]) -> Node:
    return Node(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432))


def workers_of(settings: dict[str, Any]) -> list[Node]:
    """The workers: ``DATABASE_CITUS_WORKERS``, else the primaries the URL's database registers."""
    import psycopg

    listed = os.environ.get("DATABASE_CITUS_WORKERS")
    if listed:
        return [Node(host, int(port)) for host, port in
                (entry.strip().rsplit(":", 1) for entry in listed.split(",") if entry.strip())]
    arguments = node_arguments(settings, coordinator_of(settings), settings["NAME"])
    with psycopg.connect(**arguments) as conn:
        rows = conn.execute("SELECT nodename, nodeport FROM pg_dist_node "
                            "WHERE groupid <> 0 AND noderole = 'primary' "
                            "ORDER BY nodeid").fetchall()
    if not rows:
        raise RuntimeError(f"DATABASE_CITUS=1, but {settings['NAME']} on the coordinator "
                           "registers no worker; set DATABASE_CITUS_WORKERS=host:port,...")
    return [Node(host, port) for host, port in rows]


def drop_everywhere(settings: dict[str, Any], nodes: list[Node], name: str) -> None:
    import psycopg

    for node in nodes:
        with psycopg.connect(**node_arguments(settings, node, "postgres")) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_everywhere(settings: dict[str, Any], coordinator: Node, workers: list[Node],
                      name: str) -> None:
    """``name`` on every node with the citus extension, the workers registered in it."""
    import psycopg

    drop_everywhere(settings, [coordinator, *workers], name)
    for node in [coordinator, *workers]:
        with psycopg.connect(**node_arguments(settings, node, "postgres")) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(**node_arguments(settings, node, name)) as conn:
            conn.execute("CREATE EXTENSION citus")
    with psycopg.connect(**node_arguments(settings, coordinator, name)) as conn:
        conn.execute("SELECT citus_set_coordinator_host(%s, %s)",
                     [coordinator.host, coordinator.port])
        for worker in workers:
            conn.execute("SELECT citus_add_node(%s, %s)", [worker.host, worker.port])


class CitusTestDatabase:
    """``setup()`` makes, migrates and lays out the test database; ``teardown()`` drops it."""

    def __init__(self, verbosity: int) -> None:
        self.verbosity = verbosity
        self.config: Any = None

    def setup(self) -> None:
        from django.core.management import call_command
        from django.db import connection
        from django.test.utils import setup_databases

        settings = connection.settings_dict
        self.settings = dict(settings)
        self.name = settings["TEST"]["NAME"]
        self.coordinator = coordinator_of(settings)
        self.workers = workers_of(settings)
        create_everywhere(settings, self.coordinator, self.workers, self.name)
        # keepdb: Django finds the database made above, and migrates it.
        self.config = setup_databases(verbosity=self.verbosity, interactive=False, keepdb=True,
                                      aliases={"default"}, serialized_aliases=set())
        laid_out = io.StringIO()
        call_command("distribute_threads_app", stdout=laid_out)
        if self.verbosity > 1:
            print(laid_out.getvalue())

    def teardown(self) -> None:
        """Drop the test database on every node (also after a setup that failed half-way)."""
        from django.db import connections
        from django.test.utils import teardown_databases

        if self.config is not None:
            teardown_databases(self.config, verbosity=self.verbosity, keepdb=True)
        connections.close_all()
        if hasattr(self, "workers"):
            drop_everywhere(self.settings, [self.coordinator, *self.workers], self.name)
