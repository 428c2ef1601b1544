import gc
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.test import APIClient

from threads_app.authentication import APIKeyAuthentication
from threads_app.models import APIKey

from . import citus
from .browser import browser  # noqa: F401 (offered to every test module)

NAMESPACE = "openai"


def maintenance_database(database_url: str) -> dict[str, Any]:
    """psycopg's arguments for the server of ``database_url``, on its ``postgres`` database.

    The database the URL names need not exist: the suite makes the databases it uses
    and drops them, as Django's test runner does through the same maintenance database.
    """
    import dj_database_url

    config = dj_database_url.parse(database_url)
    return {
        "host": config["HOST"],
        "port": config["PORT"] or 5432,
        "user": config["USER"],
        "password": config["PASSWORD"] or None,
        "dbname": "postgres",
    }


def end_pooled_sessions() -> None:
    """End the test database's sessions that a pooler (``DATABASE_POOLER_URL``) keeps open.

    PgBouncer holds its server connections after the app servers that used them
    have gone; the test database could not be dropped while they last.
    """
    from django.db import connection

    if not os.environ.get("DATABASE_POOLER_URL") or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


if citus.CITUS:

    @pytest.fixture(scope="session")
    def django_db_setup(request, django_test_environment, django_db_blocker):
        """pytest-django's, on a Citus cluster: the test database made on every node, migrated
        and distributed (tests/citus.py)."""
        database = citus.CitusTestDatabase(request.config.option.verbose)
        with django_db_blocker.unblock():
            try:
                database.setup()
            except BaseException:
                database.teardown()
                raise
        yield
        with django_db_blocker.unblock():
            database.teardown()


def url(name: str, **kwargs: str) -> str:
    return reverse(f"{NAMESPACE}:{name}", kwargs=kwargs)


def mount_url(live_server) -> str:
    return live_server.url + url("thread-list").removesuffix("threads")


@pytest.fixture(autouse=True)
def forget_remembered_keys():
    """Each test starts as a new process would: with no API key remembered."""
    APIKeyAuthentication.remembered.by_digest.clear()
    yield
    APIKeyAuthentication.remembered.by_digest.clear()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("mallory")


@pytest.fixture
def secret(user) -> str:
    return APIKey.generate(user)[1]


@pytest.fixture
def other_secret(other_user) -> str:
    return APIKey.generate(other_user)[1]


@pytest.fixture
def api(secret) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def other_api(other_secret) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other_secret}")
    return client


# The SDK's clients are closed when their test ends. A client left to the garbage
# collector is in a reference cycle, and the collector may finalize its sockets
# before the client that would close them: "unclosed socket", now and then, long
# after the test that left it.


@pytest.fixture
def sdk(live_server, secret) -> Iterator[openai.OpenAI]:
    # No retries: a test must see the first answer, not a retried one.
    with openai.OpenAI(api_key=secret, base_url=mount_url(live_server), max_retries=0) as client:
        yield client


@pytest.fixture
def other_sdk(live_server, other_secret) -> Iterator[openai.OpenAI]:
    url = mount_url(live_server)
    with openai.OpenAI(api_key=other_secret, base_url=url, max_retries=0) as client:
        yield client


@pytest.fixture
def async_sdk(live_server, secret) -> openai.AsyncOpenAI:
    """An async client; the test closes it inside the event loop it ran on."""
    return openai.AsyncOpenAI(api_key=secret, base_url=mount_url(live_server), max_retries=0)


def connections_to(port: int) -> list[socket.socket]:
    """The open client sockets of this process connected to ``port``."""
    found = []
    for candidate in gc.get_objects():
        # type(), not isinstance(): the latter fails on a dead weak proxy.
        if not issubclass(type(candidate), socket.socket) or candidate.fileno() == -1:
            continue
        if candidate.family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            if candidate.getpeername()[1] == port and candidate.getsockname()[1] != port:
                found.append(candidate)
        except OSError:  # not connected
            continue
    return found


@pytest.fixture(autouse=True)
def no_connection_left_open(request) -> Iterator[None]:
    """Fail a test that leaves a connection to the live server open once its fixtures end."""
    yield
    live_server = request.node.funcargs.get("live_server")
    if live_server is None:
        return
    left = connections_to(int(live_server.url.rsplit(":", 1)[1]))
    for connection in left:
        connection.close()  # so that one test's leak is not reported again by the next
    assert not left, f"{len(left)} connection(s) to the live server left open: close the client"


def pytest_sessionfinish(session, exitstatus) -> None:
    """Remove the files SQLite keeps beside a test database that was deleted while in use.

    Django deletes the test database's file at the end of the run; a connection still
    open then (a server thread's, say) leaves its ``-wal`` and ``-shm`` behind, megabytes
    in the temporary directory for every run. Kept when the database itself is kept
    (``--reuse-db``): its WAL may hold committed data.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return
    name = Path(database.get("TEST", {}).get("NAME") or "")
    if not name.name or name.exists():
        return
    for suffix in ("-wal", "-shm", "-journal"):
        name.with_name(name.name + suffix).unlink(missing_ok=True)
