"""Keyset pagination with OpenAI's `limit`, `order`, `after` and `before`.

Rows are ordered by ``seq``, which is total and follows insertion order, so a
page is one indexed range scan of ``limit + 1`` rows whatever its depth: no
offsets, no counts. Cursors are public IDs; the view turns one into a ``seq``
through :meth:`get_cursor_position`, which also knows where deleted rows stood.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.response import Response

from .conf import app_settings
from .exceptions import BadRequest
from .representation import list_object
from .validation import check_choice, check_id


@dataclass(frozen=True)
class PageRequest:
    """What a caller asked for, validated; cursors already resolved to positions."""

    limit: int
    ascending: bool
    after: int | None
    before: int | None

    @property
    def backwards(self) -> bool:
        """A `before` page alone is read from its end: it is the previous page."""
        return self.before is not None and self.after is None


@dataclass(frozen=True)
class Page:
    items: list[Any]
    has_more: bool


class CursorPagination:
    """One code path for both orders and both directions.

    ``after`` and ``before`` bound the page (exclusive) in the chosen order. A
    page with a lower bound, or none, is the first ``limit`` rows after it; a
    page with only ``before`` is the last ``limit`` rows before it. Either way
    ``has_more`` says whether a row lies beyond the page in its direction of
    travel, within the other bound.
    """

    ordering_field = "seq"
    id_prefix: str = ""
    orders = ("asc", "desc")
    default_order = "desc"

    def get_default_limit(self) -> int:
        return app_settings.DEFAULT_PAGE_SIZE

    def get_max_limit(self) -> int:
        return app_settings.MAX_PAGE_SIZE

    def get_limit(self, request: Request) -> int:
        raw = request.query_params.get("limit")
        if raw is None or raw == "":
            return self.get_default_limit()
        maximum = self.get_max_limit()
        try:
            limit = int(raw)
        except ValueError:
            limit = None
        if limit is None or not 1 <= limit <= maximum:
            raise BadRequest(
                f"Invalid 'limit': '{raw}'. Expected an integer from 1 to {maximum}.",
                "limit",
                "invalid_value",
            )
        return limit

    def get_ascending(self, request: Request) -> bool:
        order = request.query_params.get("order") or self.default_order
        return check_choice(order, self.orders, "order") == "asc"

    def get_page_request(
        self, request: Request, resolve: Callable[[str, str], int]
    ) -> PageRequest:
        """Validate the query; ``resolve(object_id, param)`` maps a cursor to its position."""
        limit = self.get_limit(request)
        ascending = self.get_ascending(request)
        positions: dict[str, int | None] = {"after": None, "before": None}
        for param in positions:
            object_id = request.query_params.get(param) or None
            if object_id is not None:
                check_id(object_id, self.id_prefix, param)
                positions[param] = resolve(object_id, param)
        return PageRequest(limit, ascending, positions["after"], positions["before"])

    def paginate_queryset(self, queryset: QuerySet, page_request: PageRequest) -> Page:
        field = self.ordering_field
        # "Follows" means a larger seq when ascending and a smaller one when descending.
        follows, precedes = ("gt", "lt") if page_request.ascending else ("lt", "gt")
        if page_request.after is not None:
            queryset = queryset.filter(**{f"{field}__{follows}": page_request.after})
        if page_request.before is not None:
            queryset = queryset.filter(**{f"{field}__{precedes}": page_request.before})
        scan_ascending = page_request.ascending != page_request.backwards
        queryset = queryset.order_by(field if scan_ascending else "-" + field)
        rows = list(queryset[: page_request.limit + 1])
        has_more = len(rows) > page_request.limit
        rows = rows[: page_request.limit]
        if page_request.backwards:
            rows.reverse()
        return Page(rows, has_more)

    def get_paginated_response(self, data: list[dict[str, Any]], page: Page) -> Response:
        return Response(list_object(data, page.has_more))


class MessagePagination(CursorPagination):
    id_prefix = "msg"


class ThreadPagination(CursorPagination):
    id_prefix = "thread"
