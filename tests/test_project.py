"""The demo site's configuration."""

import json
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from project.database import database_from_url

from .server import ROOT, exchange, server_environment


def test_default_is_a_sqlite_file_set_up_for_concurrent_use(tmp_path):
    config = database_from_url(None, tmp_path / "db.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(config["NAME"]) == tmp_path / "db.sqlite3"
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert config["OPTIONS"]["timeout"] > 0
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_postgres_url(tmp_path):
    config = database_from_url("postgres://someone@127.0.0.1:5432/test", tmp_path / "unused")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["HOST"], config["PORT"], config["NAME"]) == (
        "someone", "127.0.0.1", 5432, "test"
    )
    assert config["CONN_MAX_AGE"] > 0
    # The app's statements are bound on the server, and prepared once a connection has
    # run them this often.
    assert config["OPTIONS"]["prepare_threshold"] == 5
    assert config["OPTIONS"]["server_side_binding"] is True


def test_connections_persist(tmp_path, monkeypatch):
    monkeypatch.delenv("CONN_MAX_AGE", raising=False)
    assert database_from_url(None, tmp_path / "db.sqlite3")["CONN_MAX_AGE"] > 0
    monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", "0")  # behind a pooler in transaction mode
    config = database_from_url("postgres://someone@127.0.0.1:5432/test", tmp_path / "unused")
    assert config["OPTIONS"]["prepare_threshold"] is None
    assert config["OPTIONS"]["server_side_binding"] is False


def test_sqlite_runs_in_wal_mode(db):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("only SQLite has a journal mode")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"


def demo_setting(name: str, **env: str) -> str:
    """A setting of the demo site as a fresh process reads it from ``env``."""
    result = subprocess.run(
        [sys.executable, "-c", f"from project import settings; print(settings.{name})"],
        cwd=ROOT, env=server_environment(**env), capture_output=True, text=True, timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_debug_only_when_asked():
    assert demo_setting("DEBUG") == "False"
    assert demo_setting("DEBUG", DJANGO_DEBUG="0") == "False"
    assert demo_setting("DEBUG", DJANGO_DEBUG="1") == "True"


def demo_runserver_command(port: int) -> list[str]:
    """The command `make demo` serves with, from the Makefile, on ``port``, without reloading."""
    makefile = (ROOT / "Makefile").read_text()
    line = next(line for line in makefile.splitlines() if "manage.py runserver" in line)
    command = line.strip().replace("$(BIN)/python", sys.executable)
    return [*shlex.split(command.replace("$(ADDRESS)", f"127.0.0.1:{port}")), "--noreload"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_make_demo_serves_the_admin_with_its_static_files(tmp_path):
    port = free_port()
    env = server_environment(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with (tmp_path / "runserver.log").open("w+") as log:
        server = subprocess.Popen(demo_runserver_command(port), cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline and server.poll() is None, log.name
                    time.sleep(0.1)
            request = "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            login = exchange(("127.0.0.1", port), request.format("/admin/login/").encode())
            css = exchange(("127.0.0.1", port),
                           request.format("/static/admin/css/base.css").encode())
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.seek(0)
            print(log.read()[-3000:])
    assert login.status == 200 and b"/static/admin/css/base.css" in login.body
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")


@pytest.fixture
def demo_urls(settings):
    settings.ROOT_URLCONF = "project.urls"


def test_server_error_handler_answers_the_envelope_under_the_mount(demo_urls, rf):
    from threads_app.handlers import server_error

    answer = server_error(rf.get("/v1/threads"))
    assert answer.status_code == 500 and answer["content-type"] == "application/json"
    error = json.loads(answer.content)["error"]
    assert error["type"] == "server_error"
    assert answer["x-request-id"] in error["message"]
    elsewhere = server_error(rf.get("/admin/"))
    assert elsewhere.status_code == 500 and elsewhere["content-type"].startswith("text/html")
