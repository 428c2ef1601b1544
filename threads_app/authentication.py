"""`Authorization: Bearer <key>` with the app's own API keys."""

import hmac
from datetime import timedelta

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from .conf import app_settings
from .models import APIKey, hash_api_key
from .statements import StatementCache


class APIKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"
    statements = StatementCache()

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Malformed Authorization header: expected 'Bearer KEY'.")
        try:
            secret = header[1].decode()
        except UnicodeDecodeError:
            secret = ""
        api_key = self.find_key(secret) if secret else None
        # Never echo the key back: error messages end up in logs.
        if api_key is None or not api_key.user.is_active:
            raise AuthenticationFailed("Incorrect API key provided.")
        self.touch(api_key)
        return api_key.user, api_key

    def find_key(self, secret: str) -> APIKey | None:
        """The active key of ``secret`` with its user, as ``APIKey.objects.find_active`` finds it.

        Every request asks this, so the query is compiled once (statements.py).
        """
        digest = hash_api_key(secret)
        candidates = self.statements.instances(
            "find_key",
            lambda values: APIKey.objects.select_related("user")
            .filter(key_hash=values["digest"], revoked_at__isnull=True)[:1],
            {"digest": "\x00threads_app:digest"},
            {"digest": digest},
        )
        candidate = candidates[0] if candidates else None
        if candidate is None or not hmac.compare_digest(candidate.key_hash, digest):
            return None
        return candidate

    def touch(self, api_key: APIKey) -> None:
        """Record use, at most once per interval, so reads stay reads."""
        now = timezone.now()
        interval = timedelta(seconds=app_settings.API_KEY_LAST_USED_INTERVAL)
        if api_key.last_used_at is None or now - api_key.last_used_at >= interval:
            APIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
