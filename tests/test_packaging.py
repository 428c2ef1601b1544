"""The built wheel, installed into a clean virtual environment, serves a site of its own.

This builds the wheel from a copy of the checkout, checks what it holds,
installs it with its dependencies from the package index into a new virtual
environment (no system site packages), and runs a site made of a settings
module and a URL module that mounts the app under a prefix of its own:
`migrate`, `create_api_key`, and requests through Django's test client.
With ``DATABASE_URL`` pointing at PostgreSQL, the site uses a fresh database
there (and the wheel's ``postgres`` extra); otherwise SQLite.

It needs the package index and takes a minute or so: set
``THREADS_APP_SKIP_PACKAGING=1`` to leave it out of a quick local run.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import threads_app

from .conftest import maintenance_database

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "threads_app"
PREFIX = "compat/openai/v1/"

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("THREADS_APP_SKIP_PACKAGING")),
    reason="THREADS_APP_SKIP_PACKAGING is set: the wheel is not built and installed",
)

# What a copy of the checkout leaves behind: local state and earlier builds, whose
# stale files setuptools would otherwise pick up from build/.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    "db.sqlite3*",
    "node_modules",
    "staticfiles",
    "test-artifacts",
)

SITE_SETTINGS = """\
SECRET_KEY = "packaging-test-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
# Only what the app needs: DRF and django-filter are used as libraries.
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "threads_app"]
MIDDLEWARE = []
ROOT_URLCONF = "site_urls"
DATABASES = {databases!r}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
THREADS_APP = {{"DEFAULT_PAGE_SIZE": 5}}
"""

SITE_URLS = f"""\
from django.urls import include, path

urlpatterns = [
    path("{PREFIX}", include(("threads_app.urls", "threads_app"), namespace="compat")),
]
"""

PROBE = """\
import json
import sys

import django

django.setup()

from django.db import connection
from django.test import Client
from django.urls import reverse

import threads_app

client = Client(headers={"Authorization": "Bearer " + sys.argv[1]})
body = {"messages": [{"role": "user", "content": "hello from the wheel"}]}
created = client.post(
    reverse("compat:thread-list"), json.dumps(body), content_type="application/json"
)
thread_id = created.json()["id"]
listed = client.get(reverse("compat:message-list", kwargs={"thread_id": thread_id}))
anonymous = Client().get(reverse("compat:thread-list"))
print(json.dumps({
    "module": threads_app.__file__,
    "version": threads_app.__version__,
    "database": connection.vendor,
    "thread_list_url": reverse("compat:thread-list"),
    "created": created.status_code,
    "messages": listed.json(),
    "anonymous": [anonymous.status_code, anonymous.json()],
}))
"""


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def package_files() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = work / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."],
        cwd=source,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    [built] = out.glob("*.whl")
    return built


def test_the_wheel_holds_the_app_and_nothing_else(wheel):
    assert wheel.name == f"threads_app-{threads_app.__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    dist_info = f"threads_app-{threads_app.__version__}.dist-info/"
    outside = {name for name in names if not name.startswith(("threads_app/", dist_info))}
    assert outside == set()
    # Every file of the package, and only those: code, migrations, templates, static.
    assert {name for name in names if name.startswith("threads_app/")} == package_files()
    for required in ("py.typed", "migrations/0001_initial.py", "templates/", "static/"):
        assert any(name.startswith("threads_app/" + required) for name in names), required
    metadata = zipfile.ZipFile(wheel).read(dist_info + "METADATA").decode()
    assert f"Version: {threads_app.__version__}" in metadata
    assert "Requires-Dist: Django" in metadata


@pytest.fixture
def site_database(tmp_path) -> Iterator[tuple[dict, str]]:
    """The site's DATABASES and the wheel's extra it needs: a new PostgreSQL database
    beside the suite's when DATABASE_URL names one, else a SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        options = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
        }
        sqlite = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(tmp_path / "site.sqlite3"),
            "OPTIONS": options,
        }
        yield {"default": sqlite}, ""
        return
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    name = f"threads_app_packaging_{os.getpid()}"
    admin = maintenance_database(url)
    with psycopg.connect(**admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"default": {**config, "NAME": name}}, "[postgres]"
    finally:
        with psycopg.connect(**admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_installed_wheel_serves_a_site_of_settings_and_urls(wheel, tmp_path, site_database):
    databases, extra = site_database
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = str(venv / "bin" / "python")
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    run([python, "-m", "pip", "install", "--quiet", f"{wheel}{extra}"], cwd=tmp_path, env=env)

    site = tmp_path / "site"
    site.mkdir()
    (site / "site_settings.py").write_text(SITE_SETTINGS.format(databases=databases))
    (site / "site_urls.py").write_text(SITE_URLS)
    (site / "probe.py").write_text(PROBE)
    env.update(DJANGO_SETTINGS_MODULE="site_settings", PYTHONPATH=str(site))

    def django(*args: str) -> str:
        return run([python, "-m", "django", *args], cwd=site, env=env)

    # Our checks and Django's find nothing to warn about in this minimal site.
    django("check", "--fail-level", "WARNING")
    django("migrate", "--verbosity", "0")
    key = django("create_api_key", "alice").splitlines()[-1]
    answer = json.loads(run([python, "probe.py", key], cwd=site, env=env))

    assert Path(answer["module"]).is_relative_to(venv), "imported from outside the venv"
    assert answer["version"] == threads_app.__version__
    assert answer["database"] == ("postgresql" if extra else "sqlite")
    assert answer["thread_list_url"] == f"/{PREFIX}threads"
    assert answer["created"] == 200
    [message] = answer["messages"]["data"]
    assert message["content"][0]["text"]["value"] == "hello from the wheel"
    status, body = answer["anonymous"]
    assert status == 401 and set(body["error"]) == {"message", "type", "param", "code"}
