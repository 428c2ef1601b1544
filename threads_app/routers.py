"""Reads from PostgreSQL streaming replicas, each client still reading its own writes.

``PrimaryReplicaRouter`` (in the host's ``DATABASE_ROUTERS``) sends the app's
writes to ``PRIMARY_DATABASE``, and its reads of threads and messages to one
of ``REPLICA_DATABASES``. A streaming replica applies the primary's commits
in order, and each write into a thread holds the thread's lock, so a replica
always shows a consistent past state of every thread; what it may lack is the
last few commits. Reads stay on the primary where that would be wrong:

- inside a transaction (a write's own reads: the lock, the row it updates);
- for the rest of a request once it has written;
- for a client whose last write the replica has not yet replayed. After a
  request that wrote, ``ReadYourWritesMiddleware`` keeps the position where
  the primary's WAL then ended, for that client, in ``REPLICA_CACHE``; a
  request of that client reads the replica again only once the replica's
  replay has passed that position (``pg_last_wal_replay_lsn()``), or once
  ``READ_YOUR_WRITES_SECONDS`` have passed. A position, not a delay: it holds
  however far the replica lags, and sends a client back to the replica as
  soon as it has caught up.

API keys and idempotency records are always read on the primary: a key
created a moment ago must let its client in, and a record is read under a lock.
"""

import hashlib
import random
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.db.models import Model

from .conf import app_settings

APP_LABEL = "threads_app"
POSITIONS_KEY_PREFIX = "threads_app.written."


@dataclass
class ClientReads:
    """What the router knows of the request it serves."""

    client: str | None  # who sends it (a digest of its credentials), if anyone is named
    wrote: bool = False  # it wrote the app's data: its reads go to the primary from then on
    alias: str | None = None  # where its other reads go, chosen at its first read


current_reads: ContextVar[ClientReads | None] = ContextVar("threads_app_reads", default=None)

# The highest WAL position each replica has been seen to replay, in this process.
# Replay only moves forward, so a client's write at or below it needs no query.
replayed: dict[str, int] = {}


def wal_position(alias: str, function: str) -> int | None:
    """``function``'s WAL position on ``alias``, in bytes; None where it has none."""
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT {function}() - '0/0'::pg_lsn")
        (position,) = cursor.fetchone()
    return None if position is None else int(position)


def has_replayed(alias: str, position: int) -> bool:
    """Whether the replica ``alias`` has applied the WAL up to ``position``."""
    if replayed.get(alias, -1) >= position:
        return True
    # None: the server replays nothing, so it is no replica (a promoted one stays behind).
    now = wal_position(alias, "pg_last_wal_replay_lsn")
    if now is None:
        return False
    replayed[alias] = max(now, replayed.get(alias, -1))
    return now >= position


def positions_key(client: str) -> str:
    return POSITIONS_KEY_PREFIX + client


def last_write(client: str) -> int | None:
    """Where the primary's WAL ended after ``client``'s last write, if that is still kept."""
    return caches[app_settings.REPLICA_CACHE].get(positions_key(client))


def remember_write(client: str) -> None:
    """Keep where the primary's WAL ends now, after ``client``'s write has committed.

    The insert position, not the flushed one: a commit without
    ``synchronous_commit`` returns before its WAL is flushed, and is still
    below the insert position.
    """
    position = wal_position(app_settings.PRIMARY_DATABASE, "pg_current_wal_insert_lsn")
    cache = caches[app_settings.REPLICA_CACHE]
    key = positions_key(client)
    # Two requests of one client may finish in either order: keep the later position.
    cache.set(key, max(position, cache.get(key) or 0), app_settings.READ_YOUR_WRITES_SECONDS)


class PrimaryReplicaRouter:
    """The app's writes to the primary; its reads to a replica when they may lag."""

    # Models of the app read on the primary whatever the client (see the module's docstring).
    primary_models = frozenset({"apikey", "idempotencyrecord"})

    def get_primary(self) -> str:
        return app_settings.PRIMARY_DATABASE

    def get_replicas(self) -> list[str]:
        return app_settings.REPLICA_DATABASES

    def reads_may_lag(self, model: type[Model]) -> bool:
        """Whether a read of ``model`` outside a transaction may see a past state."""
        return model._meta.model_name not in self.primary_models

    def choose_replica(self, replicas: list[str]) -> str:
        return random.choice(replicas)

    def get_read_database(self, reads: ClientReads, replicas: list[str]) -> str:
        """Where the reads of a request go: a replica, unless its client's last write
        has not reached that replica yet."""
        replica = self.choose_replica(replicas)
        position = None if reads.client is None else last_write(reads.client)
        if position is None or has_replayed(replica, position):
            return replica
        return self.get_primary()

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        if model._meta.app_label != APP_LABEL:
            return None  # the host's models are its other routers' business
        primary, replicas = self.get_primary(), self.get_replicas()
        if not replicas or not self.reads_may_lag(model) or connections[primary].in_atomic_block:
            return primary
        reads = current_reads.get()
        if reads is None:
            return self.choose_replica(replicas)  # no request: a command, a shell
        if reads.wrote:
            return primary
        if reads.alias is None:
            # One database for all of a request's reads, so that they agree.
            reads.alias = self.get_read_database(reads, replicas)
        return reads.alias

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        if model._meta.app_label != APP_LABEL:
            return None
        reads = current_reads.get()
        if reads is not None and self.reads_may_lag(model):
            reads.wrote = True
        return self.get_primary()

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # The replicas hold the primary's rows: an object read from one may point at
        # an object read from another.
        if APP_LABEL in (obj1._meta.app_label, obj2._meta.app_label):
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # A replica takes its schema from the primary, and refuses writes.
        return False if db in self.get_replicas() else None


class ReadYourWritesMiddleware:
    """Names each request's client for :class:`PrimaryReplicaRouter`, and after a
    request that wrote, keeps where the primary's WAL ended for that client."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def get_client(self, request: Any) -> str | None:
        """Who sends ``request``: a digest of its credentials (an API key, a session).

        A client is what holds the credentials, so every process of an SDK
        client that shares one key reads what any of them wrote.
        """
        credentials = (request.META.get("HTTP_AUTHORIZATION")
                       or request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        if not credentials:
            return None
        return hashlib.blake2b(credentials.encode(), digest_size=16).hexdigest()

    def __call__(self, request: Any) -> Any:
        if not app_settings.REPLICA_DATABASES:
            return self.get_response(request)
        reads = ClientReads(self.get_client(request))
        token = current_reads.set(reads)
        try:
            response = self.get_response(request)
        finally:
            current_reads.reset(token)
        # Here every transaction of the request has ended.
        if reads.wrote and reads.client is not None:
            remember_write(reads.client)
        return response
