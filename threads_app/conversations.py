"""The Conversations endpoints, served from the store the Threads endpoints use.

A conversation is a thread seen through the other API (``conv_<S>`` is
``thread_<S>``), and its items are the thread's rows; see ``items.py``.
"""

from django.http import HttpResponse
from rest_framework.request import Request

from . import store, validation
from .conf import app_settings
from .exceptions import NotFound
from .ids import CONVERSATION_PREFIX, thread_id
from .items import CONVERSATION_OBJECT, conversation_object, item_object
from .models import Message, Thread
from .pagination import CursorPagination, Page
from .representation import deleted_object, list_object
from .views import ThreadsAPIViewSet


class ItemPagination(CursorPagination):
    """Items have IDs of many prefixes, and no `before` (OpenAI's items list had none).

    A page is bounded in bytes as well as in items: it ends before the item that
    would take it past MAX_PAGE_BYTES of stored JSON (never before its first),
    and says ``has_more``; the SDK's pager asks for the rest from ``last_id``.
    ``store.item_page`` reads it.
    """

    id_prefix = ""
    cursor_params = ("after",)

    def get_max_bytes(self) -> int:
        return app_settings.MAX_PAGE_BYTES


class ConversationAPIViewSet(ThreadsAPIViewSet):
    """Threads under their conversation names."""

    def get_conversation_id(self) -> str:
        return validation.check_id(
            self.kwargs["conversation_id"], CONVERSATION_PREFIX, "conversation_id"
        )

    def get_thread_id(self) -> str:
        return thread_id(self.get_conversation_id())

    def thread_not_found(self) -> NotFound:
        return NotFound(f"No conversation found with id '{self.get_conversation_id()}'.")

    def get_include(self) -> list[str]:
        # The SDK sends `include[]=…`; plain `include=…` is accepted too.
        query = self.request.query_params
        return validation.clean_include(query.getlist("include") + query.getlist("include[]"))


class ConversationViewSet(ConversationAPIViewSet):
    def create(self, request: Request) -> HttpResponse:
        fields = validation.clean_conversation_create(self.get_body())
        with store.atomic():
            thread = store.create_thread(self.get_owner(), fields["metadata"], {},
                                         request=request)
            store.create_items(thread, fields["items"], request=request)
            return self.respond(conversation_object(thread))

    def retrieve(self, request: Request, conversation_id: str) -> HttpResponse:
        return self.respond(conversation_object(self.get_thread()))

    def partial_update(self, request: Request, conversation_id: str) -> HttpResponse:
        self.get_conversation_id()
        changes = validation.clean_conversation_update(self.get_body())
        with store.atomic():
            thread = self.get_thread(for_update=True)
            store.update_thread(thread, changes, request=request)
            return self.respond(conversation_object(thread))

    def destroy(self, request: Request, conversation_id: str) -> HttpResponse:
        with store.atomic():
            store.delete_thread(self.get_thread(for_update=True), request=request)
            return self.respond(deleted_object(self.get_conversation_id(), CONVERSATION_OBJECT))


class ItemViewSet(ConversationAPIViewSet):
    pagination_class = ItemPagination

    def get_item(self, thread: Thread, writing: bool = False) -> Message:
        item_id = validation.check_item_id(self.kwargs["item_id"])
        row = store.find_item(thread, item_id, writing=writing)
        if row is None:
            raise NotFound(f"No item found with id '{item_id}'.")
        return row

    def create(self, request: Request, conversation_id: str) -> HttpResponse:
        self.get_conversation_id()
        self.get_include()
        items = validation.clean_items_create(self.get_body())
        with store.atomic():
            thread = self.get_thread(for_update=True)
            rows = store.create_items(thread, items, request=request)
            return self.respond(list_object([item_object(row) for row in rows], has_more=False))

    def list(self, request: Request, conversation_id: str) -> HttpResponse:
        thread = self.get_thread()
        self.get_include()
        paginator = self.get_paginator()
        page_request = paginator.get_page_request(request)
        rows, has_more = store.item_page(thread, page_request, paginator.get_max_bytes())
        if not rows:
            self.check_cursors(
                page_request, lambda item_id: store.item_position(thread, item_id),
                thread.public_id,
            )
        page = Page(rows, has_more)
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
            store.delete_message(thread, self.get_item(thread, writing=True), request=request)
            return self.respond(conversation_object(thread))
