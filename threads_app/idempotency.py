"""Idempotency keys: a POST sent with `Idempotency-Key` is done at most once per owner and key.

The SDK retries a POST after a time-out or a 5xx without a key of its own, so
a client that wants exactly-once sends one. The first request claims the key
(committed at once, so that a concurrent repeat sees it and answers 409); its
write and its stored answer then commit in one transaction, so a crash
between the two cannot leave a write without its answer, nor the reverse.
"""

import hashlib
from datetime import timedelta
from typing import Any

import orjson
from django.db import IntegrityError
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.request import Request

from . import store
from .conf import app_settings
from .exceptions import APIError, BadRequest
from .models import IdempotencyRecord


class KeyInFlight(APIError):
    status_code = 409


class KeyReused(APIError):
    status_code = 422


class Replay(Exception):
    """Raised instead of running a request whose key already has an answer."""

    def __init__(self, record: IdempotencyRecord):
        super().__init__(record.key)
        self.response = HttpResponse(
            record.response_body, status=record.status_code, content_type="application/json"
        )
        self.response["Idempotent-Replayed"] = "true"


class IdempotencyPolicy:
    header = "Idempotency-Key"
    max_key_length = IdempotencyRecord.KEY_MAX_LENGTH
    methods = ("POST",)

    def get_retention(self) -> timedelta:
        return timedelta(seconds=app_settings.IDEMPOTENCY_KEY_RETENTION)

    def get_in_flight_timeout(self) -> timedelta:
        return timedelta(seconds=app_settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT)

    def get_key(self, request: Request) -> str | None:
        if request.method not in self.methods:
            return None
        # From META, as authentication.authorization_header reads its header.
        key = request.META.get("HTTP_" + self.header.upper().replace("-", "_"))
        if key is None:
            return None
        # Control characters (a NUL, say) are refused: PostgreSQL cannot store them.
        if not key or len(key) > self.max_key_length or not key.isprintable():
            raise BadRequest(
                f"Invalid '{self.header}' header: expected 1 to {self.max_key_length} "
                "printable characters.",
                code="invalid_idempotency_key",
            )
        return key

    def fingerprint(self, request: Request) -> str:
        """Method, path and body; the body compared as parsed JSON, not as bytes."""
        request_line = [request.method, request.path, request.data]
        return hashlib.sha256(orjson.dumps(request_line, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def claim(self, request: Request, owner: Any) -> IdempotencyRecord | None:
        """Claim the request's key, or raise :class:`Replay`, 409 or 422."""
        key = self.get_key(request)
        if key is None:
            return None
        fingerprint = self.fingerprint(request)
        try:
            with store.atomic():
                return self._claim(owner, key, fingerprint)
        except IntegrityError:
            # A concurrent request inserted the same key first; now we can see it.
            with store.atomic():
                return self._claim(owner, key, fingerprint)

    def _claim(self, owner: Any, key: str, fingerprint: str) -> IdempotencyRecord:
        now = timezone.now()
        record = store.idempotency.locked_record(owner, key)
        if record is not None and record.created_at < now - self.get_retention():
            store.idempotency.delete_record(record)
            record = None
        if record is None:
            return store.idempotency.new_record(owner, key, fingerprint, now)
        if record.fingerprint != fingerprint:
            raise KeyReused(
                f"This {self.header} was already used with another request; "
                "use a new key for a new request.",
                code="idempotency_key_reused",
            )
        if record.status_code is not None:
            raise Replay(record)
        if record.claimed_at > now - self.get_in_flight_timeout():
            raise KeyInFlight(
                f"A request with this {self.header} is still being processed; retry shortly.",
                code="idempotency_key_in_flight",
            )
        # The first attempt died mid-way (its write rolled back with it): run again.
        store.idempotency.reclaim(record, now)
        return record

    def complete(self, record: IdempotencyRecord, status_code: int, data: Any) -> None:
        """Store the answer to replay; 5xx answers are not kept, so that a retry runs again."""
        if status_code >= 500:
            store.idempotency.release_claim(record)
            return
        store.idempotency.keep_answer(record, status_code, orjson.dumps(data).decode())

    def purge(self) -> int:
        """Delete the keys past retention; return how many went."""
        return store.idempotency.purge_records(timezone.now() - self.get_retention())
