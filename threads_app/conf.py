"""The app's settings, read from the host's ``THREADS_APP`` dict on every access.

Reading lazily (never at import time) is what lets ``override_settings`` and a
host's late configuration take effect.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Page size of list endpoints when the caller sends no `limit`.
    "DEFAULT_PAGE_SIZE": 20,
    # Largest `limit` a caller may ask for; OpenAI's was 100.
    "MAX_PAGE_SIZE": 100,
    # Most messages one `POST /threads` may carry (they are written in one transaction).
    "MAX_MESSAGES_PER_THREAD_CREATE": 100,
    # Most characters of text in one message, counted over all its text parts.
    "MAX_TEXT_LENGTH": 256_000,
    # DRF authentication classes of the API, as dotted paths. A host that has its
    # own users and tokens can put its own classes here.
    "AUTHENTICATION_CLASSES": ["threads_app.authentication.APIKeyAuthentication"],
    # An API key's `last_used_at` is written at most this often (seconds), so that
    # reads do not turn into a write on every request.
    "API_KEY_LAST_USED_INTERVAL": 60,
}


class AppSettings:
    """Typed, lazy view of ``settings.THREADS_APP`` over :data:`DEFAULTS`."""

    def _get(self, name: str) -> Any:
        overrides = getattr(settings, "THREADS_APP", None) or {}
        return overrides.get(name, DEFAULTS[name])

    @property
    def DEFAULT_PAGE_SIZE(self) -> int:
        return self._get("DEFAULT_PAGE_SIZE")

    @property
    def MAX_PAGE_SIZE(self) -> int:
        return self._get("MAX_PAGE_SIZE")

    @property
    def MAX_MESSAGES_PER_THREAD_CREATE(self) -> int:
        return self._get("MAX_MESSAGES_PER_THREAD_CREATE")

    @property
    def MAX_TEXT_LENGTH(self) -> int:
        return self._get("MAX_TEXT_LENGTH")

    @property
    def AUTHENTICATION_CLASSES(self) -> list[str]:
        return list(self._get("AUTHENTICATION_CLASSES"))

    @property
    def API_KEY_LAST_USED_INTERVAL(self) -> int:
        return self._get("API_KEY_LAST_USED_INTERVAL")


app_settings = AppSettings()
