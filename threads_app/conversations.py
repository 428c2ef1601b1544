"""The Conversations endpoints, served from the store the Threads endpoints use.

A conversation is a thread seen through the other API (``conv_<S>`` is
``thread_<S>``), and its items are the thread's rows; see ``items.py``.
"""

from datetime import datetime
from typing import Any

from django.db import IntegrityError
from django.db.models import Func, IntegerField, QuerySet
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.request import Request

from . import signals, store, validation
from .conf import app_settings
from .deletion import delete_message, delete_thread
from .exceptions import NotFound
from .items import (
    CONVERSATION_PREFIX,
    conversation_object,
    item_object,
    new_item_id,
    thread_id,
    threads_content,
)
from .models import Message, Thread, Tombstone
from .pagination import CursorPagination, Page, PageRequest
from .representation import deleted_object, list_object
from .views import ThreadsAPIViewSet, cursor_position, with_positions


class OctetLength(Func):
    """The length of a text column in bytes, without sending its value to us."""

    function = "OCTET_LENGTH"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra_context):
        # SQLite's LENGTH counts characters of text, and bytes of a blob.
        return self.as_sql(
            compiler, connection, template="LENGTH(CAST(%(expressions)s AS BLOB))",
            **extra_context,
        )


def stored_size() -> Coalesce:
    """The bytes of a row's stored JSON: its item, or the Threads parts it is made from."""
    return Coalesce(OctetLength("item"), OctetLength("content"), 0)


class ItemPagination(CursorPagination):
    """Items have IDs of many prefixes, and no `before` (OpenAI's items list had none).

    A page is bounded in bytes as well as in items: it ends before the item that
    would take it past MAX_PAGE_BYTES of stored JSON (never before its first),
    and says ``has_more``; the SDK's pager asks for the rest from ``last_id``.
    """

    id_prefix = ""
    cursor_params = ("after",)

    def get_max_bytes(self) -> int:
        return app_settings.MAX_PAGE_BYTES

    def read_page(self, queryset: QuerySet, page_request: PageRequest) -> Page:
        # The sizes first, then only the rows that fit: a worker never holds more
        # of a page than it answers.
        sizes = self.page_queryset(
            queryset.annotate(stored_size=stored_size()).values_list("seq", "stored_size"),
            page_request,
        )
        budget, total, chosen = self.get_max_bytes(), 0, []
        seen = 0
        for seq, size in sizes:
            seen += 1
            if len(chosen) == page_request.limit or (chosen and total + size > budget):
                break
            chosen.append(seq)
            total += size
        rows = {row.seq: row for row in queryset.filter(seq__in=chosen)}
        items = [rows[seq] for seq in chosen if seq in rows]  # one may be gone since
        return Page(items, has_more=seen > len(chosen))


def taken_ids(thread: Thread, ids: list[str]) -> set[str]:
    """Those of ``ids`` that name an item of ``thread`` now or named one before.

    IDs are unique within a conversation, and never reused there. Whatever
    other conversations hold (another owner's above all) is not looked at, so
    the answer to a given ID tells nothing about them.
    """
    live = Message.objects.filter(thread=thread, public_id__in=ids)
    dead = Tombstone.objects.filter(container=thread.public_id, public_id__in=ids)
    return set(live.values_list("public_id", flat=True)) | set(
        dead.values_list("public_id", flat=True)
    )


def item_rows(thread: Thread, items: list[dict[str, Any]], param: str = "items") -> list[Message]:
    """Model rows for cleaned items, in order; a given ID must be new to the conversation."""
    given = [item["public_id"] for item in items if item["public_id"]]
    taken = taken_ids(thread, given) if given else set()
    now = timezone.now()
    rows = []
    for index, item in enumerate(items):
        public_id = item["public_id"] or new_item_id(item["type"])
        if public_id in taken:
            raise validation.ValidationError(
                f"Invalid '{param}[{index}].id': '{public_id}' is already in use.",
                f"{param}[{index}].id",
                "id_in_use",
            )
        rows.append(item_row(thread, item, public_id, now))
    return rows


def item_row(thread: Thread, item: dict[str, Any], public_id: str, created_at: datetime) -> Message:
    """The model row of one cleaned item (the import builds its rows here too)."""
    row = Message(thread=thread, public_id=public_id, created_at=created_at, type=item["type"])
    row.item = {**item["item"], "id": public_id}
    if item["type"] == "message":
        row.role, row.status, row.completed_at = item["role"], item["status"], created_at
        row.content = threads_content(item["content"])
    else:
        # The column takes a message's statuses; a type may have others, or none.
        row.status = row.item.get("status") or "completed"
    return row


class ConversationAPIViewSet(ThreadsAPIViewSet):
    """Threads under their conversation names."""

    def get_conversation_id(self) -> str:
        return validation.check_id(
            self.kwargs["conversation_id"], CONVERSATION_PREFIX.rstrip("_"), "conversation_id"
        )

    def get_thread_id(self) -> str:
        return thread_id(self.get_conversation_id())

    def get_thread(self, *, for_update: bool = False) -> Thread:
        try:
            return super().get_thread(for_update=for_update)
        except NotFound:
            raise NotFound(
                f"No conversation found with id '{self.get_conversation_id()}'."
            ) from None

    def get_include(self) -> list[str]:
        # The SDK sends `include[]=…`; plain `include=…` is accepted too.
        query = self.request.query_params
        return validation.clean_include(query.getlist("include") + query.getlist("include[]"))

    def store_items(self, thread: Thread, items: list[dict[str, Any]]) -> list[Message]:
        try:
            with store.atomic():
                rows = Message.objects.bulk_create(item_rows(thread, items))
        except IntegrityError:
            # A concurrent request took one of the given IDs first.
            raise validation.ValidationError(
                "An item ID given is already in use.", "items", "id_in_use"
            ) from None
        for row in rows:
            self.notify(signals.message_created, row)
        return rows


class ConversationViewSet(ConversationAPIViewSet):
    def create(self, request: Request) -> HttpResponse:
        fields = validation.clean_conversation_create(self.get_body())
        with store.atomic():
            thread = Thread.objects.create(owner=self.get_owner(), metadata=fields["metadata"])
            self.notify(signals.thread_created, thread)
            self.store_items(thread, fields["items"])
            return self.respond(conversation_object(thread))

    def retrieve(self, request: Request, conversation_id: str) -> HttpResponse:
        return self.respond(conversation_object(self.get_thread()))

    def partial_update(self, request: Request, conversation_id: str) -> HttpResponse:
        self.get_conversation_id()
        changes = validation.clean_conversation_update(self.get_body())
        with store.atomic():
            thread = self.get_thread(for_update=True)
            thread.metadata = validation.apply_patches(changes, thread)["metadata"]
            thread.save(update_fields=["metadata"])
            self.notify(signals.thread_updated, thread)
            return self.respond(conversation_object(thread))

    def destroy(self, request: Request, conversation_id: str) -> HttpResponse:
        with store.atomic():
            thread = self.get_thread(for_update=True)
            delete_thread(thread)
            self.notify(signals.thread_deleted, thread)
            return self.respond(deleted_object(self.get_conversation_id(), "conversation"))


class ItemViewSet(ConversationAPIViewSet):
    pagination_class = ItemPagination

    def get_item(self, thread: Thread) -> Message:
        item_id = validation.check_item_id(self.kwargs["item_id"])
        row = Message.objects.filter(thread=thread, public_id=item_id).first()
        if row is None:
            raise NotFound(f"No item found with id '{item_id}'.")
        return row

    def create(self, request: Request, conversation_id: str) -> HttpResponse:
        self.get_conversation_id()
        self.get_include()
        items = validation.clean_items_create(self.get_body())
        with store.atomic():
            thread = self.get_thread(for_update=True)
            rows = self.store_items(thread, items)
            return self.respond(list_object([item_object(row) for row in rows], has_more=False))

    def list(self, request: Request, conversation_id: str) -> HttpResponse:
        thread = self.get_thread()
        self.get_include()
        rows = Message.objects.filter(thread=thread)
        paginator = self.get_paginator()
        page_request = with_positions(
            paginator.get_page_request(request),
            lambda object_id, param: cursor_position(rows, thread.public_id, object_id, param),
        )
        page = paginator.read_page(rows, page_request)
        return self.respond(
            paginator.get_paginated_data([item_object(row) for row in page.items], page)
        )

    def retrieve(self, request: Request, conversation_id: str, item_id: str) -> HttpResponse:
        thread = self.get_thread()
        self.get_include()
        return self.respond(item_object(self.get_item(thread)))

    def destroy(self, request: Request, conversation_id: str, item_id: str) -> HttpResponse:
        with store.atomic():
            thread = self.get_thread(for_update=True)
            row = self.get_item(thread)
            delete_message(thread, row)
            self.notify(signals.message_deleted, row)
            return self.respond(conversation_object(thread))
