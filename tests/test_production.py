"""The demo site's production profile.

Django's deployment checks, gunicorn's configuration, and what the documented
gunicorn command answers before any view runs.
"""

import gc
import json
import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

from .server import Answer, exchange, gunicorn, server_environment

ROOT = Path(__file__).resolve().parent.parent


def run_check(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment.update(DJANGO_SETTINGS_MODULE="project.settings_production", **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean():
    result = run_check(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS="api.example.com"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_refuses_to_start_without_a_secret():
    result = run_check(DJANGO_ALLOWED_HOSTS="api.example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_gunicorn_workers_freeze_what_they_loaded(monkeypatch):
    monkeypatch.delenv("DATABASE_HEALTH_CHECKS", raising=False)  # the file sets a default
    from gunicorn.config import Config

    # Loaded as gunicorn loads a config file: only names of its settings count.
    settings = Config()
    for name, value in runpy.run_path(str(ROOT / "project" / "gunicorn.conf.py")).items():
        if name in settings.settings:
            settings.set(name, value)
    gc.unfreeze()
    try:
        settings.post_worker_init(None)
        # This process has loaded Django, DRF and the app, as a worker has by then.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def leaks(answer: Answer) -> list[str]:
    """What of Django's debug page an answer shows: code, paths, settings."""
    shown = answer.raw.decode("latin-1")
    return [s for s in ("Traceback", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE",
                        str(ROOT)) if s in shown]


def test_the_documented_gunicorn_command_shows_no_debug_page(tmp_path):
    """``gunicorn -c project/gunicorn.conf.py project.wsgi`` with nothing else set."""
    env = server_environment(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    request = "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n"
    with gunicorn(env) as address:
        api = exchange(address, request.format("/v1/threads", "evil.example").encode())
        admin = exchange(address, request.format("/admin/", "evil.example").encode())
        # A request line gunicorn cannot parse: answered by gunicorn alone (docs/deployment.md).
        malformed = exchange(address, request.format("/v1 threads", "127.0.0.1").encode())

    for answer in (api, admin, malformed):
        assert answer.status == 400, answer.raw[:2000]
        assert not leaks(answer), answer.raw[:2000]
    error = json.loads(api.body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Host" in error["message"] and "evil.example" not in error["message"]
    assert api.headers["content-type"] == "application/json"
    assert api.headers["x-request-id"].startswith("req_")
    assert admin.headers["content-type"].startswith("text/html")
    assert b"Bad Request (400)" in admin.body
