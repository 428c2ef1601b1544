"""The store: threads, their messages, API keys, and tombstones for cursors.

Every table is keyed by a sequential integer (``seq``) and carries the public
ID beside it. Sequential keys keep inserts cheap as tables grow, and the
message order of a thread is ``seq`` order: total, and equal to insertion
order even within one second. A message names its thread by the thread's
public ID, so the ID in a URL is enough to find a thread's messages, items and
tombstones: it is the key they are read by here, and the key a Citus cluster
distributes them by (``distribute_threads_app``, docs/scaling.md).
"""

import hashlib
import re
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from .fields import JSONTextField
from .ids import ID_MAX_LENGTH, new_message_id, new_thread_id
from .items import MESSAGE, THREADS_ROLES, MessageStatus, Role


class Thread(models.Model):
    seq = models.BigAutoField(primary_key=True)
    public_id = models.CharField(
        "ID", max_length=ID_MAX_LENGTH, unique=True, default=new_thread_id, editable=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="threads",
        db_index=False,  # covered by the (owner, seq) index
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    metadata = JSONTextField(default=dict, blank=True)
    tool_resources = JSONTextField(default=dict, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["owner", "seq"], name="threads_app_thread_owner")]

    def __str__(self) -> str:
        return self.public_id


# The rows a Threads client sees: user and assistant messages, no other items
# (items.THREADS_ROLES says where else this rule is read).
IN_THREADS_VIEW = models.Q(type=MESSAGE, role__in=THREADS_ROLES)


class MessageQuerySet(models.QuerySet):
    def in_threads_view(self) -> "MessageQuerySet":
        """The rows a Threads client sees: user and assistant messages, no other items."""
        return self.filter(IN_THREADS_VIEW)


class Message(models.Model):
    """One item of a thread's history; most are messages (see ``items.py``).

    ``content`` holds a message's parts in the Threads shape, which the
    Threads API returns as stored. ``item`` holds the Conversations form of a
    row where it cannot be derived from the other columns: every item that is
    not a message, and a message written through the Conversations API.
    """

    seq = models.BigAutoField(primary_key=True)
    # Unique within its thread (see Meta): an ID a client gives is checked against
    # that conversation only, so no answer depends on what other owners hold.
    public_id = models.CharField(
        "ID", max_length=ID_MAX_LENGTH, default=new_message_id, editable=False
    )
    # By the thread's public ID, not its seq: the ID a request names finds the
    # rows with no lookup, and on Citus finds their shard (migration 0009).
    thread = models.ForeignKey(
        Thread,
        on_delete=models.CASCADE,
        to_field="public_id",
        related_name="messages",
        db_index=False,  # covered by the (thread, seq) index
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    type = models.CharField(max_length=40, default=MESSAGE)
    role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    content = JSONTextField(default=list)
    attachments = JSONTextField(default=list, blank=True)
    metadata = JSONTextField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.COMPLETED
    )
    incomplete_details = JSONTextField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    incomplete_at = models.DateTimeField(null=True, blank=True)
    assistant_id = models.CharField(max_length=ID_MAX_LENGTH, null=True, blank=True)
    run_id = models.CharField(max_length=ID_MAX_LENGTH, null=True, blank=True)
    item = JSONTextField(null=True, blank=True, editable=False)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        # A page must be read in index order, whatever statistics PostgreSQL has
        # (a table never analyzed has none): the planner may otherwise fetch the
        # whole thread and sort it. The Threads view reads its own partial index,
        # whose predicate (IN_THREADS_VIEW, repeated by every query of that view)
        # makes it the cheapest path without statistics, and as cheap as before
        # with them; the run index holds the rare rows with a run, so that an
        # unfiltered page cannot choose it (migration 0006, tests/test_queries.py).
        indexes = [
            models.Index(fields=["thread", "seq"], name="threads_app_message_thread"),
            models.Index(
                fields=["thread", "seq"], condition=IN_THREADS_VIEW,
                name="threads_app_message_view",
            ),
            models.Index(
                fields=["thread", "run_id", "seq"], condition=models.Q(run_id__isnull=False),
                name="threads_app_message_run",
            ),
        ]
        constraints = [
            # Led by the ID, so that a lookup by ID alone (the admin's search) is a probe too.
            models.UniqueConstraint(fields=["public_id", "thread"], name="threads_app_message_id"),
        ]

    def __str__(self) -> str:
        return self.public_id


class Tombstone(models.Model):
    """Where a deleted thread or message stood, so that a cursor naming it still works.

    It keeps the position only: no content, no metadata. ``container`` is the
    thread's public ID for a message, and ``owner:<pk>`` for a thread. It marks
    a position for ``TOMBSTONE_RETENTION`` after ``deleted_at``; then a cursor
    naming it is refused, and ``purge_tombstones`` deletes it.
    """

    id = models.BigAutoField(primary_key=True)
    public_id = models.CharField(max_length=ID_MAX_LENGTH)
    container = models.CharField(max_length=ID_MAX_LENGTH)
    seq = models.BigIntegerField()
    deleted_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        # The purge finds the oldest tombstones through it, whatever their container.
        indexes = [models.Index(fields=["deleted_at"], name="threads_app_tombstone_deleted")]
        constraints = [
            # An item ID is unique within its thread only, and so is its tombstone.
            models.UniqueConstraint(
                fields=["container", "public_id"], name="threads_app_tombstone_id"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @staticmethod
    def owner_container(owner_pk: object) -> str:
        return f"owner:{owner_pk}"


def hash_api_key(key: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


class APIKey(models.Model):
    """A secret that authenticates as its user. Only its hash and a prefix are stored."""

    SECRET_PREFIX = "sk-"
    SECRET_BYTES = 32
    # What every secret generate() makes looks like: the prefix, then the random bytes
    # in URL-safe base64 without padding. Authentication leaves other tokens to the
    # host's own classes, so a key of another shape would never authenticate.
    SECRET_BODY_LENGTH = -(-4 * SECRET_BYTES // 3)  # base64: 4 characters per 3 bytes
    SECRET_SHAPE = re.compile(
        re.escape(SECRET_PREFIX) + "[A-Za-z0-9_-]" + "{" + str(SECRET_BODY_LENGTH) + "}"
    )
    DISPLAY_PREFIX_LENGTH = 10

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="threads_api_keys"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}…"

    @classmethod
    def generate(cls, user: models.Model, name: str = "") -> tuple["APIKey", str]:
        """Create a key for ``user``; return it with the secret, which is never stored."""
        api_key = cls(user=user, name=name)
        secret = api_key.assign_secret()
        api_key.save()
        return api_key, secret

    def assign_secret(self) -> str:
        """Give this unsaved key a new secret and return it; only its hash and prefix are kept."""
        secret = self.SECRET_PREFIX + secrets.token_urlsafe(self.SECRET_BYTES)
        self.prefix = secret[: self.DISPLAY_PREFIX_LENGTH]
        self.key_hash = hash_api_key(secret)
        return secret

    @classmethod
    def is_secret_shaped(cls, token: str) -> bool:
        """Tell whether ``token`` has the shape of a secret made by :meth:`generate`."""
        return cls.SECRET_SHAPE.fullmatch(token) is not None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class IdempotencyRecord(models.Model):
    """The first answer to a POST sent with an ``Idempotency-Key``, to replay on a retry.

    While ``status_code`` is null the first request is still running (or died:
    a claim older than the in-flight timeout is taken over).
    """

    KEY_MAX_LENGTH = 255

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.TextField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="threads_app_idempotency_key")
        ]

    def __str__(self) -> str:
        return self.key
