"""`Authorization: Bearer <key>` with the app's own API keys.

Looking a key up is a query of its own: a third of what retrieving a message
cost above the floor (460,000 of 1.4 million instructions; callgrind, bench/).
A worker process therefore remembers the keys it has found, for
``API_KEY_CACHE_SECONDS``. A remembered key is *unconfirmed*: it may have been
revoked, or its user deactivated, since. Before the request answers, the key
is confirmed, either inside the query the view runs anyway (the store's
statements take the key as one more condition; see ``ThreadsAPIViewSet``) or
by :func:`confirm_key` on its own. A revoked key is thus refused on the very next
request; only the user object a request carries may be that many seconds old.
"""

import hmac
import time
from datetime import timedelta

from django.db import DatabaseError
from django.utils import timezone
from rest_framework import HTTP_HEADER_ENCODING
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from . import store
from .conf import app_settings
from .exceptions import INCORRECT_KEY, is_database_busy, logger
from .models import APIKey, hash_api_key

# Where a request keeps the remembered key it has still to confirm.
UNCONFIRMED = "threads_app_unconfirmed_key"


def authorization_header(request) -> bytes:
    """The ``Authorization`` header, as DRF's ``get_authorization_header`` gives it.

    Read from ``META``: ``request.headers`` would first build a mapping of every
    header, about 60,000 instructions of a 1.7 million request (callgrind, bench/).
    """
    header = request.META.get("HTTP_AUTHORIZATION", b"")
    return header.encode(HTTP_HEADER_ENCODING) if isinstance(header, str) else header


class RememberedKeys:
    """The keys a process found lately, by digest, each until its time runs out."""

    max_size = 1024

    def __init__(self) -> None:
        self.by_digest: dict[str, tuple[float, APIKey]] = {}

    def get(self, digest: str) -> APIKey | None:
        expires, api_key = self.by_digest.get(digest, (0.0, None))
        return api_key if time.monotonic() < expires else None

    def add(self, digest: str, api_key: APIKey, seconds: int) -> None:
        if seconds <= 0:
            return
        while len(self.by_digest) >= self.max_size:
            # The oldest entry first; another thread may have taken it already.
            self.by_digest.pop(next(iter(self.by_digest), None), None)
        self.by_digest[digest] = (time.monotonic() + seconds, api_key)

    def forget(self, api_key: APIKey) -> None:
        self.by_digest.pop(api_key.key_hash, None)


class APIKeyAuthentication(BaseAuthentication):
    """Our keys, sent as ``Authorization: Bearer sk-...``.

    A Bearer token not shaped like one of our keys is left to the next class in
    ``AUTHENTICATION_CLASSES``; one shaped like ours that is unknown or revoked is refused.
    """

    keyword = "Bearer"
    remembered = RememberedKeys()

    def authenticate(self, request):
        header = authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Malformed Authorization header: expected 'Bearer KEY'.")
        try:
            secret = header[1].decode()
        except UnicodeDecodeError:
            return None
        if not APIKey.is_secret_shaped(secret):
            # Not one of our keys: step aside, as DRF's own classes do, so that a host's
            # class can read its own Bearer tokens. If none does, the view answers 401.
            return None
        digest = hash_api_key(secret)
        api_key = self.remembered.get(digest)
        if api_key is not None:
            setattr(request, UNCONFIRMED, api_key)
            return api_key.user, api_key
        api_key = self.find_key(digest)
        # Never echo the key back: error messages end up in logs.
        if api_key is None or not api_key.user.is_active:
            raise AuthenticationFailed(INCORRECT_KEY)
        self.touch(api_key)
        self.remembered.add(digest, api_key, app_settings.API_KEY_CACHE_SECONDS)
        return api_key.user, api_key

    def find_key(self, digest: str) -> APIKey | None:
        """The active key of ``digest`` with its user; the digest compared in constant time."""
        candidate = store.find_key(digest)
        if candidate is None or not hmac.compare_digest(candidate.key_hash, digest):
            return None
        return candidate

    def touch(self, api_key: APIKey) -> None:
        """Record use, at most once per interval, so reads stay reads."""
        now = timezone.now()
        interval = timedelta(seconds=app_settings.API_KEY_LAST_USED_INTERVAL)
        if api_key.last_used_at is None or now - api_key.last_used_at >= interval:
            try:
                store.keys.record_use(api_key.pk, now)
            except DatabaseError as exc:
                if not is_database_busy(exc):
                    raise
                # A note for the key's owner, not worth the request. On Citus the keys
                # are a reference table, written on every node: with one worker down,
                # this write alone would refuse every request, on every shard.
                logger.warning("last use of API key %s not recorded: %s", api_key.pk, exc)
                return
            api_key.last_used_at = now

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


def unconfirmed_key(request) -> APIKey | None:
    """The remembered key ``request`` was authenticated with, while it is unconfirmed."""
    return getattr(request, UNCONFIRMED, None)


def key_confirmed(request) -> None:
    """Note that a query that held only for a usable key has found something."""
    setattr(request, UNCONFIRMED, None)


def confirm_key(request) -> None:
    """Confirm ``request``'s remembered key with a query of its own; 401 if it no longer holds.

    Its SQL is the store's (threads_app/store/): every endpoint that does not confirm the key
    in its own query runs it, and building it with the ORM each time cost more than
    running it.
    """
    api_key = unconfirmed_key(request)
    if api_key is None:
        return
    setattr(request, UNCONFIRMED, None)
    if not store.key_is_usable(api_key.pk):
        APIKeyAuthentication.remembered.forget(api_key)
        raise AuthenticationFailed(INCORRECT_KEY)
