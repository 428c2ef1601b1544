"""Settings of the demo site: the app mounted at /v1/, the admin at /admin/."""

import os
import tempfile
from pathlib import Path

from project.database import database_from_url

BASE_DIR = Path(__file__).resolve().parent.parent

# The demo's secret is for local use only; set DJANGO_SECRET_KEY anywhere else.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-insecure-secret-key-change-me")
# Off unless asked for (DJANGO_DEBUG=1): its error pages show code, paths and settings.
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "threads_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"), BASE_DIR / "db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Every setting of the app, at its default; see threads_app/conf.py.
THREADS_APP = {
    "DEFAULT_PAGE_SIZE": 20,
    "MAX_PAGE_SIZE": 100,
    "MAX_MESSAGES_PER_THREAD_CREATE": 100,
    "MAX_TEXT_LENGTH": 256_000,
}

# A PostgreSQL streaming replica of that database (docs/scaling.md): the app's reads
# that may lag go to it, and a client that has written reads from the primary until
# the replica has its write. Where each client's last write ended is kept in a cache
# all the workers of this machine share; several machines need Redis or Memcached.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = database_from_url(os.environ["DATABASE_REPLICA_URL"],
                                             BASE_DIR / "db.sqlite3")
    DATABASE_ROUTERS = ["threads_app.routers.PrimaryReplicaRouter"]
    MIDDLEWARE.append("threads_app.routers.ReadYourWritesMiddleware")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": Path(tempfile.gettempdir()) / "threads_app_demo_cache",
        }
    }
    THREADS_APP["REPLICA_DATABASES"] = ["replica"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"threads_app": {"handlers": ["console"], "level": "INFO"}},
}
