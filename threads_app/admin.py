"""The staff admin: threads read as conversations, messages edited by the API's rules.

A thread's transcript shows every row of it, in order, as the Conversations
view has it: user and assistant messages, system and developer messages, and
items of other types (tool calls, their outputs, reasoning), which are read-only.

Built for 100,000 threads and millions of messages:

- the thread list's message count, last activity, first user message and
  search hit are correlated subqueries, computed in one query for the rows of
  the page only (each one an index range on the messages' (thread, seq) index),
  never a GROUP BY join over every message; sorting by last activity computes
  it for every thread listed, and only then;
- ``show_full_result_count`` is off, and :class:`EstimatedCountPaginator` takes
  the planner's row estimate on PostgreSQL instead of counting a large table
  on every page load, and counts a filtered list only up to a limit;
- searching the text of messages and items is an ``EXISTS`` per thread, not a join that
  multiplies rows and then needs ``DISTINCT``; on PostgreSQL a trigram index
  (migration 0007) answers it for rare words, and the ``EXISTS`` stops at the
  first match for common ones;
- a transcript is a keyset page of one thread's messages, which costs the same
  on its first page and its ten-thousandth; saying where the page is counts
  the thread's messages once (an index range).

Those queries are the store's (``store/staff.py``, ``store/search.py``); the
admin refines its own querysets with them and builds none of its own.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import orjson
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.admin.options import IS_POPUP_VAR, IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.contrib.auth import get_permission_codename, get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.functional import cached_property
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator, capfirst, smart_split, unescape_string_literal

from . import signals, store, trail, validation
from .forms import APIKeyForm, MessageForm, ThreadForm
from .items import ITEM_TYPES, MESSAGE, in_threads_view, item_object, threads_part
from .markup import image_host, render_markdown
from .models import APIKey, Message, Thread
from .pagination import MessagePagination, PageRequest
from .transfer import EXPORT_CONTENT_TYPE, export_lines

# Where a request that deleted a message keeps its thread and where it stood.
DELETED_FROM = "threads_app_deleted_from"


def is_filtered(queryset: Any) -> bool:
    return isinstance(queryset, QuerySet) and queryset.query.has_filters()


class EstimatedCountPaginator(Paginator):
    """Counts what is cheap to count, and no further.

    An unfiltered list is counted exactly, except a large table on PostgreSQL:
    there ``COUNT(*)`` reads the whole table (tens of milliseconds per million
    rows, on every page load), while ``pg_class.reltuples`` is the planner's
    estimate, kept fresh by autovacuum and read in well under a millisecond.

    A filtered or searched list reads the keys of its first ``count_limit``
    rows, in the list's order, and counts those. Counting every thread that
    mentions a common word would read every message that holds it; the first
    thousand are found as soon as they match, and rare words cost one search
    either way. The page then reads its rows by key (:meth:`page`), with no
    second search; past the limit the list says "more than" (``capped``).
    """

    # Below this many estimated rows an exact count is cheap enough.
    estimate_from = 100_000
    # A filtered list counts this far; past it, refining the filter finds the rest.
    count_limit = 1000

    @cached_property
    def count(self) -> int:
        estimate = self.get_estimate()
        if estimate is not None and estimate >= self.estimate_from:
            return estimate
        if self.keys is None:
            return super().count
        return min(len(self.keys), self.count_limit)

    @cached_property
    def keys(self) -> list[Any] | None:
        """A filtered list's keys in its order, one past ``count_limit`` at most; else None."""
        if not is_filtered(self.object_list):
            return None
        return store.staff.first_keys(self.object_list, self.count_limit + 1)

    @property
    def capped(self) -> bool:
        """Whether more rows match than :attr:`count` says."""
        return self.keys is not None and len(self.keys) > self.count_limit

    def page(self, number: Any) -> Page:
        if self.keys is None:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        keys = self.keys[bottom : min(bottom + self.per_page, self.count)]
        # The filter again, but over these keys only: a probe per row, not a search.
        return Page(store.staff.with_keys(self.object_list, keys), number, self)

    def get_estimate(self) -> int | None:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or is_filtered(queryset):
            return None
        return store.staff.estimated_rows(queryset)


def search_terms(search_term: str) -> Iterator[str]:
    """Split a search as the admin does: on spaces, keeping "quoted phrases" whole."""
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        if bit:
            yield bit


def row_text(row: Message) -> str:
    """What a person reads of a row, on one line: a message's text; other items' fields."""
    item = item_object(row)
    if row.type == MESSAGE:
        parts = (transcript_part(part) for part in item.get("content") or [])
        text = " ".join(part["text"] for part in parts if part["type"] in ("text", "refusal"))
    else:
        text = orjson.dumps({k: v for k, v in item.items() if k not in HEADER_FIELDS}).decode()
    return " ".join(text.split())


def compact_time(value: datetime | None) -> str:
    """A time on one short line, to the minute; the second and the zone on hover."""
    if value is None:
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', value.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"), local.strftime("%Y-%m-%d %H:%M"),
    )


def parse_moment(text: str) -> datetime | None:
    """A date, or a date and time, as staff type them; in the site's time zone unless given."""
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)) is not None:
            moment = datetime.combine(day, time())
    except ValueError:  # well formed, but no such day or hour
        return None
    if moment is not None and settings.USE_TZ and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def shortened(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def snippet(text: str, terms: list[str], context: int) -> SafeString:
    """The part of ``text`` around the first of ``terms``, each of them marked.

    Where none is in the text as read (a match inside a part's address, say),
    the text's start.
    """
    if not terms:
        return escape(shortened(text, 2 * context))
    # Longest first, so that a term inside another does not cut its mark short.
    pattern = re.compile(
        "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE
    )
    first = pattern.search(text)
    if first is None:
        return escape(shortened(text, 2 * context))
    start = max(0, first.start() - context)
    end = min(len(text), first.end() + context)
    if start:
        # Begin on a word: the cut piece of one reads as a typo.
        space = text.find(" ", start, first.start())
        start = space + 1 if space != -1 else start
    window = text[start:end]
    pieces = ["…" if start else ""]
    at = 0
    for match in pattern.finditer(window):
        pieces.append(escape(window[at : match.start()]))
        pieces.append(format_html("<mark>{}</mark>", match.group()))
        at = match.end()
    pieces.append(escape(window[at:]))
    pieces.append("…" if end < len(text) else "")
    return mark_safe("".join(pieces))  # noqa: S308 (each piece is escaped above)


def registered_admin(site: admin.AdminSite, model: type) -> admin.ModelAdmin | None:
    """The site's admin of ``model``, or None where the host has not registered one."""
    try:
        return site.get_model_admin(model)
    except NotRegistered:
        return None


def admin_url(site: admin.AdminSite, model: type, view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_{view}", args=args)


# How the transcript reads each item ------------------------------------------
#
# Every row is read in its Conversations form (``item_object``), the one form
# that holds all of it: a message's parts that the Threads view leaves out,
# and every item that is not a message.

# Fields the entry's header already shows, left out of an item's details.
HEADER_FIELDS = ("id", "type", "status")


def pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def pretty_json_text(value: Any) -> str:
    """A value for reading: JSON pretty-printed, including JSON held in a string
    (function arguments and outputs are strings that usually hold JSON)."""
    if not isinstance(value, str):
        return pretty_json(value)
    try:
        return pretty_json(orjson.loads(value))
    except orjson.JSONDecodeError:
        return value


def transcript_part(part: dict[str, Any]) -> dict[str, Any]:
    """A message part, Conversations-shaped, as the transcript shows it."""
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part.get("text", "")}
    if kind == "input_image" and part.get("image_url"):
        return {"type": "image_url", "url": part["image_url"], "detail": part.get("detail"),
                "host": image_host(part["image_url"])}
    if kind == "input_image":
        return {"type": "image_file", "file_id": part.get("file_id"), "detail": part.get("detail")}
    if kind == "input_file":
        data = part.get("file_data")
        return {
            "type": "input_file",
            "file_id": part.get("file_id"),
            "file_url": part.get("file_url"),
            "filename": part.get("filename"),
            # Inline file data is base64 of any size: its length says enough.
            "data_length": len(data) if isinstance(data, str) else None,
        }
    if kind == "refusal":
        return {"type": "refusal", "text": part.get("refusal", "")}
    fields = {key: value for key, value in part.items() if key != "type"}
    return {"type": "other", "name": kind, "json": pretty_json(fields)}


def item_details(item: dict[str, Any]) -> list[dict[str, str]]:
    """Label, value and style (``code``, ``pre`` or ``text``) of what an item that
    is not a message shows; any type we do not read specially shows all its fields."""
    kind = item.get("type")
    if kind == "function_call":
        return [
            {"label": "name", "value": str(item.get("name", "")), "style": "code"},
            {"label": "call_id", "value": str(item.get("call_id", "")), "style": "code"},
            {"label": "arguments", "value": pretty_json_text(item.get("arguments", "")),
             "style": "pre"},
        ]
    if kind == "function_call_output":
        return [
            {"label": "call_id", "value": str(item.get("call_id", "")), "style": "code"},
            {"label": "output", "value": pretty_json_text(item.get("output", "")), "style": "pre"},
        ]
    if kind == "reasoning":
        texts = [
            {"label": "summary", "value": str(part.get("text", "")), "style": "text"}
            for part in item.get("summary") or [] if isinstance(part, dict)
        ]
        encrypted = item.get("encrypted_content")
        if encrypted:
            texts.append({"label": "encrypted_content",
                          "value": f"{len(encrypted)} characters, not shown", "style": "quiet"})
        return texts or [{"label": "summary", "value": "none", "style": "quiet"}]
    fields = {key: value for key, value in item.items() if key not in HEADER_FIELDS}
    return [{"label": "fields", "value": pretty_json(fields), "style": "pre"}]


def transcript_entry(row: Message) -> dict[str, Any]:
    """What the transcript shows of one row; reads the row's own columns only."""
    item = item_object(row)
    is_message = row.type == MESSAGE
    parts = [transcript_part(part) for part in item.get("content") or []] if is_message else []
    for part in parts:
        if part["type"] == "text":
            part["html"] = render_markdown(part["text"])
    return {
        "message": row,
        "is_message": is_message,
        "label": row.role if is_message else row.type,
        "in_threads_view": in_threads_view(row.type, row.role),
        "parts": parts,
        "details": [] if is_message else item_details(item),
    }


def has_threads_form(part: dict[str, Any]) -> bool:
    """Whether the message editor, which edits Threads parts, shows and keeps ``part``."""
    converted = threads_part(part)
    return converted is not None and converted["type"] != "refusal"


class RolePresentFilter(admin.SimpleListFilter):
    title = "has messages from"
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return Message._meta.get_field("role").choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset if self.value() is None else store.staff.with_role(queryset, self.value())


class OwnerFilter(admin.SimpleListFilter):
    """Threads of one owner, picked from suggestions as a name is typed.

    Django's own filter for a foreign key lists every user, and even the one
    limited to related rows lists every owner: a page of 100,000 links. This
    one lists nobody until asked; the suggestions (``ThreadAdmin.owners_view``)
    are users who own threads, a page of them at a time.
    """

    title = "owner"
    parameter_name = "owner"
    template = "admin/threads_app/thread/owner_filter.html"

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        self.suggestions_url = admin_url(model_admin.admin_site, model, "owners")
        super().__init__(request, params, model, model_admin)

    def owner_key(self) -> Any:
        """The chosen user's key, None if none is chosen; raises ValidationError if not a key."""
        value = self.value()
        return None if value is None else get_user_model()._meta.pk.to_python(value)

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        # The chosen owner alone, so that the filter can show whom it shows.
        try:
            key = self.owner_key()
        except ValidationError:
            return [(self.value(), "no such user")]
        if key is None:
            return []
        owner = store.staff.user_by_key(key)
        return [(self.value(), str(owner) if owner else "no such user")]

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        try:
            key = self.owner_key()
        except ValidationError:
            return queryset.none()  # nobody's threads
        return queryset if key is None else store.staff.of_owner(queryset, key)


class MessageTypeFilter(admin.SimpleListFilter):
    """Messages, or items of one other type (tool calls, their outputs, reasoning…)."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [(MESSAGE, MESSAGE), *((name, name) for name in sorted(ITEM_TYPES))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset if self.value() is None else store.staff.of_type(queryset, self.value())


class KeyedChangeList(ChangeList):
    """A filtered list whose paginator read its keys reads its rows by them.

    Django's list reads a list that fits on one page (or "Show all") with the
    whole filtered query again: for a search, the search a second time.
    """

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        keys = getattr(self.paginator, "keys", None)
        whole = not self.multi_page or (self.show_all and self.can_show_all)
        if keys is not None and whole and not self.paginator.capped:
            self.result_list = store.staff.with_keys(self.queryset, keys)


class MessageChangeList(KeyedChangeList):
    """Messages, each with a link to its place in its thread's transcript where staff may go."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        thread_admin = registered_admin(self.model_admin.admin_site, Thread)
        can_read = thread_admin is not None and thread_admin.has_view_or_change_permission(request)
        for row in rows:
            url = admin_url(self.model_admin.admin_site, Thread, "change", row.thread.pk)
            row.thread_url = f"{url}?message={row.public_id}#{row.public_id}" if can_read else None
        self.result_list = rows


class ThreadChangeList(KeyedChangeList):
    """The page's keys first, then its threads by key, then what the list shows of them.

    Sorting by last activity computes it for every thread listed; sorting keys
    alone rather than whole rows with their owners took half the time (100,000
    threads: 0.56 s instead of 1.04 on PostgreSQL, 0.50 instead of 1.30 on
    SQLite; bench/admin.py). The details come in one query over the page's rows:
    annotating the paged query itself would be one query less, but PostgreSQL
    computes a select list's subqueries for every row an OFFSET skips: page
    1,000 of 100,000 threads (2M messages) loaded in 299 ms that way, 55 ms this way.
    """

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        threads = store.staff.threads_of_page(self.result_list, self.root_queryset)
        self.model_admin.add_page_details(request, threads, self.query)
        self.result_list = threads


@dataclass(frozen=True)
class Transcript:
    """One page of a thread's messages in conversation order, with its neighbours' links."""

    entries: list[dict[str, Any]]
    previous_url: str | None
    next_url: str | None
    first_url: str | None
    latest_url: str | None
    add_url: str | None
    total: int  # messages and other items in the thread
    start: int  # the position of the page's first row, counted from 1; 0 if none
    # The request's messages (a save's confirmation), shown beside the marked row.
    notices: list[Any]

    @property
    def end(self) -> int:
        return self.start + len(self.entries) - 1


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    form = ThreadForm
    # Creation shows as the ID's order and on hover, and in the date drill-down above
    # the list: a column of its own would push the table past 1400 px.
    list_display = (
        "thread_id", "about", "owner_name", "message_count", "last_activity", "metadata_glance",
    )
    list_select_related = ("owner",)
    # Creation by ranges (today, this week…), which need no query to offer: Django's
    # date drill-down read every thread twice per page (1.3 s for 100,000 on SQLite).
    list_filter = (OwnerFilter, RolePresentFilter, ("created_at", admin.DateFieldListFilter))
    # The search itself is get_search_results; naming a field turns the box on.
    search_fields = ("public_id",)
    search_help_text = (
        "Words in messages and other items, a metadata key or value, a thread or "
        "conversation ID, or a message or item ID. Every word must match."
    )
    ordering = ("-seq",)
    # Sorting by a count would count every thread's messages; by last activity it
    # takes one index probe per thread listed (bench/admin.py measures it).
    sortable_by = ("thread_id", "last_activity")
    show_full_result_count = False
    # Counts beside each filter's choices would count every thread per choice.
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_per_page = 50
    actions = ["export_json"]
    raw_id_fields = ("owner",)
    # Metadata keys whose value names a thread, looked for in this order.
    title_keys = ("title", "name", "subject")
    # Characters of the first user message shown as what a thread is about.
    about_length = 120
    # Characters shown either side of a search hit.
    snippet_context = 60
    # Messages counted per row at most; a thread of a million took 0.25 s to count.
    message_count_limit = 10_000
    # Users suggested at a time by the owner filter.
    owner_suggestions = 20
    transcript_page_size = 50
    # Rows shown before the one a link or a jump asks for, so that it is read in context.
    transcript_context = 2
    transcript_pagination_class = MessagePagination

    class Media:
        css = {"all": ["threads_app/admin.css"]}
        js = ["threads_app/admin.js"]

    # Fields ---------------------------------------------------------------

    def get_fields(self, request: HttpRequest, obj: Thread | None = None) -> list[str]:
        if obj is None:
            return ["owner", "metadata", "tool_resources"]
        return ["public_id", "owner", "created_at", "metadata", "tool_resources"]

    def get_readonly_fields(self, request: HttpRequest, obj: Thread | None = None) -> list[str]:
        return [] if obj is None else ["public_id", "owner", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("owner")

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("owners/", self.admin_site.admin_view(self.owners_view), name=f"{name}_owners"),
            path("export/", self.admin_site.admin_view(self.export_view), name=f"{name}_export"),
            path("export/download/", self.admin_site.admin_view(self.export_download_view),
                 name=f"{name}_export_download"),
            *super().get_urls(),
        ]

    # The list -------------------------------------------------------------

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        # Only the list pays for activity; the change page does not.
        return ThreadChangeList

    def add_page_details(self, request: HttpRequest, threads: list[Thread], query: str) -> None:
        """Set what the list shows of each thread of a page, in two queries for the page.

        Its message count, last activity and first user message; under a search,
        its first message that the search's first item ID (else its first word) finds.
        """
        terms = list(search_terms(query))
        words = [term for term in terms if not store.search.is_object_id(term)]
        item_ids = [term for term in terms if store.search.is_item_id(term)]
        hit_term = next(iter(item_ids or words), None)
        details = store.staff.listed_threads(
            [thread.pk for thread in threads], self.message_count_limit, hit_term
        )
        preserved = self.get_preserved_filters(request)
        for thread in threads:
            listed = details[thread.pk]
            thread.message_count, thread.last_activity = listed.message_count, listed.last_activity
            first = listed.first_user_message
            thread.first_text = row_text(first) if first else ""
            hit = listed.hit
            thread.hit = None
            if hit is not None:
                url = admin_url(self.admin_site, Thread, "change", thread.pk)
                query_string = "&".join(filter(None, [preserved, f"message={hit.public_id}"]))
                thread.hit = {
                    "message": hit,
                    "snippet": snippet(row_text(hit), words, self.snippet_context),
                    "url": f"{url}?{query_string}#{hit.public_id}",
                }

    def get_title(self, thread: Thread) -> str:
        """The thread's name from its metadata, if it has one (see ``title_keys``)."""
        metadata = thread.metadata or {}
        return next((metadata[key] for key in self.title_keys if metadata.get(key)), "")

    @admin.display(description="about")
    def about(self, obj: Thread) -> str:
        title = self.get_title(obj)
        text = shortened(obj.first_text, self.about_length)
        full = " — ".join(filter(None, [title, shortened(obj.first_text, 400)]))
        about = format_html(
            '<div class="threads-about" title="{}">{}{}</div>', full,
            format_html("<strong>{}</strong> ", title) if title else "",
            text or ("" if title else "no user message yet"),
        )
        if obj.hit is None:
            return about
        hit = obj.hit
        return format_html(
            '{}<a class="threads-hit" href="{}"><span class="threads-hit-role">{}</span> {}</a>',
            about, hit["url"], hit["message"].role or hit["message"].type, hit["snippet"],
        )

    @admin.display(description="ID", ordering="seq")
    def thread_id(self, obj: Thread) -> str:
        # Sorted by seq, which follows creation and is the primary key's index.
        local = timezone.localtime(obj.created_at)
        return format_html(
            '<span title="created {}">{}</span>', local.strftime("%Y-%m-%d %H:%M:%S %Z"),
            obj.public_id,
        )

    @admin.display(description="owner")
    def owner_name(self, obj: Thread) -> str:
        return format_html('<div class="threads-owner" title="{}">{}</div>', obj.owner, obj.owner)

    @admin.display(description="messages")
    def message_count(self, obj: Thread) -> Any:
        if obj.message_count is None:
            return format_html(
                '<span title="more than {}: the thread\'s page counts them">{}+</span>',
                f"{self.message_count_limit:,}", f"{self.message_count_limit:,}",
            )
        return obj.message_count

    @admin.display(description="last activity", ordering=store.staff.last_activity())
    def last_activity(self, obj: Thread) -> Any:
        return compact_time(obj.last_activity)

    @admin.display(description="metadata")
    def metadata_glance(self, obj: Thread) -> str:
        # The pair that gave the title is shown as the title already.
        title = next((key for key in self.title_keys if (obj.metadata or {}).get(key)), None)
        pairs = [(key, value) for key, value in (obj.metadata or {}).items() if key != title]
        if not pairs:
            return ""
        text = ", ".join(f"{key}={value}" for key, value in pairs)
        return format_html('<div class="threads-glance" title="{}">{}</div>', text, text)

    def owners_view(self, request: HttpRequest) -> JsonResponse:
        """Users who own threads whose name or email holds ``term``: the owner filter's list.

        One page of them (``owner_suggestions``), so that 100,000 users answer as
        quickly as ten: each candidate is an index probe on the threads' (owner, seq).
        """
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        term = request.GET.get("term", "").strip()
        found = store.staff.owners(
            term, self.get_owner_search_fields(), self.owner_suggestions + 1
        )
        return JsonResponse({
            "results": [
                {"id": str(user.pk), "text": str(user)}
                for user in found[: self.owner_suggestions]
            ],
            "more": len(found) > self.owner_suggestions,
        })

    def get_owner_search_fields(self) -> list[str]:
        """Fields of the user model that the owner filter's suggestions search."""
        user_model = get_user_model()
        names = [user_model.USERNAME_FIELD]
        email = user_model.get_email_field_name()
        try:
            user_model._meta.get_field(email)
        except FieldDoesNotExist:
            return names
        return names if email in names else [*names, email]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        for term in search_terms(search_term):
            queryset = queryset.filter(self.get_search_condition(term))
        # EXISTS and IN never repeat a thread, so no DISTINCT is needed.
        return queryset, False

    def get_search_condition(self, term: str) -> Q:
        """The threads one term of a search finds (see :mod:`threads_app.store.search`)."""
        return store.search.thread_condition(term)

    # The transcript ---------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        if request.method == "GET" and "goto" in request.GET:
            thread = self.get_object(request, unquote(object_id))
            if thread is not None and self.has_view_or_change_permission(request, thread):
                return self.goto_response(request, thread)
        return super().change_view(request, object_id, form_url, extra_context)

    def goto_response(self, request: HttpRequest, thread: Thread) -> HttpResponse:
        """Redirect a jump (``goto``: a message or item ID, or a date) to the page of its row.

        The page's address names the row (``message=``) and ends on its anchor,
        so that the browser scrolls to it and the link can be kept.
        """
        wanted = request.GET["goto"].strip()
        query = request.GET.copy()
        for name in ("goto", "after", "before", "latest", "message"):
            query.pop(name, None)
        target = store.staff.row_id(thread, wanted)
        if target is None and (moment := parse_moment(wanted)) is not None:
            target = store.staff.first_row_since(thread, moment)
            if target is None:
                target = store.staff.latest_row(thread)
                if target is not None:
                    self.message_user(
                        request, f"Nothing was written at or after {wanted}: the latest message.",
                        messages.INFO,
                    )
        if target is None:
            self.message_user(
                request,
                f"“{wanted}” is neither a message in this thread nor a date (YYYY-MM-DD HH:MM).",
                messages.WARNING,
            )
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}#transcript")
        query["message"] = target
        return HttpResponseRedirect(f"{request.path}?{query.urlencode()}#{target}")

    def render_change_form(
        self, request: HttpRequest, context: dict, add: bool = False, change: bool = False,
        form_url: str = "", obj: Thread | None = None,
    ) -> HttpResponse:
        if obj is not None and not add:
            context["transcript"] = self.get_transcript(request, obj)
            # The jump form's own fields; the change form's are posted, not these.
            context["transcript_goto"] = request.GET.get("goto", "")
            context["transcript_hidden"] = [
                (name, value) for name, value in request.GET.items()
                if name == "_changelist_filters"
            ]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_transcript_page_request(self, request: HttpRequest, thread: Thread) -> PageRequest:
        last = 2**63 - 1  # past every seq

        def position(name: str) -> int | None:
            value = request.GET.get(name, "")
            return min(int(value), last) if value.isascii() and value.isdigit() else None

        wanted = request.GET.get("message")
        if wanted:
            target = store.staff.row_position(thread, wanted)
            if target is not None:
                # The page starts a few rows before the one asked for.
                start = store.staff.position_before(thread, target, self.transcript_context)
                return PageRequest(self.transcript_page_size, True, start, None)
        before = last if "latest" in request.GET else position("before")
        return PageRequest(self.transcript_page_size, True, position("after"), before)

    def get_transcript(self, request: HttpRequest, thread: Thread) -> Transcript:
        page_request = self.get_transcript_page_request(request, thread)
        page = self.transcript_pagination_class().page_from_rows(
            store.staff.transcript_page(thread, page_request), page_request
        )
        items = page.items
        # Where the page stands.
        total, before = store.staff.transcript_counts(thread, items[0].seq if items else None)
        message_admin = registered_admin(self.admin_site, Message)
        can_change = message_admin is not None and message_admin.has_change_permission(request)
        can_add = message_admin is not None and message_admin.has_add_permission(request)
        can_view = message_admin is not None and message_admin.has_view_permission(request)
        current = request.GET.get("message")
        entries = []
        notices: list[Any] = []
        for row in items:
            entry = transcript_entry(row)
            entry["current"] = row.public_id == current
            if entry["current"]:
                # Where the page scrolls to, rather than at its top, out of sight.
                notices = list(messages.get_messages(request))
            if entry["is_message"]:
                if can_change:
                    entry["change_url"] = admin_url(self.admin_site, Message, "change", row.pk)
            elif can_view:
                # Items that are not messages have no editor: their page is read-only.
                entry["view_url"] = admin_url(self.admin_site, Message, "change", row.pk)
            entries.append(entry)

        def link(**params: Any) -> str:
            query = request.GET.copy()
            for name in ("after", "before", "latest", "message", "goto"):
                query.pop(name, None)
            query.update(params)
            return "?" + query.urlencode() + "#transcript"

        if page_request.backwards:
            has_previous, has_next = page.has_more, "latest" not in request.GET
        else:
            has_previous, has_next = page_request.after is not None, page.has_more
        add_url = None
        if can_add:
            add_url = admin_url(self.admin_site, Message, "add") + "?thread=" + thread.public_id
        return Transcript(
            entries=entries,
            previous_url=link(before=items[0].seq) if items and has_previous else None,
            next_url=link(after=items[-1].seq) if items and has_next else None,
            first_url=link() if has_previous else None,
            latest_url=link(latest=1) if has_next else None,
            add_url=add_url,
            total=total,
            start=before + 1 if items else 0,
            notices=notices,
        )

    # Writes ---------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Thread, form: Any, change: bool) -> None:
        with store.atomic():
            store.staff.save_thread(obj, change)
            # Hosts follow every change through the app's signals (a search index,
            # say), and a change made here is as real as one made through the API.
            store.send_on_commit(
                signals.thread_updated if change else signals.thread_created, obj, request
            )

    def delete_model(self, request: HttpRequest, obj: Thread) -> None:
        with store.atomic():
            store.delete_thread(store.staff.lock_thread_named(obj.public_id), request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with store.atomic():
            for thread_id in store.staff.ids_in_order(queryset):
                store.delete_thread(store.staff.lock_thread_named(thread_id), request=request)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """Summarize, rather than list, the messages that go with the threads.

        Django's default collects and shows every related row, which for a thread
        of a million messages would load them all into the confirmation page.
        """
        threads = list(objs)
        counts = store.staff.message_counts([thread.public_id for thread in threads])
        described = [
            f"{capfirst(Thread._meta.verbose_name)}: {thread.public_id} "
            f"({counts.get(thread.public_id, 0)} messages)"
            for thread in threads
        ]
        total = sum(counts.values())
        model_count = {
            Thread._meta.verbose_name_plural: len(threads),
            Message._meta.verbose_name_plural: total,
        }
        perms_needed = set()
        codename = get_permission_codename("delete", Message._meta)
        if total and not request.user.has_perm(f"{Message._meta.app_label}.{codename}"):
            perms_needed.add(Message._meta.verbose_name)
        return described, model_count, perms_needed, []

    # History ----------------------------------------------------------------

    # The most deleted messages a thread's history page shows, latest first.
    deleted_messages_shown = 100

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        """The thread's history, and the messages deleted from it in the admin."""
        context: dict[str, Any] = {"deleted_messages": None}
        obj = self.get_object(request, object_id)
        message_admin = registered_admin(self.admin_site, Message)
        if obj is not None and message_admin and message_admin.has_view_permission(request):
            deletions = trail.deleted_from_thread(obj.public_id)
            shown = list(deletions.reverse()[:self.deleted_messages_shown])[::-1]
            context["deleted_messages"] = shown
            context["deleted_messages_total"] = (
                deletions.count() if len(shown) == self.deleted_messages_shown else len(shown)
            )
        return super().history_view(request, object_id, {**context, **(extra_context or {})})

    # Actions ----------------------------------------------------------------

    @admin.action(description="Export selected threads as JSON Lines", permissions=["view"])
    def export_json(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        """Stream what ``export_threads`` writes for these threads: ``import_threads`` reads it."""
        threads = store.transfer.selected_threads(queryset)
        response = StreamingHttpResponse(export_lines(threads), content_type=EXPORT_CONTENT_TYPE)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="threads-{stamp}.jsonl"'
        return response

    # Export of the list ---------------------------------------------------------
    #
    # The list's "Export" takes the list's own query string (search, filters, date)
    # to a page that says what the export holds, whose button downloads it through
    # the same exporter as the action: every thread the list selects, on every page.

    def get_export_changelist(self, request: HttpRequest) -> ChangeList:
        """The list as the changelist builds it from the same query string."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return self.get_changelist_instance(request)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Say what the list's export holds, with the button that downloads it."""
        changelist_url = admin_url(self.admin_site, Thread, "changelist")
        try:
            changelist = self.get_export_changelist(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(f"{changelist_url}?{ERROR_FLAG}=1")
        query = request.GET.urlencode()
        context = {
            **self.admin_site.each_context(request),
            "title": "Export threads",
            "opts": self.opts,
            # The list counted a searched or filtered selection exactly already; an
            # unfiltered one it may only have estimated (EstimatedCountPaginator).
            "thread_count": changelist.result_count
            if changelist.queryset.query.has_filters() else changelist.queryset.count(),
            "selection": describe_selection(changelist),
            "download_url": admin_url(self.admin_site, Thread, "export_download")
            + (f"?{query}" if query else ""),
            "changelist_url": changelist_url + (f"?{query}" if query else ""),
        }
        return TemplateResponse(request, "admin/threads_app/thread/export.html", context)

    def export_download_view(self, request: HttpRequest) -> HttpResponse:
        """Stream the export of every thread the list selects."""
        try:
            changelist = self.get_export_changelist(request)
        except IncorrectLookupParameters:
            changelist_url = admin_url(self.admin_site, Thread, "changelist")
            return HttpResponseRedirect(f"{changelist_url}?{ERROR_FLAG}=1")
        return self.export_json(request, changelist.queryset)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Messages edited by the Threads API's rules; other items shown read-only.

    The editor edits a message's Threads form. A message with parts the editor
    has no row for (an input file, a refusal) keeps its content read-only here,
    so that saving cannot drop those parts. Parts left as they were keep their
    stored bytes, in both forms (see :mod:`threads_app.forms`).
    """

    form = MessageForm
    list_display = ("public_id", "thread_link", "type", "role", "created_at", "text")
    list_select_related = ("thread",)
    list_filter = ("role", MessageTypeFilter)
    # The search itself is get_search_results; naming a field turns the box on.
    search_fields = ("public_id",)
    search_help_text = (
        "Words in the text (every one must match), a message or item ID, or a thread "
        "or conversation ID."
    )
    ordering = ("-seq",)
    sortable_by = ()
    show_full_result_count = False
    # Counts beside each filter's choices would count every message per choice.
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_per_page = 50

    class Media:
        css = {"all": ["threads_app/admin.css"]}

    def get_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        if obj is None:
            return ["thread", "role", "content", "attachments", "metadata"]
        if obj.type != MESSAGE:
            return ["public_id", "thread", "type", "created_at", "status", "item_fields"]
        content = "content" if self.is_content_editable(obj) else "conversation_content"
        return [
            "public_id", "thread", "role", "created_at", "status", "run_id",
            content, "attachments", "metadata",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        # The API never changes a message's thread or role once written.
        if obj is None:
            return []
        # Naming the form's own fields here also takes them out of the form.
        if obj.type != MESSAGE:
            return [*self.get_fields(request, obj), "role", "content", "attachments", "metadata"]
        readonly = ["public_id", "thread", "role", "created_at", "status", "run_id"]
        if not self.is_content_editable(obj):
            readonly += ["content", "conversation_content"]
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        # Items that are not messages have no editor: their page is read-only.
        if obj is not None and obj.type != MESSAGE:
            return False
        return super().has_change_permission(request, obj)

    def is_content_editable(self, obj: Message) -> bool:
        """Whether the editor shows every part of the message, so that saving keeps them."""
        # A refusal has no editor row, whichever API (or an import) wrote it.
        parts = obj.content if obj.item is None else obj.item.get("content")
        return all(has_threads_form(part) for part in parts or [])

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("thread")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return MessageChangeList

    @admin.display(description="thread")
    def thread_link(self, obj: Message) -> str:
        # To the message's place in its thread's transcript.
        if getattr(obj, "thread_url", None) is None:
            return obj.thread.public_id
        return format_html('<a href="{}">{}</a>', obj.thread_url, obj.thread.public_id)

    @admin.display(description="text")
    def text(self, obj: Message) -> str:
        return shortened(row_text(obj), 80) if obj.type == MESSAGE else ""

    @admin.display(description="content")
    def conversation_content(self, obj: Message) -> str:
        return format_html(
            '<pre class="threads-json">{}</pre><div class="threads-note">{}</div>',
            pretty_json(item_object(obj).get("content") or []),
            "Holds parts the editor cannot show (an input file, a refusal); "
            "read-only here so that saving keeps them.",
        )

    @admin.display(description="item")
    def item_fields(self, obj: Message) -> str:
        return format_html('<pre class="threads-json">{}</pre>', pretty_json(item_object(obj)))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # IDs are unique-index probes; words are matched in the text as the threads
        # list matches them (on PostgreSQL, from the trigram index for a rare word).
        for term in search_terms(search_term):
            queryset = queryset.filter(store.search.message_condition(term))
        return queryset, False

    def save_model(self, request: HttpRequest, obj: Message, form: Any, change: bool) -> None:
        # An edit reaches the Conversations form (`item`) through the form's save:
        # only the parts that changed are rebuilt there.
        with store.atomic():
            store.staff.save_message(obj, change)
            store.send_on_commit(
                signals.message_updated if change else signals.message_created, obj, request
            )

    def delete_model(self, request: HttpRequest, obj: Message) -> None:
        # Where it stood, for the page the deletion returns to (response_delete);
        # its key is gone once it is deleted.
        position = obj.seq
        with store.atomic():
            thread = store.staff.lock_thread_named(obj.thread_id)
            store.delete_message(thread, obj, request=request)
        setattr(request, DELETED_FROM, (thread, position))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with store.atomic():
            threads: dict[str, Thread] = {}
            for message in store.staff.in_thread_order(queryset):
                if message.thread_id not in threads:
                    threads[message.thread_id] = store.staff.lock_thread_named(message.thread_id)
                store.delete_message(threads[message.thread_id], message, request=request)

    def thread_url(self, request: HttpRequest, obj: Message) -> str | None:
        """The transcript page that marks the message (``message=``), scrolled to it."""
        return self.thread_page_url(
            request, obj.thread.pk, f"message={obj.public_id}", obj.public_id
        )

    def thread_page_url(
        self, request: HttpRequest, thread_pk: int, query: str, anchor: str
    ) -> str | None:
        """A page of the thread's transcript, or None where staff cannot see threads."""
        thread_admin = registered_admin(self.admin_site, Thread)
        if thread_admin is None or not thread_admin.has_view_or_change_permission(request):
            return None
        url = admin_url(self.admin_site, Thread, "change", thread_pk)
        return f"{url}?{query}#{anchor}"

    def response_post_save_add(self, request: HttpRequest, obj: Message) -> HttpResponse:
        url = self.thread_url(request, obj)
        return HttpResponseRedirect(url) if url else super().response_post_save_add(request, obj)

    def response_post_save_change(self, request: HttpRequest, obj: Message) -> HttpResponse:
        # The transcript page that marks this message, its confirmation beside it.
        url = self.thread_url(request, obj)
        if url is None:
            return super().response_post_save_change(request, obj)
        return HttpResponseRedirect(url)

    # The way back to a message's place in its thread ---------------------------
    #
    # Breadcrumbs, Close, Save and Delete of a message lead to the thread's page, at
    # the transcript page that marks the message and anchored on it, rather than to
    # the list of every message.

    def get_thread_place(
        self, request: HttpRequest, obj: Message | None, thread: Thread | None = None
    ) -> dict[str, Any] | None:
        """The message's thread, the link to its place there and to the threads list.

        Without ``obj`` (a message being added to ``thread``), the place is the
        thread's latest page. None where staff cannot see threads.
        """
        if obj is not None:
            thread = obj.thread
            url = self.thread_url(request, obj)
        elif thread is not None:
            url = self.thread_page_url(request, thread.pk, "latest=1", "transcript")
        else:
            return None
        if url is None:
            return None
        return {
            "thread": thread,
            "url": url,
            "changelist_url": admin_url(self.admin_site, Thread, "changelist"),
            "threads_name": capfirst(Thread._meta.verbose_name_plural),
        }

    def render_change_form(
        self, request: HttpRequest, context: dict, add: bool = False, change: bool = False,
        form_url: str = "", obj: Message | None = None,
    ) -> HttpResponse:
        thread = None
        if obj is None and "thread" in request.GET:
            # The transcript's "Add a message" names the thread it came from.
            try:
                thread_id = validation.check_thread_id(request.GET["thread"])
            except validation.ValidationError:
                thread_id = None
            thread = store.staff.thread_named(thread_id) if thread_id else None
        context["thread_place"] = self.get_thread_place(request, obj, thread)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        context = {"thread_place": self.get_thread_place(request, obj) if obj else None}
        return super().history_view(request, object_id, {**context, **(extra_context or {})})

    def render_delete_form(self, request: HttpRequest, context: dict) -> HttpResponse:
        obj = context["object"]
        context["thread_place"] = self.get_thread_place(request, obj)
        context["message_summary"] = message_summary(obj, 300)
        return super().render_delete_form(request, context)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """Describe each message by its role, time and the start of its text."""
        objs = list(objs)
        _, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        can_view = self.has_view_or_change_permission(request)
        described = []
        for obj in objs:
            summary = message_summary(obj, 80)
            name = (
                format_html('<a href="{}">{}</a>',
                            admin_url(self.admin_site, Message, "change", obj.pk), obj.public_id)
                if can_view else obj.public_id
            )
            described.append(format_html(
                "{}: {} · {} · {} · “{}”", capfirst(Message._meta.verbose_name), name,
                summary["label"], summary["created_at"], summary["text"],
            ))
        return described, model_count, perms_needed, protected

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        response = super().response_delete(request, obj_display, obj_id)
        if not isinstance(response, HttpResponseRedirect):
            return response  # a popup's answer
        # The message is gone; the page of its thread where it stood remains.
        deleted_from = getattr(request, DELETED_FROM, None)
        if deleted_from is None:
            return response
        thread, position = deleted_from
        url = self.thread_page_url(request, thread.pk, f"after={position - 1}", "transcript")
        return HttpResponseRedirect(url) if url else response

    # The trail: what a change replaced, what a deletion removed ------------------

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        """Django's change message, and the values the edit replaced (see :mod:`.trail`)."""
        message = super().construct_change_message(request, form, formsets, add)
        if not add:
            # The form's initial values are the stored ones it was built from.
            previous = {
                name: form.initial.get(name)
                for name in form.changed_data if name in trail.KEPT_FIELDS
            }
            if previous:
                message.append(trail.replaced(form.instance, previous))
        return message

    def log_deletions(self, request: HttpRequest, queryset: Any) -> list[LogEntry]:
        """Log each deletion with the message as it was (see :mod:`.trail`)."""
        return [
            LogEntry.objects.log_actions(
                user_id=request.user.pk, queryset=[obj], action_flag=DELETION,
                change_message=[trail.deleted(obj)], single_object=True,
            )
            for obj in queryset
        ]


def describe_selection(changelist: ChangeList) -> list[str]:
    """What selects the list's rows, in words: its search, its filters, its date."""
    described = []
    if changelist.query:
        described.append(f"matching the search “{changelist.query}”")
    params = changelist.get_filters_params()
    used: set[str] = set()
    for spec in changelist.filter_specs:
        expected = set(spec.expected_parameters())
        if not expected & params.keys():
            continue
        used |= expected
        chosen = [str(choice["display"]) for choice in spec.choices(changelist)
                  if choice.get("selected")]
        values = chosen or [", ".join(params[key][-1] for key in sorted(expected & params.keys()))]
        described.append(f"{spec.title}: {', '.join(values)}")
    field = changelist.date_hierarchy
    if field and f"{field}__year" in params:
        parts = [params[f"{field}__{unit}"][-1] for unit in ("year", "month", "day")
                 if f"{field}__{unit}" in params]
        used |= {f"{field}__{unit}" for unit in ("year", "month", "day")}
        described.append(f"{field.replace('_', ' ')} in {'-'.join(parts)}")
    described += [f"{key} = {values[-1]}" for key, values in params.items() if key not in used]
    return described


def message_summary(row: Message, length: int) -> dict[str, str]:
    """How a message is named to staff: its role (or item type), its time, its text's start."""
    entry = transcript_entry(row)
    texts = [part["text"] for part in entry["parts"] if part["type"] in ("text", "refusal")]
    return {
        "label": entry["label"],
        "created_at": timezone.localtime(row.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        "text": Truncator(" ".join(texts)).chars(length),
    }


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("active", "revoked"):
            return store.keys.in_state(queryset, revoked=self.value() == "revoked")
        return queryset


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    """Keys are created here with their secret shown once; afterwards only the prefix."""

    form = APIKeyForm
    list_display = ("__str__", "name", "user", "created_at", "last_used_at", "is_active")
    list_select_related = ("user",)
    list_filter = (KeyStateFilter,)
    ordering = ("-created_at",)
    actions = ["revoke"]

    def get_autocomplete_fields(self, request: HttpRequest) -> list[str]:
        """The user by name, searched as they type, where the site's user admin allows it.

        Django's autocomplete searches the related model's admin, with its
        ``search_fields``, and only for staff who may view users. Elsewhere the
        user is typed by username (see :meth:`formfield_for_dbfield`).
        """
        user_admin = registered_admin(self.admin_site, get_user_model())
        if (
            user_admin is not None
            and user_admin.get_search_fields(request)
            and user_admin.has_view_permission(request)
        ):
            return ["user"]
        return []

    def formfield_for_dbfield(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        if db_field.name == "user" and "user" not in self.get_autocomplete_fields(request):
            # No user search to ask: the username, typed, rather than a list of every user,
            # and without the add and change links, which would fill in a user's pk.
            user_model = db_field.related_model
            username = user_model._meta.get_field(user_model.USERNAME_FIELD)
            return forms.ModelChoiceField(
                queryset=user_model._default_manager.all(),
                to_field_name=user_model.USERNAME_FIELD,
                widget=forms.TextInput(attrs={"autocomplete": "off"}),
                label=capfirst(db_field.verbose_name),
                help_text=f"The user's {username.verbose_name}.",
                error_messages={"invalid_choice": f"No user has this {username.verbose_name}."},
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return ["name", "prefix", f"user__{get_user_model().USERNAME_FIELD}"]

    def get_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        if obj is None:
            return ["user", "name"]
        return ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        return [] if obj is None else ["prefix", "user", "created_at", "last_used_at", "revoked_at"]

    @admin.display(description="active", boolean=True)
    def is_active(self, obj: APIKey) -> bool:
        return obj.is_active

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        if not change:
            obj.secret = obj.assign_secret()  # for response_add only; never stored
        store.keys.save_key(obj)

    # Where a new key's secret waits, in the creator's session, for the one page
    # that shows it: {key pk: secret}. That page takes it out.
    pending_secrets_key = "threads_app.new_api_key_secrets"

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        secret = path(
            "<int:object_id>/secret/",
            self.admin_site.admin_view(self.secret_view),
            name=f"{opts.app_label}_{opts.model_name}_secret",
        )
        return [secret, *super().get_urls()]

    def response_add(
        self, request: HttpRequest, obj: APIKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = getattr(obj, "secret", None)
        if secret is None or IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        # Post/redirect/get: the page that shows the secret is a GET, so reloading it
        # posts nothing again and creates no second key. The secret waits in the
        # session, not in a URL or a message, and leaves it when shown.
        pending = request.session.get(self.pending_secrets_key, {})
        request.session[self.pending_secrets_key] = {**pending, str(obj.pk): secret}
        return HttpResponseRedirect(admin_url(self.admin_site, APIKey, "secret", obj.pk))

    def secret_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Show a new key's secret once; afterwards, say that it cannot be shown again."""
        api_key = self.get_object(request, object_id)
        if api_key is None:
            raise Http404("No such API key.")
        if not self.has_view_or_change_permission(request, api_key):
            raise PermissionDenied
        pending = request.session.get(self.pending_secrets_key, {})
        secret = pending.pop(str(api_key.pk), None)
        if secret is not None:
            request.session[self.pending_secrets_key] = pending
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created" if secret else "API key",
            "opts": self.opts,
            "api_key": api_key,
            "secret": secret,
            "change_url": admin_url(self.admin_site, APIKey, "change", api_key.pk),
            "changelist_url": admin_url(self.admin_site, APIKey, "changelist"),
        }
        response = TemplateResponse(request, "admin/threads_app/apikey/secret.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = store.keys.revoke_keys(queryset)
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)
