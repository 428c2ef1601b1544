"""The demo site's database, from ``DATABASE_URL``, set up for concurrent use."""

import os
from pathlib import Path
from typing import Any

import dj_database_url

# Immediate transactions take the write lock at BEGIN, so a read-then-write
# transaction never fails half-way with "database is locked"; the busy timeout
# lets writers queue instead. WAL lets readers run beside a writer.
# synchronous=NORMAL in WAL mode survives a killed process (the OS still holds
# the data) but may lose the last commits on power loss; FULL would survive
# that too at about half the write throughput.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def database_from_url(url: str | None, default_sqlite_path: Path) -> dict[str, Any]:
    config = dj_database_url.parse(url or f"sqlite:///{default_sqlite_path}")
    if config["ENGINE"] == "django.db.backends.postgresql":
        # Parameters bound on the server (Django's server_side_binding), which lets
        # psycopg prepare a statement once it has run this often: the app's hot
        # statements (threads_app/store/) are then planned once per connection,
        # not on every request. Prepared statements do not survive a pooler in
        # transaction mode (PgBouncer); DATABASE_PREPARE_THRESHOLD=0 turns both off.
        threshold = int(os.environ.get("DATABASE_PREPARE_THRESHOLD", "5")) or None
        config["OPTIONS"] = {**config.get("OPTIONS", {}), "prepare_threshold": threshold,
                             "server_side_binding": threshold is not None}
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        # Opening a connection runs the PRAGMAs above and registers Django's SQL
        # functions: about 0.4 ms, more than a page of messages costs. A local
        # file needs no health check.
        config["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "60"))
    elif os.environ.get("DATABASE_POOL") == "1":
        # psycopg's pool, for servers that answer from many threads of a process:
        # it keeps their connections open. Django requires CONN_MAX_AGE = 0 with it.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {**config.get("OPTIONS", {}), "pool": {"min_size": 1, "max_size": 4}}
    else:
        # A persistent connection for each thread; a sync worker has one. Checking
        # it at the start of every request is a round trip of its own; without the
        # check (DATABASE_HEALTH_CHECKS=0, as project/gunicorn.conf.py sets), a
        # connection that broke while idle fails the one request that finds it
        # broken (503, which the SDK retries) and is then replaced.
        config["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "60"))
        config["CONN_HEALTH_CHECKS"] = os.environ.get("DATABASE_HEALTH_CHECKS", "1") != "0"
    return config
