"""The test site as gunicorn serves it in tests: on the test database the suite made.

The suite names that database in ``THREADS_APP_TEST_DATABASE`` when it starts
the server (``tests.settings`` alone would name one of its own, by process ID).
Everything else about the connection is as ``project.database`` makes it.

With ``DATABASE_POOLER_URL`` (PgBouncer in transaction mode in front of the
same server, as ``scripts/pgbouncer.sh`` starts it), the server connects
through it, with persistent connections as docs/deployment.md sets them: an
app server behind a pooler, as docs/scaling.md describes it.
"""

import os

import dj_database_url

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["THREADS_APP_TEST_DATABASE"]

if os.environ.get("DATABASE_POOLER_URL"):
    pooler = dj_database_url.parse(os.environ["DATABASE_POOLER_URL"])
    DATABASES["default"].update(HOST=pooler["HOST"], PORT=pooler["PORT"], CONN_MAX_AGE=60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "threads_app": {"handlers": ["stderr"], "level": "INFO"},
        "django.request": {"handlers": ["stderr"], "level": "WARNING"},
    },
}
