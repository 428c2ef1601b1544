"""The production profile of the demo site: ``DJANGO_SETTINGS_MODULE=project.settings_production``.

Everything secret or site-specific comes from the environment, and the site
refuses to start without it. ``python manage.py check --deploy`` is clean.
"""

import os

from project.settings import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
ALLOWED_HOSTS = os.environ["DJANGO_ALLOWED_HOSTS"].split(",")

# HTTPS only. Behind a proxy that terminates TLS, set DJANGO_TRUST_X_FORWARDED_PROTO=1
# (and make sure the proxy overwrites that header) so Django knows the request was secure.
SECURE_SSL_REDIRECT = True
if os.environ.get("DJANGO_TRUST_X_FORWARDED_PROTO") == "1":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", 365 * 24 * 60 * 60))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
