"""What the staff admin reads and writes: its lists, a thread's transcript, its saves.

How they hold on 100,000 threads and millions of messages is told in
``threads_app/admin.py``. The admin's own querysets (``get_queryset``, its list
filters) come from Django's admin on the database the routers choose for
reading; functions that take one refine it. Writes run on the database the
app's writes go to, inside the caller's ``store.atomic()``, under the thread's
row lock, as the API's do.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import (
    Case,
    Count,
    Exists,
    Expression,
    F,
    IntegerField,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..items import MESSAGE, Role
from ..models import Message, Thread
from .database import read_alias, write_alias
from .search import is_item_id, text_condition

if TYPE_CHECKING:
    from ..pagination import PageRequest

# The list ----------------------------------------------------------------------


def estimated_rows(queryset: QuerySet) -> int | None:
    """The planner's estimate of the rows of ``queryset``'s table, on PostgreSQL.

    ``COUNT(*)`` reads the whole table (tens of milliseconds per million rows);
    ``pg_class.reltuples`` is kept fresh by autovacuum and read in well under a
    millisecond. None elsewhere, and until the table is first analyzed.
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    # -1 (PostgreSQL 14+) or 0 until the table is first analyzed: not an estimate.
    return int(row[0]) if row and row[0] > 0 else None


def first_keys(queryset: QuerySet, count: int) -> list[Any]:
    """The keys of the first ``count`` rows of ``queryset``, in its order."""
    return list(queryset.values_list("pk", flat=True)[:count])


def with_keys(queryset: QuerySet, keys: list[Any]) -> QuerySet:
    """The rows of ``queryset`` among ``keys``: its filter again, a probe per key."""
    return queryset.filter(pk__in=keys)


def threads_of_page(page: QuerySet, threads: QuerySet) -> list[Thread]:
    """The page's keys first, then its rows, by key, from ``threads``, in the page's order.

    Sorting by last activity computes it for every thread listed; sorting keys
    alone rather than whole rows with their owners took half the time
    (bench/admin.py; figures in docs/performance.md).
    """
    keys = list(page.values_list("pk", flat=True))
    rows = threads.in_bulk(keys)
    return [rows[key] for key in keys if key in rows]


def with_role(threads: QuerySet, role: str) -> QuerySet:
    """The threads of ``threads`` that hold a message of ``role``."""
    # EXISTS stops at the first such message, on the (thread, seq) index.
    return threads.filter(Exists(Message.objects.filter(thread=OuterRef("public_id"), role=role)))


def of_owner(threads: QuerySet, owner_key: Any) -> QuerySet:
    return threads.filter(owner__pk=owner_key)


def of_type(rows: QuerySet, kind: str) -> QuerySet:
    """Messages (``"message"``) or items of one other type."""
    return rows.filter(type=kind)


def last_activity() -> Expression:
    """When a thread last had a message: its newest message's time, else its own.

    "Newest" is the highest seq, which the (thread, seq) index finds in one probe.
    """
    latest = Message.objects.filter(thread=OuterRef("public_id")).order_by("-seq")
    latest = latest.values("created_at")
    return Coalesce(Subquery(latest[:1]), F("created_at"))


@dataclass(frozen=True)
class ListedThread:
    """What the thread list shows of one thread, beside its own fields."""

    message_count: int | None  # None: more than the limit, not counted
    last_activity: datetime
    first_user_message: Message | None
    # The first message that the search term finds, under a search.
    hit: Message | None


def listed_threads(
    keys: list[Any], count_limit: int, hit_term: str | None = None
) -> dict[Any, ListedThread]:
    """What the list shows of the threads of ``keys``, in two queries for the page.

    Their message count (up to ``count_limit``), last activity and first user
    message, and the first message ``hit_term`` (an item ID or a word) finds,
    are correlated subqueries over these rows only; the messages named are then
    read by key.
    """
    if not keys:
        return {}
    alias = read_alias()
    messages = Message.objects.filter(thread=OuterRef("public_id")).order_by()
    count = messages.values("thread").annotate(n=Count("*")).values("n")
    first_user = messages.filter(type=MESSAGE, role=Role.USER).order_by("seq")
    # A thread past the limit is not counted (None): its count would read it all.
    past_limit = Exists(messages[count_limit:])
    columns = {
        "message_count": Case(
            When(past_limit, then=Value(None)),
            default=Coalesce(Subquery(count, output_field=IntegerField()), 0),
            output_field=IntegerField(),
        ),
        "last_activity": last_activity(),
        "first_user": Subquery(first_user.values("pk")[:1]),
    }
    if hit_term is not None and is_item_id(hit_term):
        columns["hit"] = Subquery(messages.filter(public_id=hit_term).values("pk")[:1])
    elif hit_term is not None:
        hits = messages.filter(text_condition(hit_term)).order_by("seq")
        columns["hit"] = Subquery(hits.values("pk")[:1])
    rows = {
        pk: dict(zip(columns, values, strict=True))
        for pk, *values in Thread.objects.using(alias).filter(pk__in=keys)
        .order_by().annotate(**columns).values_list("pk", *columns)
    }
    wanted = {row.get(name) for row in rows.values() for name in ("first_user", "hit")}
    named = Message.objects.using(alias).in_bulk(wanted - {None})
    return {
        pk: ListedThread(row["message_count"], row["last_activity"],
                         named.get(row["first_user"]), named.get(row.get("hit")))
        for pk, row in rows.items()
    }


def owners(term: str, fields: list[str], limit: int) -> list[Model]:
    """Up to ``limit`` users who own threads and whose ``fields`` hold ``term``, by username.

    Each candidate is an index probe on the threads' (owner, seq), so that
    100,000 users answer as quickly as ten.
    """
    user_model = get_user_model()
    users = user_model._default_manager.filter(Exists(Thread.objects.filter(owner=OuterRef("pk"))))
    if term:
        matches = Q()
        for name in fields:
            matches |= Q(**{f"{name}__icontains": term})
        users = users.filter(matches)
    return list(users.order_by(user_model.USERNAME_FIELD)[:limit])


def user_by_key(key: Any) -> Model | None:
    """The user of primary key ``key``, or None."""
    return get_user_model()._default_manager.filter(pk=key).first()


def thread_named(public_id: str) -> Thread | None:
    """The thread of ID ``public_id``, or None."""
    return Thread.objects.using(read_alias()).filter(public_id=public_id).first()


def message_counts(thread_ids: list[str]) -> dict[str, int]:
    """How many messages and items each thread of ``thread_ids`` holds (none: absent)."""
    return dict(
        Message.objects.using(read_alias()).filter(thread__in=thread_ids)
        .order_by().values_list("thread").annotate(n=Count("*"))
    )


# A thread's transcript -----------------------------------------------------------


def transcript_rows(thread: Thread) -> QuerySet:
    """Every row of ``thread``, for the transcript's paginator."""
    return Message.objects.using(read_alias()).filter(thread=thread)


LOOKUPS = {">": "gt", "<": "lt"}  # a bound's comparison, as a lookup


def transcript_page(thread: Thread, page: "PageRequest") -> list[Message]:
    """Up to ``page.limit + 1`` rows of ``thread`` in the order of the scan.

    The transcript's cursors are positions (``seq``), not IDs: staff page by
    where a row stands, deleted rows included. A range of the (thread, seq) index.
    """
    rows = transcript_rows(thread)
    for position, operator in page.bounds:
        rows = rows.filter(**{f"seq__{LOOKUPS[operator]}": position})
    return list(rows.order_by("seq" if page.scan_ascending else "-seq")[: page.limit + 1])


def row_named(thread: Thread, public_id: str) -> QuerySet:
    """The row of ``thread`` that a staff member's ``public_id`` names, if any."""
    rows = transcript_rows(thread)
    # No ID holds a null character, and PostgreSQL cannot even compare a string that does.
    return rows.none() if "\x00" in public_id else rows.filter(public_id=public_id)


def row_id(thread: Thread, public_id: str) -> str | None:
    """``public_id`` if it is a row of ``thread``, else None."""
    return row_named(thread, public_id).values_list("public_id", flat=True).first()


def row_position(thread: Thread, public_id: str) -> int | None:
    """Where the row ``public_id`` of ``thread`` stands (its seq), or None."""
    return row_named(thread, public_id).values_list("seq", flat=True).first()


def position_before(thread: Thread, position: int, skip: int) -> int | None:
    """The position of the row ``skip + 1`` rows before ``position``, if there is one."""
    earlier = (transcript_rows(thread).filter(seq__lt=position).order_by("-seq")
               .values_list("seq", flat=True))
    return next(iter(earlier[skip : skip + 1]), None)


def first_row_since(thread: Thread, moment: datetime) -> str | None:
    """The ID of the first row of ``thread`` written at or after ``moment``."""
    return (transcript_rows(thread).filter(created_at__gte=moment).order_by("seq")
            .values_list("public_id", flat=True).first())


def latest_row(thread: Thread) -> str | None:
    """The ID of the latest row of ``thread``."""
    return transcript_rows(thread).order_by("-seq").values_list("public_id", flat=True).first()


def transcript_counts(thread: Thread, position: int | None) -> tuple[int, int]:
    """The rows of ``thread``, and those before ``position``: one pass over its index range."""
    before = {"before": Count("pk", filter=Q(seq__lt=position))} if position is not None else {}
    counts = transcript_rows(thread).aggregate(total=Count("pk"), **before)
    return counts["total"], counts.get("before", 0)


# Writes ----------------------------------------------------------------------------
#
# Each runs inside the caller's ``store.atomic()``, so that the caller's
# ``store.on_commit()`` runs once the write commits.


def lock_thread_named(public_id: str) -> Thread:
    """Take the thread's row lock, as the API does before writing into a thread."""
    return Thread.objects.using(write_alias()).select_for_update().get(public_id=public_id)


def kept_fields(model: type[Model], names: tuple[str, ...]) -> list[str]:
    """What a save of an edited row writes: every concrete field of ``model`` but its primary
    key and ``names``, the IDs that name the row and never change. Left out because on Citus
    they are the distribution column, which no UPDATE may set, even to the value it holds."""
    return [field.name for field in model._meta.concrete_fields
            if not field.primary_key and field.name not in names]


def save_thread(thread: Thread, change: bool) -> None:
    """Save a thread staff created or edited; an edit under the thread's lock."""
    if change:
        lock_thread_named(thread.public_id)
        thread.save(using=write_alias(), update_fields=kept_fields(Thread, ("public_id",)))
        return
    thread.save(using=write_alias())


def save_message(message: Message, change: bool) -> None:
    """Save a message staff added or edited, under its thread's lock.

    The lock first, as the API does, so that writes into one thread are
    serialized and commit order is list order; a new message's time is read
    once the lock is held.
    """
    lock_thread_named(message.thread_id)
    if change:
        message.save(using=write_alias(),
                     update_fields=kept_fields(Message, ("public_id", "thread")))
        return
    message.created_at = message.completed_at = timezone.now()
    message.save(using=write_alias())


def ids_in_order(threads: QuerySet) -> list[str]:
    """The IDs of ``threads``, in ID order: the order their locks are taken in."""
    return list(threads.order_by("public_id").values_list("public_id", flat=True))


def in_thread_order(rows: QuerySet) -> QuerySet:
    """``rows`` thread by thread, each thread's in order: the order their locks are taken in."""
    return rows.order_by("thread_id", "seq")
