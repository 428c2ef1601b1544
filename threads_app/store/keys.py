"""API keys: the key of a digest with its user, whether one still holds, what staff do with keys."""

from datetime import datetime
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.db.models import Exists, QuerySet

from ..models import APIKey
from .database import run, sql_dialect
from .sql import Names, model_instance


def read_alias() -> str:
    return router.db_for_read(APIKey)


def write_alias() -> str:
    return router.db_for_write(APIKey)


@cache
def usable_key_sql(alias: str, vendor: str) -> str:
    return Names(alias).usable_key() + " LIMIT 1"


def key_is_usable(key: int) -> bool:
    """Whether the API key ``key`` still authenticates: not revoked, its user active."""
    alias = read_alias()
    return bool(run(alias, usable_key_sql(alias, sql_dialect(alias)), [key]))


def usable_keys() -> QuerySet:
    """Keys that authenticate: not revoked, and of a user who is active."""
    keys = APIKey.objects.filter(revoked_at__isnull=True)
    user_model = APIKey._meta.get_field("user").related_model
    if any(field.name == "is_active" for field in user_model._meta.concrete_fields):
        keys = keys.filter(user__is_active=True)
    return keys


def usable_key_condition(key: int) -> Exists:
    """A condition that holds while the key ``key`` authenticates, for an ORM query."""
    return Exists(usable_keys().filter(pk=key))


def record_use(key: int, moment: datetime) -> None:
    """Note that the key ``key`` was used at ``moment``.

    In a savepoint inside a caller's transaction, so that a refused write (see
    ``APIKeyAuthentication.touch``) rolls back alone.
    """
    alias = write_alias()
    with transaction.atomic(using=alias):
        APIKey.objects.using(alias).filter(pk=key).update(last_used_at=moment)


def save_key(api_key: APIKey) -> None:
    api_key.save(using=write_alias())


def create_key(username: str, name: str = "") -> tuple[APIKey, str, bool]:
    """A new key for the user ``username``, who is created (without a password) if missing.

    Returns the key, its secret (never stored) and whether the user was created.
    """
    user_model = get_user_model()
    with transaction.atomic(using=write_alias()):
        user, created = user_model._default_manager.get_or_create(
            **{user_model.USERNAME_FIELD: username}
        )
        if created:
            user.set_unusable_password()
            user.save()
        api_key, secret = APIKey.generate(user, name=name)
    return api_key, secret, created


def in_state(keys: QuerySet, revoked: bool) -> QuerySet:
    """The keys of ``keys`` that are revoked, or those that are not."""
    return keys.filter(revoked_at__isnull=not revoked)


def revoke_keys(keys: QuerySet) -> int:
    """Revoke the keys of ``keys`` not yet revoked; return how many were."""
    unrevoked: list[Any] = list(in_state(keys, revoked=False))
    for api_key in unrevoked:
        api_key.revoke()
    return len(unrevoked)


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
    alias = read_alias()
    rows = run(alias, find_key_sql(alias, sql_dialect(alias)), [digest])
    if not rows:
        return None
    key_fields = len(APIKey._meta.concrete_fields)
    api_key = model_instance(APIKey, alias, rows[0][:key_fields])
    api_key.user = model_instance(APIKey._meta.get_field("user").related_model, alias,
                                  rows[0][key_fields:])
    return api_key
