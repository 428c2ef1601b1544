"""Requests per API key, counted in a cache that every worker process shares."""

from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from .conf import app_settings


class APIKeyRateThrottle(SimpleRateThrottle):
    """DRF's sliding-window throttle, with its rate and cache taken from ``THREADS_APP``.

    The rate is never read from the host's ``REST_FRAMEWORK`` settings, and the
    counters live in the cache named by ``THROTTLE_CACHE``, not in process memory.
    """

    scope = "threads_app"

    def __init__(self) -> None:
        self.cache = caches[app_settings.THROTTLE_CACHE]
        super().__init__()

    def get_rate(self) -> str | None:
        return app_settings.THROTTLE_RATE

    def get_cache_key(self, request, view) -> str | None:
        # One budget per key; a host's own authentication has no key, so per user.
        api_key = request.auth
        ident = f"key:{api_key.pk}" if hasattr(api_key, "key_hash") else f"user:{request.user.pk}"
        return f"threads_app:throttle:{ident}"
