"""`Authorization: Bearer <key>` with the app's own API keys."""

from datetime import timedelta

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from .conf import app_settings
from .models import APIKey


class APIKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

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
        api_key = APIKey.objects.find_active(secret) if secret else None
        # Never echo the key back: error messages end up in logs.
        if api_key is None or not api_key.user.is_active:
            raise AuthenticationFailed("Incorrect API key provided.")
        self.touch(api_key)
        return api_key.user, api_key

    def touch(self, api_key: APIKey) -> None:
        """Record use, at most once per interval, so reads stay reads."""
        now = timezone.now()
        interval = timedelta(seconds=app_settings.API_KEY_LAST_USED_INTERVAL)
        if api_key.last_used_at is None or now - api_key.last_used_at >= interval:
            APIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
