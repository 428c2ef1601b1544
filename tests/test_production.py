"""The demo site's production profile: Django's deployment checks, gunicorn's configuration."""

import gc
import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

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
