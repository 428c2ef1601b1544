"""Keyset pagination with OpenAI's `limit`, `order`, `after` and `before`.

Rows are ordered by ``seq``, which is total and follows insertion order, so a
page is one indexed range scan of ``limit + 1`` rows whatever its depth: no
offsets, no counts. Cursors are public IDs: the paginator checks them and hands
them on as they are, and the query of the page finds where each stands (or
stood, if deleted).
"""

from dataclasses import dataclass
from typing import Any

from rest_framework.pagination import BasePagination
from rest_framework.request import Request

from .conf import app_settings
from .exceptions import BadRequest
from .ids import MESSAGE_PREFIX, PREFIX_PATTERN, THREAD_PREFIX, id_pattern
from .items import LIST_OBJECT
from .representation import list_object
from .validation import check_choice, check_id


@dataclass(frozen=True)
class PageRequest:
    """What a caller asked for, validated once: the page the store is to read.

    ``after`` and ``before`` are the cursors' IDs, checked for their type but
    not looked up: the page's query finds where each stands. (The admin's
    transcript pages by where rows stand, deleted ones included: its cursors
    are positions, ``seq``.)
    """

    limit: int
    ascending: bool
    after: str | int | None = None
    before: str | int | None = None

    @property
    def backwards(self) -> bool:
        """A `before` page alone is read from its end: it is the previous page."""
        return self.before is not None and self.after is None

    @property
    def scan_ascending(self) -> bool:
        """Whether the page's rows are read in ascending ``seq``."""
        return self.ascending != self.backwards

    @property
    def bounds(self) -> list[tuple[str | int, str]]:
        """Each cursor given, with the comparison ("<", ">") of ``seq`` a row past it meets.

        "Follows" means a larger seq when ascending and a smaller one when descending.
        """
        follows, precedes = (">", "<") if self.ascending else ("<", ">")
        return [(cursor, operator) for cursor, operator
                in ((self.after, follows), (self.before, precedes)) if cursor is not None]


@dataclass(frozen=True)
class Page:
    items: list[Any]
    has_more: bool


# What each cursor does, as the schema states it.
CURSOR_DESCRIPTIONS = {
    "after": "The page starts after this object, even a deleted one.",
    "before": "The page ends before this object, even a deleted one.",
}


class CursorPagination(BasePagination):
    """One code path for both orders and both directions.

    ``after`` and ``before`` bound the page (exclusive) in the chosen order. A
    page with a lower bound, or none, is the first ``limit`` rows after it; a
    page with only ``before`` is the last ``limit`` rows before it. Either way
    ``has_more`` says whether a row lies beyond the page in its direction of
    travel, within the other bound.

    Of DRF's interface it answers the schema hooks, which DRF's and
    drf-spectacular's generators call on a view's ``pagination_class`` for its
    ``list`` action: the query it reads, and the list object a page is sent in.
    DRF's ``paginate_queryset`` and ``get_paginated_response``, which keep the
    page on the paginator between two calls, are left out: the view hands the
    :class:`PageRequest` to the store, and the rows it reads to :meth:`page_from_rows`.
    """

    id_prefix: str = ""  # the type of ID (ids.py) a cursor must be; empty: any
    cursor_params = ("after", "before")
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
        # ASCII digits only: int() also takes spaces, signs, underscores and other scripts' digits.
        limit = int(raw) if raw.isascii() and raw.isdigit() else None
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

    def get_cursor(self, request: Request, param: str) -> str | None:
        """The ID given as ``param``, if one of ``cursor_params``; an empty one is none."""
        if param not in self.cursor_params:
            return None
        object_id = request.query_params.get(param) or None
        return None if object_id is None else check_id(object_id, self.id_prefix, param)

    def get_page_request(self, request: Request) -> PageRequest:
        """Validate the query, each parameter in turn; the first that breaks a rule answers."""
        return PageRequest(
            limit=self.get_limit(request),
            ascending=self.get_ascending(request),
            after=self.get_cursor(request, "after"),
            before=self.get_cursor(request, "before"),
        )

    def page_from_rows(self, rows: list[Any], page_request: PageRequest) -> Page:
        """The page of ``rows``, up to ``limit + 1`` read in the order of the scan."""
        has_more = len(rows) > page_request.limit
        rows = rows[: page_request.limit]
        if page_request.backwards:
            rows.reverse()
        return Page(rows, has_more)

    def get_paginated_data(self, data: list[dict[str, Any]], page: Page) -> dict[str, Any]:
        return list_object(data, page.has_more)

    # The schema hooks of DRF's BasePagination; limits are read when the document is built.

    def get_cursor_schema(self) -> dict[str, Any]:
        """An ID this list's cursors (and its first and last IDs) may be."""
        return {"type": "string", "pattern": id_pattern(self.id_prefix or PREFIX_PATTERN)}

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        limit = {"type": "integer", "minimum": 1, "maximum": self.get_max_limit()}
        return [
            query_parameter("limit", limit, f"{self.get_default_limit()} if left out."),
            query_parameter(
                "order", {"type": "string", "enum": list(self.orders)},
                f"By creation; `{self.default_order}` if left out.",
            ),
            *(query_parameter(name, self.get_cursor_schema(), CURSOR_DESCRIPTIONS[name])
              for name in self.cursor_params),
        ]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """OpenAI's list object around ``schema``, the array of a page's objects."""
        cursor = {"anyOf": [self.get_cursor_schema(), {"type": "null"}]}
        return {
            "type": "object",
            "properties": {
                "object": {"const": LIST_OBJECT},
                "data": schema,
                "first_id": cursor,
                "last_id": cursor,
                "has_more": {"type": "boolean"},
            },
            "additionalProperties": False,
            "required": ["object", "data", "first_id", "last_id", "has_more"],
        }


def query_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter, as OpenAPI (and DRF's schema hooks) write one."""
    return {"in": "query", "name": name, "schema": schema, "description": description}


class MessagePagination(CursorPagination):
    id_prefix = MESSAGE_PREFIX


class ThreadPagination(CursorPagination):
    id_prefix = THREAD_PREFIX
