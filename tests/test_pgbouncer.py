"""The app behind PgBouncer in transaction mode, with the settings docs/scaling.md gives.

DATABASE_POOLER_URL names a PgBouncer (``scripts/pgbouncer.sh``) in front of the
test database's server. With it, the gunicorn servers these tests and
tests/test_concurrency.py start connect through it (tests/server_settings.py).
PgBouncer 1.18 (Debian 12's) hands a server connection to another client
after each transaction, and a statement psycopg prepared on it goes along:
the demo's default (prepare after 5 runs) then fails, DATABASE_PREPARE_THRESHOLD=0
(no prepared statements, Django's own default) does not.
"""

import os
from pathlib import Path

import dj_database_url
import openai
import psycopg
import pytest
from django.conf import settings
from django.db import ProgrammingError, connection
from django.db.backends.postgresql.base import DatabaseWrapper

from project.database import database_from_url

from .conftest import end_pooled_sessions
from .test_concurrency import gunicorn_url  # noqa: F401 (a fixture)

POOLER_URL = os.environ.get("DATABASE_POOLER_URL")
POSTGRESQL = "django.db.backends.postgresql"

pytestmark = [
    pytest.mark.skipif(
        not POOLER_URL or settings.DATABASES["default"]["ENGINE"] != POSTGRESQL,
        reason="no PgBouncer: start one with `scripts/pgbouncer.sh start DIR` and set "
        "DATABASE_POOLER_URL to the URL it prints (with DATABASE_URL on PostgreSQL)",
    ),
    pytest.mark.django_db(transaction=True),
]


def through_pgbouncer() -> DatabaseWrapper:
    """A Django connection to the test database through PgBouncer, its options as
    ``project.database`` makes them from the environment."""
    config = database_from_url(POOLER_URL, Path("unused.sqlite3"))
    return DatabaseWrapper(
        {**connection.settings_dict, "HOST": config["HOST"], "PORT": config["PORT"],
         "OPTIONS": config["OPTIONS"]},
        alias="pooled",
    )


@pytest.mark.parametrize("threshold, collides", [("5", True), ("0", False)])
def test_prepared_statements_do_not_survive_transaction_pooling(
    monkeypatch, threshold, collides
):
    """Two app connections run one statement in turn: PgBouncer gives both the same
    server connection (the one used last), where the first has prepared it already."""
    monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", threshold)
    first, second = through_pgbouncer(), through_pgbouncer()

    def run_often(database: DatabaseWrapper) -> None:
        for _ in range(10):
            with database.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM threads_app_thread WHERE owner_id = %s", [1])

    try:
        run_often(first)
        if collides:
            with pytest.raises(ProgrammingError, match='"_pg3_0" already exists'):
                run_often(second)
        else:
            run_often(second)
    finally:
        first.close()
        second.close()
        end_pooled_sessions()


def pgbouncer_clients(database: str) -> int:
    """How many client connections PgBouncer holds to ``database`` (its admin console)."""
    config = dj_database_url.parse(POOLER_URL)
    with psycopg.connect(host=config["HOST"], port=config["PORT"], user=config["USER"],
                         dbname="pgbouncer", autocommit=True,
                         cursor_factory=psycopg.ClientCursor) as console:
        # The console speaks the simple query protocol only: no parameters.
        cursor = console.execute("SHOW CLIENTS")
        columns = [column.name for column in cursor.description]
        return sum(1 for row in cursor
                   if dict(zip(columns, row, strict=True))["database"] == database)


def test_the_app_servers_of_the_tests_connect_through_pgbouncer(gunicorn_url, secret):  # noqa: F811
    base_url, _ = gunicorn_url
    with openai.OpenAI(api_key=secret, base_url=base_url, max_retries=0) as sdk:
        thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "pooled"}])
        for _ in range(10):
            assert len(sdk.beta.threads.messages.list(thread.id).data) == 1
    # Persistent connections, as docs/deployment.md sets them: still held by the workers.
    assert pgbouncer_clients(connection.settings_dict["NAME"]) >= 1
