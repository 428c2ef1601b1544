"""A minimal host site for the test suite: the app mounted at another prefix than the demo's.

``REST_FRAMEWORK`` is deliberately hostile: if any of our views fell back on
the host's DRF defaults, the suite would see session auth, the browsable API,
page-number pagination or a foreign exception handler.
"""

import os
import tempfile
from pathlib import Path

from project.database import database_from_url

SECRET_KEY = "tests-only-secret-key"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

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
    "tests.instrumentation.QueryRecorder",  # a host's query monitoring
    # Does nothing until THREADS_APP names replicas (tests/test_replica.py does); here
    # for good, since the live server builds its middleware once.
    "threads_app.routers.ReadYourWritesMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).resolve().parent.parent / "templates"],
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

_default_sqlite = Path(tempfile.gettempdir()) / "threads_app_tests.sqlite3"
DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"), _default_sqlite)}
# One test database per run, so that runs side by side do not collide.
_test_db = f"threads_app_test_{os.getpid()}"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: the live server's threads must see one real database
    # with WAL and immediate transactions, as in production.
    test_file = Path(tempfile.gettempdir()) / f"{_test_db}.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(test_file)}
else:
    DATABASES["default"]["TEST"] = {"NAME": _test_db}
    # The live server answers each request on a thread of its own; a persistent
    # connection would outlive the thread and keep the test database open.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# A second database, for a host whose router sends the app's models elsewhere
# (tests/test_store.py); created only for the tests that ask for it.
DATABASES["second"] = {
    **DATABASES["default"],
    "OPTIONS": dict(DATABASES["default"].get("OPTIONS", {})),
    "TEST": {"NAME": DATABASES["default"]["TEST"]["NAME"].replace(_test_db, _test_db + "_2")},
}
# A streaming replica of the server of "default" (scripts/postgres_replica.sh prints
# its URL), for tests/test_replica.py: it shows the test database once it has
# replayed its creation. MIRROR: no database of its own is made for it.
_replica_url = os.environ.get("DATABASE_REPLICA_URL")
if _replica_url and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["replica"] = {
        **database_from_url(_replica_url, _default_sqlite),
        "CONN_MAX_AGE": 0,
        "TEST": {"MIRROR": "default"},
    }
# A database of a vendor the app does not run on, for the system check
# (tests/test_checks.py). Its backend never connects, and no test asks for it.
DATABASES["mysql"] = {"ENGINE": "tests.mysql_backend", "NAME": "unused"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.BrowsableAPIRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.FormParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 3,
    "EXCEPTION_HANDLER": "tests.hostile.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": "1/day"},
    "DEFAULT_SCHEMA_CLASS": "rest_framework.schemas.openapi.AutoSchema",
}

# As hostile for the OpenAPI document: it must come out as the demo serves it.
SPECTACULAR_SETTINGS = {
    "TITLE": "Host",
    "OAS_VERSION": "3.0.3",
    "SCHEMA_PATH_PREFIX": "/nowhere",
    "SERVERS": [{"url": "https://host.example"}],
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {"schemas": {"HostThing": {"type": "string"}}},
}

THREADS_APP: dict = {}
