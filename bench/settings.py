"""The demo site's settings, with the floor view mounted beside the API.

Everything that shapes a request (middleware, database options, the app's
settings) is the demo site's, so that the floor and the API are served alike.
"""

from project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["*"]
# Quiet: a log line per request would be part of what we measure.
LOGGING = {"version": 1, "disable_existing_loggers": False, "handlers": {}, "loggers": {}}
