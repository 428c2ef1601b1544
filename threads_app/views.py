"""The Threads and Messages endpoints, as DRF viewsets."""

import secrets
from collections.abc import Callable
from contextlib import ExitStack
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.db.models import DateTimeField, QuerySet, Subquery, Value
from django.db.transaction import TransactionManagementError
from django.http import HttpResponse
from django.utils import timezone
from django.utils.module_loading import import_string
from rest_framework import viewsets
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from . import signals, store, validation
from .authentication import (
    confirm_key,
    key_confirmed,
    unconfirmed_key,
    usable_key,
)
from .conf import app_settings
from .deletion import delete_message, delete_thread
from .exceptions import APIError, BadRequest, NotFound, exception_handler
from .filters import FilterBackend, MessageFilter
from .idempotency import IdempotencyPolicy, Replay
from .models import Message, Thread, Tombstone
from .pagination import (
    CursorPagination,
    InPartition,
    MessagePagination,
    PageRequest,
    ThreadPagination,
    cursor_subquery,
)
from .renderers import JSONOnlyNegotiation, JSONParser, JSONRenderer, RenderedResponse
from .representation import (
    deleted_object,
    message_object,
    message_object_from_row,
    message_rows,
    thread_object,
    thread_object_from_row,
    unix_seconds,
)
from .store import tombstones
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

    def notify(self, signal: Any, instance: Thread | Message) -> None:
        """Send ``signal`` once the current transaction commits."""
        name = "thread" if isinstance(instance, Thread) else "message"
        store.on_commit(
            lambda: signal.send(sender=type(instance), **{name: instance}, request=self.request)
        )

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

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        for backend in self.filter_backends:
            queryset = backend().filter_queryset(self.request, queryset, self)
        return queryset

    def get_body(self) -> dict[str, Any]:
        body = self.request.data
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.", code="invalid_body")
        return body

    def get_thread_id(self) -> str:
        return validation.check_thread_id(self.kwargs["thread_id"])

    def get_thread(self, *, for_update: bool = False) -> Thread:
        """The caller's thread named in the path; another owner's is as good as missing.

        ``for_update`` locks its row (PostgreSQL), which serializes the writes into
        one thread, so that commit order is list order.
        """
        thread_id = self.get_thread_id()
        queryset = Thread.objects.filter(owner=self.get_owner())
        if for_update:
            queryset = queryset.select_for_update()
        thread = queryset.filter(public_id=thread_id).first()
        if thread is None:
            raise NotFound(f"No thread found with id '{thread_id}'.")
        return thread

    def list_page(
        self,
        live_for: Callable[[Any, str, int | None], QuerySet],
        container: str,
        to_object: Callable[[Any], dict[str, Any]],
        select: Callable[[QuerySet], QuerySet] = lambda rows: rows,
        check_container: Callable[[], object] = lambda: None,
        partition: Callable[[dict[str, Any]], Any] = lambda values: None,
    ) -> HttpResponse:
        """A page of ``live_for(owner, container, key)`` in one query, cursors resolved inside it.

        A missing container (the query finds its thread itself), a key that no
        longer holds, and a cursor that names nothing all give an empty page,
        and so may an invalid parameter here. Only then do we check again, one
        query at a time in the order of the checks (401 for the key, 404 for the
        container, then each parameter), so that the answer is the one the
        first failing check gives. :meth:`page_rows` reads the page.
        ``partition(values)``: the value (or SQL) of the partition every row has,
        for the paginator's bounds.
        """
        paginator = self.get_paginator()
        query = self.request.query_params
        values = {"owner": self.get_owner().pk, "container": container,
                  "key": self.get_key_to_confirm(),
                  "after": query.get("after") or None, "before": query.get("before") or None}

        def build(values: dict[str, Any]) -> QuerySet:
            live = live_for(values["owner"], values["container"], values["key"])
            page_request = paginator.get_page_request(
                self.request,
                lambda object_id, param: cursor_subquery(live, values["container"], values[param]),
            )
            return paginator.page_queryset(
                select(self.filter_queryset(live)), page_request, partition(values)
            )

        try:
            # The cursors stay IDs: the page's query finds where they stand.
            page_request = paginator.get_page_request(
                self.request, lambda object_id, param: object_id
            )
            rows = self.page_rows(page_request, build, values)
            page = paginator.page_from_rows(rows, page_request)
        except (APIError, validation.ValidationError):
            page = None
        if page is not None and page.items:
            key_confirmed(self.request)
        else:
            confirm_key(self.request)
            check_container()
            live = live_for(values["owner"], container, None)
            page_request = paginator.get_page_request(
                self.request,
                lambda object_id, param: cursor_position(live, container, object_id, param),
            )
            if page is None:
                page = paginator.paginate_queryset(
                    select(self.filter_queryset(live)), page_request, partition(values)
                )
        return self.respond(
            paginator.get_paginated_data([to_object(row) for row in page.items], page)
        )

    def page_rows(
        self, page_request: PageRequest, build: Callable[[dict[str, Any]], QuerySet],
        values: dict[str, Any],
    ) -> list:
        """The rows of a page: ``build(values)``'s, the queryset of the page."""
        return list(build(values))


def owned_threads(owner: Any) -> QuerySet:
    """``owner``'s threads, the owner found by a subquery as a thread is for its messages.

    See :class:`InPartition`: without it, PostgreSQL may walk the primary key of
    every thread to fill a page, or fetch all the owner's threads to sort them.
    """
    owners = get_user_model().objects.filter(pk=owner).values("pk")
    return Thread.objects.filter(InPartition("owner_id", owners))


def owned_thread(owner: Any, thread_id: str, key: int | None = None) -> QuerySet:
    """``owner``'s thread ``thread_id``; only while the API key ``key`` holds, if one is given."""
    # No ordering: it yields one row, and PostgreSQL would sort it all the same.
    threads = Thread.objects.filter(owner=owner, public_id=thread_id).order_by()
    return threads if key is None else threads.filter(usable_key(key))


def messages_in_thread(owner: Any, thread_id: str, key: int | None = None) -> QuerySet:
    """The messages of ``owner``'s thread ``thread_id``, which a subquery finds."""
    threads = owned_thread(owner, thread_id, key)
    return Message.objects.in_threads_view().filter(
        InPartition("thread_id", threads.values("seq"))
    )


def cursor_position(live: QuerySet, container: str, object_id: str, param: str) -> int:
    """Where ``object_id`` stands among ``live``'s rows, or stood if deleted (and kept).

    The one place that answers a cursor the page's query could not place (it
    found no rows): 400, ``cursor_expired`` if its object was deleted longer ago
    than ``TOMBSTONE_RETENTION``, ``invalid_cursor`` if it names nothing, which
    is also what an expired cursor names once its tombstone is purged.
    """
    # One query for both places; the default ordering has no place in a UNION.
    live_position = live.filter(public_id=object_id).order_by().values_list(
        "seq", Value(None, output_field=DateTimeField())
    )
    dead_position = Tombstone.objects.filter(public_id=object_id, container=container)
    positions = live_position.union(dead_position.order_by().values_list("seq", "deleted_at"))
    # A live row first: an ID is never both, but the live one is where it stands if it were.
    found = sorted(positions, key=lambda row: row[1] is not None)
    since = tombstones.kept_since()
    if found:
        position, deleted_at = found[0]
        if deleted_at is None or since is None or deleted_at >= since:
            return position
        kept = tombstones.retention_text()
        raise BadRequest(
            f"Invalid '{param}': '{object_id}' names an object deleted more than {kept} ago; "
            f"a cursor naming a deleted object holds for {kept} only. List from the start "
            "again.",
            param,
            "cursor_expired",
        )
    expired = "" if since is None else (
        f", or names one deleted more than {tombstones.retention_text()} ago"
    )
    raise BadRequest(
        f"Invalid '{param}': '{object_id}' does not name an object of this list{expired}.",
        param,
        "invalid_cursor",
    )


class ThreadViewSet(ThreadsAPIViewSet):
    pagination_class = ThreadPagination
    key_confirming_actions = frozenset({"retrieve"})

    def get_queryset(self) -> QuerySet:
        return owned_threads(self.get_owner().pk)

    def list(self, request: Request) -> HttpResponse:
        container = Tombstone.owner_container(self.get_owner().pk)
        return self.list_page(
            lambda owner, _, key: self.get_queryset(), container, thread_object,
            partition=lambda values: values["owner"],
        )

    def create(self, request: Request) -> HttpResponse:
        fields = validation.clean_thread_create(self.get_body())
        with store.atomic():
            # Under the database's lock where it has one (SQLite's, taken at BEGIN), so that
            # threads listed in order of creation have their times in that order too.
            now = timezone.now()
            thread = Thread.objects.create(
                owner=self.get_owner(),
                created_at=now,
                metadata=fields["metadata"],
                tool_resources=fields["tool_resources"],
            )
            messages = Message.objects.bulk_create(
                Message(thread=thread, created_at=now, completed_at=now, **message)
                for message in fields["messages"]
            )
            self.notify(signals.thread_created, thread)
            for message in messages:
                self.notify(signals.message_created, message)
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
            for name, value in validation.apply_patches(changes, thread).items():
                setattr(thread, name, value)
            if changes:
                thread.save(update_fields=list(changes))
                self.notify(signals.thread_updated, thread)
            return self.respond(thread_object(thread))

    def destroy(self, request: Request, thread_id: str) -> HttpResponse:
        with store.atomic():
            thread = self.get_thread(for_update=True)
            delete_thread(thread)
            self.notify(signals.thread_deleted, thread)
            return self.respond(deleted_object(thread_id, "thread"))


class MessageViewSet(ThreadsAPIViewSet):
    pagination_class = MessagePagination
    key_confirming_actions = frozenset({"list", "retrieve", "create"})
    filter_backends = [FilterBackend]
    filterset_class = MessageFilter

    def get_message_id(self) -> str:
        return validation.check_message_id(self.kwargs["message_id"])

    def get_message(self, thread: Thread) -> Message:
        message_id = self.get_message_id()
        message = Message.objects.in_threads_view().filter(
            thread=thread, public_id=message_id
        ).first()
        if message is None:
            raise NotFound(f"No message found with id '{message_id}'.")
        return message

    def page_rows(
        self, page_request: PageRequest, build: Callable[[dict[str, Any]], QuerySet],
        values: dict[str, Any],
    ) -> list:
        """The store's page; the ORM's where the query string filters it (``run_id``)."""
        filters = self.filterset_class.base_filters
        if any(name in self.request.query_params for name in filters):
            return list(build(values))
        return store.message_page(
            values["owner"], values["container"], values["key"], page_request.limit,
            page_request.ascending, page_request.after, page_request.before,
            page_request.backwards,
        )

    def list(self, request: Request, thread_id: str) -> HttpResponse:
        thread_id = self.get_thread_id()
        return self.list_page(
            messages_in_thread,
            thread_id,
            lambda row: message_object_from_row(row, thread_id),
            select=message_rows,
            check_container=self.get_thread,
            partition=lambda values: Subquery(
                owned_thread(values["owner"], values["container"]).values("seq")
            ),
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
            message, self.get_owner().pk, thread_id, self.get_key_to_confirm()
        ):
            key_confirmed(request)
            self.notify(signals.message_created, message)
            if unix_seconds(message.created_at) != unix_seconds(now):
                answer = self.respond(message_object(message, thread_id))
            return answer
        confirm_key(request)
        with store.atomic():
            thread = self.get_thread(for_update=True)
            now = timezone.now()  # under the thread's lock, as the statement above takes it
            message = Message.objects.create(
                thread=thread, created_at=now, completed_at=now, **fields
            )
            self.notify(signals.message_created, message)
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
            for name, value in validation.apply_patches(changes, message).items():
                setattr(message, name, value)
            if changes:
                message.save(update_fields=list(changes))
                self.notify(signals.message_updated, message)
            return self.respond(message_object(message, thread.public_id))

    def destroy(self, request: Request, thread_id: str, message_id: str) -> HttpResponse:
        with store.atomic():
            thread = self.get_thread(for_update=True)
            message = self.get_message(thread)
            delete_message(thread, message)
            self.notify(signals.message_deleted, message)
            return self.respond(deleted_object(message.public_id, "thread.message"))
