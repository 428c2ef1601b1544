"""The app's settings, read from the host's ``THREADS_APP`` dict when first used.

Reading lazily (never at import time) is what lets a host's late configuration
take effect. Each value is then kept until ``THREADS_APP`` changes, which
``override_settings`` announces with ``setting_changed`` (a change in place, or
a deletion, sends nothing and is not noticed): a request reads several, and
each read through ``django.conf.settings`` cost about 3,000 instructions
(bench/, callgrind).
"""

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Page size of list endpoints when the caller sends no `limit`.
    "DEFAULT_PAGE_SIZE": 20,
    # Largest `limit` a caller may ask for; OpenAI's was 100.
    "MAX_PAGE_SIZE": 100,
    # Most messages one `POST /threads` may carry (they are written in one transaction).
    "MAX_MESSAGES_PER_THREAD_CREATE": 100,
    # Most characters of text in one message, counted over all its text parts.
    "MAX_TEXT_LENGTH": 256_000,
    # Largest conversation item, in bytes of its stored JSON: room for a message
    # at the text limit even if every character takes 6 bytes escaped.
    "MAX_ITEM_SIZE": 2 * 1024 * 1024,
    # A page of conversation items ends before the item that would take it past
    # this many bytes of stored JSON (never before its first item).
    "MAX_PAGE_BYTES": 8 * 1024 * 1024,
    # DRF authentication classes of the API, as dotted paths. A host that has its
    # own users and tokens can put its own classes here.
    "AUTHENTICATION_CLASSES": ["threads_app.authentication.APIKeyAuthentication"],
    # Dotted path of a function(request) -> user that owns the threads a request
    # creates and may see; a host can map requests to a team account, say.
    "OWNER_FUNCTION": "threads_app.ownership.request_user",
    # An API key's `last_used_at` is written at most this often (seconds), so that
    # reads do not turn into a write on every request.
    "API_KEY_LAST_USED_INTERVAL": 60,
    # A worker process remembers an API key it has looked up for this long
    # (seconds), and confirms it inside the query the request runs anyway
    # instead of looking it up again. 0 looks every key up on every request.
    "API_KEY_CACHE_SECONDS": 60,
    # Largest request body accepted, in bytes; larger ones answer 413.
    "MAX_BODY_SIZE": 8 * 1024 * 1024,
    # How long an Idempotency-Key's first answer is kept for replay (seconds).
    "IDEMPOTENCY_KEY_RETENTION": 24 * 60 * 60,
    # A request still running after this long (seconds) is taken as dead, and a
    # retry with its key runs again instead of answering 409.
    "IDEMPOTENCY_IN_FLIGHT_TIMEOUT": 120,
    # How long (seconds) a cursor naming a deleted thread or message keeps working;
    # after it, such a cursor answers 400 and purge_tombstones deletes what marked
    # the place. 30 days outlasts any walk through a list and a client that syncs
    # a thread with `after=<last seen>` at least monthly; None keeps them forever.
    "TOMBSTONE_RETENTION": 30 * 24 * 60 * 60,
    # Requests per API key, as DRF writes rates ("100/min", "5000/hour"); None: no throttling.
    "THROTTLE_RATE": None,
    # The cache that holds throttling counters. It must be shared by every worker
    # process (Redis, Memcached or the database cache); a local-memory cache
    # would give each process its own count.
    "THROTTLE_CACHE": "default",
    # Aliases in DATABASES of PostgreSQL streaming replicas of PRIMARY_DATABASE, which
    # threads_app.routers.PrimaryReplicaRouter reads threads and messages from; with
    # none, it sends every read to the primary.
    "REPLICA_DATABASES": [],
    # The alias the router writes to, and reads from where a replica could be behind.
    "PRIMARY_DATABASE": "default",
    # The cache that keeps where each client's last write ended, for the router. It
    # must be shared by every worker process, as THROTTLE_CACHE must.
    "REPLICA_CACHE": "default",
    # After a write, its client reads from the primary until the replica has replayed
    # it, or for this many seconds at most: above the replicas' worst lag.
    "READ_YOUR_WRITES_SECONDS": 300,
}


class AppSettings:
    """Typed, lazy view of ``settings.THREADS_APP`` over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            overrides = getattr(settings, "THREADS_APP", None) or {}
            value = self.values[name] = overrides.get(name, DEFAULTS[name])
            return value

    def reload(self) -> None:
        self.values.clear()

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
    def MAX_ITEM_SIZE(self) -> int:
        return self._get("MAX_ITEM_SIZE")

    @property
    def MAX_PAGE_BYTES(self) -> int:
        return self._get("MAX_PAGE_BYTES")

    @property
    def AUTHENTICATION_CLASSES(self) -> list[str]:
        return list(self._get("AUTHENTICATION_CLASSES"))

    @property
    def OWNER_FUNCTION(self) -> str:
        return self._get("OWNER_FUNCTION")

    @property
    def API_KEY_LAST_USED_INTERVAL(self) -> int:
        return self._get("API_KEY_LAST_USED_INTERVAL")

    @property
    def API_KEY_CACHE_SECONDS(self) -> int:
        return self._get("API_KEY_CACHE_SECONDS")

    @property
    def MAX_BODY_SIZE(self) -> int:
        return self._get("MAX_BODY_SIZE")

    @property
    def IDEMPOTENCY_KEY_RETENTION(self) -> int:
        return self._get("IDEMPOTENCY_KEY_RETENTION")

    @property
    def IDEMPOTENCY_IN_FLIGHT_TIMEOUT(self) -> int:
        return self._get("IDEMPOTENCY_IN_FLIGHT_TIMEOUT")

    @property
    def TOMBSTONE_RETENTION(self) -> int | None:
        return self._get("TOMBSTONE_RETENTION")

    @property
    def THROTTLE_RATE(self) -> str | None:
        return self._get("THROTTLE_RATE")

    @property
    def THROTTLE_CACHE(self) -> str:
        return self._get("THROTTLE_CACHE")

    @property
    def REPLICA_DATABASES(self) -> list[str]:
        return list(self._get("REPLICA_DATABASES"))

    @property
    def PRIMARY_DATABASE(self) -> str:
        return self._get("PRIMARY_DATABASE")

    @property
    def REPLICA_CACHE(self) -> str:
        return self._get("REPLICA_CACHE")

    @property
    def READ_YOUR_WRITES_SECONDS(self) -> int:
        return self._get("READ_YOUR_WRITES_SECONDS")


app_settings = AppSettings()


def reload_app_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "THREADS_APP":
        app_settings.reload()


setting_changed.connect(reload_app_settings)
