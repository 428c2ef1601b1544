"""API keys: whether one still holds, and the key of a digest."""

from functools import cache

from django.db import router

from ..models import APIKey
from .database import run, sql_dialect
from .sql import Names


@cache
def usable_key_sql(alias: str, vendor: str) -> str:
    return Names(alias).usable_key() + " LIMIT 1"


def key_is_usable(key: int) -> bool:
    """Whether the API key ``key`` still authenticates: not revoked, its user active."""
    alias = router.db_for_read(APIKey)
    return bool(run(alias, usable_key_sql(alias, sql_dialect(alias)), [key]))


def find_key(digest: str) -> APIKey | None:
    """The unrevoked key of ``digest``, with its user (a process's first request with it)."""
    return (APIKey.objects.select_related("user")
            .filter(key_hash=digest, revoked_at__isnull=True).first())
