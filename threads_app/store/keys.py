"""API keys: the key of a digest, with its user, and whether a key still holds."""

from functools import cache

from django.db import router

from ..models import APIKey
from .database import run, sql_dialect
from .sql import Names, model_instance


@cache
def usable_key_sql(alias: str, vendor: str) -> str:
    return Names(alias).usable_key() + " LIMIT 1"


def key_is_usable(key: int) -> bool:
    """Whether the API key ``key`` still authenticates: not revoked, its user active."""
    alias = router.db_for_read(APIKey)
    return bool(run(alias, usable_key_sql(alias, sql_dialect(alias)), [key]))


@cache
def find_key_sql(alias: str, vendor: str) -> str:
    """The unrevoked key of a digest joined to its user: the key's concrete fields, then
    the user's. Parameter: the digest."""
    names = Names(alias)
    user_model = APIKey._meta.get_field("user").related_model
    columns = [
        *(f"k.{names.quote(field.column)}" for field in APIKey._meta.concrete_fields),
        *(f"u.{names.quote(field.column)}" for field in user_model._meta.concrete_fields),
    ]
    return (f"SELECT {', '.join(columns)} FROM {names.table(APIKey)} k "
            f"{names.key_user_join('k', 'u')} "
            f"WHERE {names.column(APIKey, 'key_hash', 'k')} = %s "
            f"AND {names.column(APIKey, 'revoked_at', 'k')} IS NULL LIMIT 1")


def find_key(digest: str) -> APIKey | None:
    """The unrevoked key of ``digest``, with its user (a process's first request with it).

    As ``select_related("user")`` would give them, from SQL built once: a lookup on every
    request (``API_KEY_CACHE_SECONDS`` at 0) built the ORM's query anew each time. Whether
    the user is active is the caller's to check, as before.
    """
    alias = router.db_for_read(APIKey)
    rows = run(alias, find_key_sql(alias, sql_dialect(alias)), [digest])
    if not rows:
        return None
    key_fields = len(APIKey._meta.concrete_fields)
    api_key = model_instance(APIKey, alias, rows[0][:key_fields])
    api_key.user = model_instance(APIKey._meta.get_field("user").related_model, alias,
                                  rows[0][key_fields:])
    return api_key
