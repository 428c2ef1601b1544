"""Idempotency records: a key's claim, the answer kept for it, and their purge.

Records are on the database the app's writes go to (:func:`~.database.write_alias`),
whatever a router says of their own model: a record's answer commits in the
same transaction as the write it answers (see ``threads_app/idempotency.py``).
Every statement names the record's owner, by which a Citus cluster distributes
them: each then reaches one shard (``distribute_threads_app``).
"""

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from ..models import IdempotencyRecord
from .database import write_alias


def locked_record(owner: Any, key: str) -> IdempotencyRecord | None:
    """The record of ``owner``'s ``key``, its row locked until the transaction ends."""
    records = IdempotencyRecord.objects.using(write_alias()).select_for_update()
    return records.filter(owner=owner, key=key).first()


def new_record(owner: Any, key: str, fingerprint: str, now: datetime) -> IdempotencyRecord:
    """Claim ``key`` for ``owner``; raises IntegrityError if a concurrent request did first."""
    return IdempotencyRecord.objects.using(write_alias()).create(
        owner=owner, key=key, fingerprint=fingerprint, created_at=now, claimed_at=now
    )


def the_record(record: IdempotencyRecord) -> QuerySet:
    """``record``'s row, found by its owner and key (``Model.save()`` and ``delete()``
    would find it by its key alone)."""
    return IdempotencyRecord.objects.using(write_alias()).filter(
        owner=record.owner_id, pk=record.pk
    )


def delete_record(record: IdempotencyRecord) -> None:
    the_record(record).delete()


def reclaim(record: IdempotencyRecord, now: datetime) -> None:
    """Take over a claim whose request died mid-way."""
    record.claimed_at = now
    the_record(record).update(claimed_at=now)


def keep_answer(record: IdempotencyRecord, status_code: int, body: str) -> None:
    """Store the answer a repeat of the request is given."""
    the_record(record).update(status_code=status_code, response_body=body)


def release_claim(record: IdempotencyRecord) -> None:
    """Drop a claim that has no answer yet, so that a retry runs the request again."""
    the_record(record).filter(status_code__isnull=True).delete()


def purge_records(cutoff: datetime) -> int:
    """Delete the records created before ``cutoff``; return how many went."""
    deleted, _ = IdempotencyRecord.objects.using(write_alias()).filter(
        created_at__lt=cutoff
    ).delete()
    return deleted
