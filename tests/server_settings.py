"""The test site as gunicorn serves it in tests: on the test database the suite made.

The suite names that database in ``THREADS_APP_TEST_DATABASE`` when it starts
the server (``tests.settings`` alone would name one of its own, by process ID).
Everything else about the connection is as ``project.database`` makes it.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["THREADS_APP_TEST_DATABASE"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "threads_app": {"handlers": ["stderr"], "level": "INFO"},
        "django.request": {"handlers": ["stderr"], "level": "WARNING"},
    },
}
