"""The repository tests itself: nothing the suite or the docs rely on lives outside it,
and a run of the suite needs nothing made beforehand and leaves nothing behind."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from .conftest import maintenance_database
from .oracle import DEFAULT_PATH

ROOT = Path(__file__).resolve().parent.parent

# Files of the team's workspace that a clone does not have; spelled in pieces so that
# a search of the repository for them finds only real references.
OUTSIDE = ["../" + "shared", "threads" + "-api.md", "conversations" + "-api.md"]


def test_the_oracle_reads_openais_schemas_from_the_repository():
    assert DEFAULT_PATH.is_relative_to(ROOT)
    assert DEFAULT_PATH.is_file()
    licence = (DEFAULT_PATH.parent / "LICENSE").read_text()
    assert "MIT License" in licence and "Copyright (c) OpenAI" in licence


def test_no_readme_doc_or_test_names_a_file_outside_the_repository():
    texts = [ROOT / "README.md", *ROOT.glob("docs/**/*.md")]
    for package in ("tests", "threads_app"):
        texts += [p for p in (ROOT / package).rglob("*") if p.suffix in {".py", ".md", ".html"}]
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in texts
        for name in OUTSIDE
        if name in path.read_text()
    ]
    assert not found


def test_a_run_leaves_no_file_of_its_database_behind():
    """A run of the suite removes its SQLite test database, WAL and shared memory included."""
    # On SQLite whatever the suite runs on: its files are what is at stake.
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    # Two SDK clients through the live server: what left files behind before.
    selected = "tests/test_sdk.py::test_isolation_through_the_sdk"
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         selected],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output, _ = child.communicate(timeout=300)
    assert child.returncode == 0, output[-3000:]
    left = Path(tempfile.gettempdir()).glob(f"threads_app_test_{child.pid}.sqlite3*")
    assert sorted(path.name for path in left) == [], output[-3000:]


def test_a_database_url_naming_no_database_is_enough():
    """``DATABASE_URL=postgres://…/NAME make test`` works when NAME does not exist."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("DATABASE_URL names no PostgreSQL server")
    import psycopg

    name = f"threads_app_missing_{os.getpid()}"
    missing = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    # What the suite does with the server beside running Django's test runner (which
    # uses the same maintenance database): make a database of its own, and drop it.
    with psycopg.connect(**maintenance_database(missing), autocommit=True) as connection:
        exists = "SELECT 1 FROM pg_database WHERE datname = %s"
        assert connection.execute(exists, [name]).fetchone() is None
        connection.execute(f'CREATE DATABASE "{name}_made"')
        connection.execute(f'DROP DATABASE "{name}_made"')
