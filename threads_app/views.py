"""The Threads and Messages endpoints, as DRF viewsets."""

import secrets
from collections.abc import Callable
from contextlib import ExitStack
from functools import cache
from typing import Any

from django.db import DatabaseError
from django.db.transaction import TransactionManagementError
from django.http import HttpResponse
from django.utils import timezone
from django.utils.module_loading import import_string
from rest_framework import viewsets
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from . import store, validation
from .authentication import confirm_key, key_confirmed, unconfirmed_key
from .conf import app_settings
from .exceptions import APIError, BadRequest, NotFound, exception_handler
from .filters import FilterBackend, MessageFilter
from .idempotency import IdempotencyPolicy, Replay
from .items import MESSAGE_OBJECT, THREAD_OBJECT
from .models import Message, Thread, Tombstone
from .pagination import CursorPagination, MessagePagination, PageRequest, ThreadPagination
from .renderers import JSONOnlyNegotiation, JSONParser, JSONRenderer, RenderedResponse
from .representation import (
    deleted_object,
    message_object,
    message_object_from_row,
    thread_object,
    thread_object_from_row,
    unix_seconds,
)
from .throttling import APIKeyRateThrottle
from .wsgi import body_length_unknown


def new_request_id() -> str:
    return "req_" + secrets.token_hex(16)


@cache
def imported(dotted_path: str) -> Any:
    """``import_string(dotted_path)``, imported once per path.

    The settings that name these paths are still read on every request, so
    ``override_settings`` keeps working: only the import is kept.
    """
    return import_string(dotted_path)


class PayloadTooLarge(APIError):
    status_code = 413


class LengthRequired(APIError):
    status_code = 411


class APIMixin:
    """What every view under the mount shares.

    Each policy is named here rather than taken from the host's
    ``REST_FRAMEWORK`` defaults, so that mounting the app into a site with
    other DRF settings changes nothing about how it answers.
    """

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    content_negotiation_class = JSONOnlyNegotiation
    throttle_classes: list = []
    filter_backends: list = []
    versioning_class = None
    metadata_class = None  # no OPTIONS introspection: OpenAI answered 405 there too

    def get_authenticators(self):
        return [imported(path)() for path in app_settings.AUTHENTICATION_CLASSES]

    def get_exception_handler(self):
        return exception_handler

    @property
    def default_response_headers(self) -> dict[str, str]:
        # DRF sends Allow on every answer. HTTP asks for it on a 405 only (the
        # exception handler adds it there), OpenAI sent it on none, and listing
        # the methods cost about 19,000 instructions a request (bench/, callgrind).
        return {}

    @property
    def allowed_methods(self) -> list[str]:
        # Without a metadata class DRF answers OPTIONS with 405: not a method to offer.
        methods = super().allowed_methods
        return methods if self.metadata_class else [m for m in methods if m != "OPTIONS"]

    def get_throttles(self):
        return [APIKeyRateThrottle()] if app_settings.THROTTLE_RATE else []

    def check_body_size(self, request: Request) -> None:
        """Refuse an oversized body, or one of unknown length, before reading any of it."""
        if body_length_unknown(request.META):
            # Django and DRF read Content-Length bytes, none without it: the body
            # would be taken as empty. ChunkedBodyMiddleware reads it where it can.
            raise LengthRequired(
                "This server cannot read a request body sent without a Content-Length "
                "header here (Transfer-Encoding: chunked, say). Send it with one.",
                code="length_required",
            )
        limit = app_settings.MAX_BODY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            raise PayloadTooLarge(
                f"The request body has {length} bytes; this server accepts at most {limit}.",
                code="request_too_large",
            )

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.check_body_size(request)

    def respond(self, data: Any, status: int = 200) -> HttpResponse:
        """``data`` as the answer, rendered now by the negotiated renderer."""
        renderer, media_type = self.request.accepted_renderer, self.request.accepted_media_type
        return RenderedResponse(data, renderer, media_type, status)

    def initialize_request(self, request, *args, **kwargs):
        # Set before anything can fail, so that every answer and log line carries it.
        request.request_id = new_request_id()
        return super().initialize_request(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["x-request-id"] = request.request_id
        return response


class InvalidURLView(APIMixin, APIView):
    """Whatever path under the mount matches no endpoint."""

    authentication_classes: list = []
    permission_classes: list = []

    def get_authenticators(self):
        return []

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise NotFound(f"Invalid URL ({request.method} {request.path})")


class ThreadsAPIViewSet(APIMixin, viewsets.ViewSet):
    """Writes build their answer inside their transaction (or before a write that is one
    statement): if anything fails, nothing is kept.

    A request may come with an API key remembered by this process and not yet
    confirmed (see authentication.py). The actions in ``key_confirming_actions``
    confirm it in their own query, given :meth:`get_key_to_confirm`; any other
    action, a claimed idempotency key, and every error answer have it confirmed
    first, so that a revoked key gets 401 and nothing else.
    """

    pagination_class: type[CursorPagination] = CursorPagination
    key_confirming_actions: frozenset[str] = frozenset()
    idempotency_policy_class = IdempotencyPolicy
    idempotency_record = None
    idempotency_transaction: ExitStack | None = None

    def get_owner(self) -> Any:
        return imported(app_settings.OWNER_FUNCTION)(self.request)

    def get_key_to_confirm(self) -> int | None:
        """The primary key of the API key this request's query must confirm, if any."""
        api_key = unconfirmed_key(self.request)
        return None if api_key is None else api_key.pk

    def get_idempotency_policy(self) -> IdempotencyPolicy:
        return self.idempotency_policy_class()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.action not in self.key_confirming_actions:
            confirm_key(request)
        policy = self.get_idempotency_policy()
        if policy.get_key(request) is None:
            return  # a read, or a write without a key to claim
        confirm_key(request)  # a claim is a write
        self.idempotency_record = policy.claim(request, self.get_owner())
        if self.idempotency_record is not None:
            # The action and its stored answer commit in one transaction (see
            # idempotency.py), which finalize_response commits; an error the
            # action raises rolls it back first, in handle_exception.
            self.idempotency_transaction = ExitStack()
            self.idempotency_transaction.enter_context(store.atomic())

    def end_idempotency_transaction(self, exc: BaseException | None = None) -> None:
        """Commit the action's transaction, or roll it back if ``exc`` ended the action."""
        transaction, self.idempotency_transaction = self.idempotency_transaction, None
        if transaction is not None:
            transaction.__exit__(type(exc) if exc else None, exc,
                                 exc.__traceback__ if exc else None)

    def handle_exception(self, exc):
        self.end_idempotency_transaction(exc)
        # An error answered to a key that no longer holds would tell it something.
        try:
            confirm_key(self.request)
        except AuthenticationFailed as refused:
            exc = refused
        except (DatabaseError, TransactionManagementError):
            pass  # the answer is an error already; the key's fate can wait
        if isinstance(exc, Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        if unconfirmed_key(request) is not None:
            # An action of key_confirming_actions that did not: never answer unconfirmed.
            try:
                confirm_key(request)
            except (AuthenticationFailed, DatabaseError) as failed:
                response = self.handle_exception(failed)
        if self.idempotency_transaction is not None:
            try:
                self.get_idempotency_policy().complete(
                    self.idempotency_record, response.status_code, response.data
                )
                self.end_idempotency_transaction()
            except Exception as failed:
                response = self.handle_exception(failed)  # which rolls the action back
            else:
                self.idempotency_record = None
        if self.idempotency_record is not None:
            # The action failed before storing its answer: keep a 4xx for replay,
            # drop the claim on a 5xx so that the retry runs again.
            self.get_idempotency_policy().complete(
                self.idempotency_record, response.status_code, response.data
            )
        return super().finalize_response(request, response, *args, **kwargs)

    def get_paginator(self) -> CursorPagination:
        return self.pagination_class()

    def get_filters(self) -> dict[str, Any]:
        """The values of the list's filters the query string gives, validated."""
        values: dict[str, Any] = {}
        for backend in self.filter_backends:
            values.update(backend().get_filter_values(self.request, self))
        return values

    def get_body(self) -> dict[str, Any]:
        body = self.request.data
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.", code="invalid_body")
        return body

    def get_thread_id(self) -> str:
        return validation.check_thread_id(self.kwargs["thread_id"])

    def thread_not_found(self) -> NotFound:
        return NotFound(f"No thread found with id '{self.get_thread_id()}'.")

    def get_thread(self, *, for_update: bool = False) -> Thread:
        """The caller's thread named in the path; another owner's is as good as missing.

        ``for_update`` locks its row (see ``store.lock_thread``): call it inside
        ``store.atomic()``, before anything else the write reads or writes.
        """
        thread_id = self.get_thread_id()
        find = store.lock_thread if for_update else store.find_thread
        thread = find(self.get_owner().pk, thread_id)
        if thread is None:
            raise self.thread_not_found()
        return thread

    def check_cursors(
        self, page_request: PageRequest, position: Callable[[str], tuple[Any, bool]],
        container: str,
    ) -> None:
        """400 for the first cursor ``position`` places nowhere in the list ``container``
        (``position(ID)``: where the ID stands, and whether its place expired).

        The one place that answers a cursor the page's query could not place:
        ``cursor_expired`` if it names an object deleted longer ago than
        ``TOMBSTONE_RETENTION`` (its tombstone not yet purged), else
        ``invalid_cursor``, which is also what such a cursor gets once the
        tombstone is purged: the message then says it may be either.
        """
        for param in ("after", "before"):
            object_id = getattr(page_request, param)
            if object_id is None:
                continue
            found, expired = position(object_id)
            if found is not None:
                continue
            if expired:
                kept = store.tombstones.retention_text()
                raise BadRequest(
                    f"Invalid '{param}': '{object_id}' names an object deleted more than "
                    f"{kept} ago; a cursor naming a deleted object holds for {kept} only. "
                    "List from the start again.",
                    param,
                    "cursor_expired",
                )
            maybe_expired = "" if app_settings.TOMBSTONE_RETENTION is None else (
                f", or names one deleted more than {store.tombstones.retention_text()} ago"
            )
            raise BadRequest(
                f"Invalid '{param}': '{object_id}' does not name an object of this list"
                f"{maybe_expired}.",
                param,
                "invalid_cursor",
            )

    def list_page(
        self,
        read_page: Callable[[PageRequest, int | None], list],
        position: Callable[[str], Any],
        container: str,
        to_object: Callable[[Any], dict[str, Any]],
        check_container: Callable[[], object] = lambda: None,
    ) -> HttpResponse:
        """A page of the store's in one query, cursors resolved inside it.

        ``read_page(page_request, key)`` reads the rows, in the order of the scan;
        ``key``: the API key it is to confirm, if any. A missing container (the
        query finds its thread itself), a key that no longer holds, and a cursor
        that names nothing all give an empty page, and so may an invalid parameter
        here. Only then do we check again, one query at a time in the order of the
        checks (401 for the key, 404 for the container, then each parameter, each
        cursor's ``position`` in the list ``container``: a thread's ID, or an
        owner's ``Tombstone.owner_container``), so that the answer is the one the first failing
        check gives.
        """
        paginator = self.get_paginator()
        try:
            # The cursors stay IDs: the page's query finds where they stand.
            page_request = paginator.get_page_request(self.request)
            rows = read_page(page_request, self.get_key_to_confirm())
            page = paginator.page_from_rows(rows, page_request)
        except (APIError, validation.ValidationError):
            page = None
        if page is not None and page.items:
            key_confirmed(self.request)
        else:
            confirm_key(self.request)
            check_container()
            page_request = paginator.get_page_request(self.request)
            self.check_cursors(page_request, position, container)
            if page is None:
                page = paginator.page_from_rows(read_page(page_request, None), page_request)
        return self.respond(
            paginator.get_paginated_data([to_object(row) for row in page.items], page)
        )


class ThreadViewSet(ThreadsAPIViewSet):
    pagination_class = ThreadPagination
    key_confirming_actions = frozenset({"retrieve"})

    def list(self, request: Request) -> HttpResponse:
        owner = self.get_owner().pk
        return self.list_page(
            lambda page_request, key: store.thread_page(owner, page_request),
            lambda thread_id: store.thread_position(owner, thread_id),
            Tombstone.owner_container(owner),
            thread_object_from_row,
        )

    def create(self, request: Request) -> HttpResponse:
        fields = validation.clean_thread_create(self.get_body())
        with store.atomic():
            thread = store.create_thread(
                self.get_owner(), fields["metadata"], fields["tool_resources"],
                fields["messages"], request=request,
            )
            return self.respond(thread_object(thread))

    def retrieve(self, request: Request, thread_id: str) -> HttpResponse:
        # One query finds the thread and confirms the key; the checks one at a time
        # only if it finds nothing, so that a revoked key still hears 401 first.
        row = store.thread(self.get_owner().pk, self.get_thread_id(), self.get_key_to_confirm())
        if row is not None:
            key_confirmed(request)
            return self.respond(thread_object_from_row(row))
        confirm_key(request)
        return self.respond(thread_object(self.get_thread()))  # a missing thread answers 404

    def partial_update(self, request: Request, thread_id: str) -> HttpResponse:
        self.get_thread_id()
        changes = validation.clean_thread_update(self.get_body())
        with store.atomic():
            thread = self.get_thread(for_update=True)
            store.update_thread(thread, changes, request=request)
            return self.respond(thread_object(thread))

    def destroy(self, request: Request, thread_id: str) -> HttpResponse:
        with store.atomic():
            store.delete_thread(self.get_thread(for_update=True), request=request)
            return self.respond(deleted_object(thread_id, THREAD_OBJECT))


class MessageViewSet(ThreadsAPIViewSet):
    pagination_class = MessagePagination
    key_confirming_actions = frozenset({"list", "retrieve", "create"})
    filter_backends = [FilterBackend]
    filterset_class = MessageFilter

    def get_message_id(self) -> str:
        return validation.check_message_id(self.kwargs["message_id"])

    def get_message(self, thread: Thread) -> Message:
        """The message named in the path, of ``thread`` (locked: the caller writes)."""
        message_id = self.get_message_id()
        message = store.find_message(thread, message_id, writing=True)
        if message is None:
            raise NotFound(f"No message found with id '{message_id}'.")
        return message

    def list(self, request: Request, thread_id: str) -> HttpResponse:
        thread_id = self.get_thread_id()
        owner = self.get_owner().pk
        return self.list_page(
            lambda page_request, key: store.message_page(
                owner, thread_id, key, page_request, **self.get_filters()
            ),
            lambda message_id: store.message_position(owner, thread_id, message_id),
            thread_id,
            lambda row: message_object_from_row(row, thread_id),
            check_container=self.get_thread,
        )

    def create(self, request: Request, thread_id: str) -> HttpResponse:
        thread_id = self.get_thread_id()
        fields = validation.clean_message_create(self.get_body())
        # The thread found, locked and written into in one statement (see threads_app/store/),
        # which commits at once and stamps the message with the time it took the lock.
        # The answer is built first, with the time of now, so that nothing can fail
        # after the commit: built again with the stored time only if its second differs.
        now = timezone.now()
        message = store.new_message({"created_at": now, "completed_at": now, **fields})
        answer = self.respond(message_object(message, thread_id))
        if store.insert_message(
            message, self.get_owner().pk, thread_id, self.get_key_to_confirm(), request=request
        ):
            key_confirmed(request)
            if unix_seconds(message.created_at) != unix_seconds(now):
                answer = self.respond(message_object(message, thread_id))
            return answer
        confirm_key(request)
        with store.atomic():
            thread = self.get_thread(for_update=True)  # a missing thread answers 404
            message = store.create_message(thread, fields, request=request)
            return self.respond(message_object(message, thread.public_id))

    def retrieve(self, request: Request, thread_id: str, message_id: str) -> HttpResponse:
        thread_id = self.get_thread_id()
        try:
            message_id = self.get_message_id()
        except validation.ValidationError:
            self.get_thread()  # a missing thread answers first
            raise
        # One query finds the thread and the message; the thread alone only if that fails.
        row = store.message(self.get_owner().pk, thread_id, message_id, self.get_key_to_confirm())
        if row is None:
            confirm_key(request)
            self.get_thread()
            raise NotFound(f"No message found with id '{message_id}'.")
        key_confirmed(request)
        return self.respond(message_object_from_row(row, thread_id))

    def partial_update(self, request: Request, thread_id: str, message_id: str) -> HttpResponse:
        self.get_thread_id()
        self.get_message_id()
        changes = validation.clean_message_update(self.get_body())
        with store.atomic():
            thread = self.get_thread(for_update=True)
            # The thread's lock covers its messages: every write into a thread takes it first.
            message = self.get_message(thread)
            store.update_message(message, changes, request=request)
            return self.respond(message_object(message, thread.public_id))

    def destroy(self, request: Request, thread_id: str, message_id: str) -> HttpResponse:
        with store.atomic():
            thread = self.get_thread(for_update=True)
            message = self.get_message(thread)
            store.delete_message(thread, message, request=request)
            return self.respond(deleted_object(message.public_id, MESSAGE_OBJECT))
