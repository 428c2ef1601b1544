"""The demo site's configuration."""

from pathlib import Path

from project.database import database_from_url


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
    # The app's compiled statements are prepared once a connection has run them this often.
    assert config["OPTIONS"]["prepare_threshold"] == 5


def test_connections_persist(tmp_path, monkeypatch):
    monkeypatch.delenv("CONN_MAX_AGE", raising=False)
    assert database_from_url(None, tmp_path / "db.sqlite3")["CONN_MAX_AGE"] > 0
    monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", "0")  # behind a pooler in transaction mode
    config = database_from_url("postgres://someone@127.0.0.1:5432/test", tmp_path / "unused")
    assert config["OPTIONS"]["prepare_threshold"] is None


def test_sqlite_runs_in_wal_mode(db):
    import pytest
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("only SQLite has a journal mode")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
