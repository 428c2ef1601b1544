"""The staff admin: threads read as conversations, messages edited by the API's rules.

A thread's transcript shows every row of it, in order, as the Conversations
view has it: user and assistant messages, system and developer messages, and
items of other types (tool calls, their outputs, reasoning), which are read-only.

Built for 100,000 threads and millions of messages:

- the thread list's message count and last activity are correlated subqueries,
  computed in one query for the rows of the page only (each one an index range
  on the messages' (thread, seq) index), never a GROUP BY join over every message;
- ``show_full_result_count`` is off, and :class:`EstimatedCountPaginator` takes
  the planner's row estimate on PostgreSQL instead of counting a large table
  on every page load;
- searching the text of messages and items is an ``EXISTS`` per thread, not a join that
  multiplies rows and then needs ``DISTINCT``;
- a transcript is a keyset page of one thread's messages, which costs the same
  on its first page and its ten-thousandth.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.admin.options import IS_POPUP_VAR, IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.contrib.auth import get_permission_codename, get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator, capfirst, smart_split, unescape_string_literal

from . import signals, trail, validation
from .deletion import delete_message, delete_thread
from .forms import APIKeyForm, MessageForm, ThreadForm
from .ids import MESSAGE_PREFIX, THREAD_PREFIX
from .items import THREADS_ROLES, item_object, threads_part
from .models import APIKey, Message, Thread, Tombstone
from .pagination import MessagePagination, PageRequest
from .transfer import EXPORT_CONTENT_TYPE, export_lines


class EstimatedCountPaginator(Paginator):
    """Counts exactly, except an unfiltered large table on PostgreSQL.

    There ``COUNT(*)`` reads the whole table (tens of milliseconds per million
    rows, on every page load), while ``pg_class.reltuples`` is the planner's
    estimate, kept fresh by autovacuum and read in well under a millisecond.
    A list then shows "about N" pages; a filtered or searched list is counted
    exactly, since its filter has to read its rows anyway.
    """

    # Below this many estimated rows an exact count is cheap enough.
    estimate_from = 100_000

    @cached_property
    def count(self) -> int:
        estimate = self.get_estimate()
        if estimate is not None and estimate >= self.estimate_from:
            return estimate
        return super().count

    def get_estimate(self) -> int | None:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or queryset.query.has_filters():
            return None
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


def search_terms(search_term: str) -> Iterator[str]:
    """Split a search as the admin does: on spaces, keeping "quoted phrases" whole."""
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        if bit:
            yield bit


def json_fragment(term: str) -> str:
    """``term`` as it appears inside a JSON string, which is how the columns hold text."""
    return orjson.dumps(term).decode()[1:-1]


def notify(signal: Any, instance: Thread | Message, request: HttpRequest) -> None:
    """Send one of the API's signals once the transaction commits, as the API does.

    Hosts connect to them to follow every change (a search index, say), and a
    change made here is as real as one made through the API.
    """
    name = "thread" if isinstance(instance, Thread) else "message"
    transaction.on_commit(
        lambda: signal.send(sender=type(instance), **{name: instance}, request=request)
    )


def lock_thread(pk: int) -> Thread:
    """Take the thread's row lock, as the API does before writing into a thread."""
    return Thread.objects.select_for_update().get(pk=pk)


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
        return {"type": "image_url", "url": part["image_url"], "detail": part.get("detail")}
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
    is_message = row.type == "message"
    return {
        "message": row,
        "is_message": is_message,
        "label": row.role if is_message else row.type,
        "in_threads_view": is_message and row.role in THREADS_ROLES,
        "parts": [transcript_part(part) for part in item.get("content") or []]
        if is_message else [],
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
        if self.value() is None:
            return queryset
        # EXISTS stops at the first such message, on the (thread, seq) index.
        return queryset.filter(
            Exists(Message.objects.filter(thread=OuterRef("pk"), role=self.value()))
        )


class ThreadChangeList(ChangeList):
    """The page's threads first, then their activity in one query over just those rows.

    Annotating the paged query itself would be one query less, but PostgreSQL
    computes a select list's subqueries for every row an OFFSET skips: page
    1,000 of 100,000 threads (2M messages) loaded in 299 ms that way, 55 ms this way.
    """

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        threads = list(self.result_list)
        activity = self.model_admin.get_activity([thread.pk for thread in threads])
        for thread in threads:
            thread.message_count, thread.last_activity = activity[thread.pk]
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


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    form = ThreadForm
    list_display = (
        "public_id", "owner", "created", "message_count", "last_activity", "metadata_glance"
    )
    list_select_related = ("owner",)
    list_filter = ("owner", RolePresentFilter)
    date_hierarchy = "created_at"
    # The search itself is get_search_results; naming a field turns the box on.
    search_fields = ("public_id",)
    search_help_text = (
        "Thread ID, message ID, metadata key or value, or words in messages and other items."
    )
    ordering = ("-seq",)
    # Only orders an index serves: sorting by a subquery column would compute it for every row.
    sortable_by = ("public_id", "created")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    actions = ["export_json"]
    raw_id_fields = ("owner",)
    transcript_page_size = 50
    transcript_pagination_class = MessagePagination

    class Media:
        css = {"all": ["threads_app/admin.css"]}

    # Fields ---------------------------------------------------------------

    def get_fields(self, request: HttpRequest, obj: Thread | None = None) -> list[str]:
        if obj is None:
            return ["owner", "metadata", "tool_resources"]
        return ["public_id", "owner", "created_at", "metadata", "tool_resources"]

    def get_readonly_fields(self, request: HttpRequest, obj: Thread | None = None) -> list[str]:
        return [] if obj is None else ["public_id", "owner", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("owner")

    # The list -------------------------------------------------------------

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        # Only the list pays for activity; the change page does not.
        return ThreadChangeList

    def get_activity(self, pks: list[int]) -> dict[int, tuple[int, Any]]:
        """Message count and last activity of each thread in ``pks``, in one query."""
        # Correlated subqueries, evaluated for these rows only, each one a range
        # (or a single probe, newest first) on the messages' (thread, seq) index;
        # never a GROUP BY join over the whole messages table.
        messages = Message.objects.filter(thread=OuterRef("pk")).order_by()
        count = messages.values("thread").annotate(n=Count("*")).values("n")
        latest = messages.order_by("-seq").values("created_at")[:1]
        rows = (
            Thread.objects.filter(pk__in=pks)
            .order_by()
            .annotate(
                message_count=Coalesce(Subquery(count, output_field=IntegerField()), 0),
                last_activity=Coalesce(Subquery(latest), F("created_at")),
            )
            .values_list("pk", "message_count", "last_activity")
        )
        return {pk: (message_count, last) for pk, message_count, last in rows} if pks else {}

    @admin.display(description="created", ordering="seq")
    def created(self, obj: Thread) -> Any:
        # Sorted by seq, which follows creation and is the primary key's index.
        return obj.created_at

    @admin.display(description="messages")
    def message_count(self, obj: Thread) -> int:
        return obj.message_count

    @admin.display(description="last activity")
    def last_activity(self, obj: Thread) -> Any:
        return obj.last_activity

    @admin.display(description="metadata")
    def metadata_glance(self, obj: Thread) -> str:
        shown = 3
        pairs = list((obj.metadata or {}).items())
        text = ", ".join(f"{key}={value[:40]}" for key, value in pairs[:shown])
        return text + (f" (+{len(pairs) - shown} more)" if len(pairs) > shown else "")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        for term in search_terms(search_term):
            queryset = queryset.filter(self.get_search_condition(term))
        # EXISTS and IN never repeat a thread, so no DISTINCT is needed.
        return queryset, False

    def get_search_condition(self, term: str) -> Q:
        # A term shaped like an ID is looked up as one: a unique-index probe,
        # where an OR with the text search would read every message.
        if term.startswith(THREAD_PREFIX + "_"):
            return Q(public_id=term)
        if term.startswith(MESSAGE_PREFIX + "_"):
            return Q(pk__in=Message.objects.filter(public_id=term).values("thread_id"))
        fragment = json_fragment(term)
        # Metadata keys and values alike are text in the column's JSON.
        # A message's text is in `content`; an item's (and a Conversations message's
        # parts with no Threads form) in `item`. One EXISTS reads each row once.
        return Q(metadata__icontains=fragment) | Exists(
            Message.objects.filter(
                Q(content__icontains=fragment) | Q(item__icontains=fragment),
                thread=OuterRef("pk"),
            )
        )

    # The transcript ---------------------------------------------------------

    def render_change_form(
        self, request: HttpRequest, context: dict, add: bool = False, change: bool = False,
        form_url: str = "", obj: Thread | None = None,
    ) -> HttpResponse:
        if obj is not None and not add:
            context["transcript"] = self.get_transcript(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_transcript_page_request(self, request: HttpRequest) -> PageRequest:
        last = 2**63 - 1  # past every seq

        def position(name: str) -> int | None:
            value = request.GET.get(name, "")
            return min(int(value), last) if value.isascii() and value.isdigit() else None

        before = last if "latest" in request.GET else position("before")
        return PageRequest(self.transcript_page_size, True, position("after"), before)

    def get_transcript(self, request: HttpRequest, thread: Thread) -> Transcript:
        page_request = self.get_transcript_page_request(request)
        page = self.transcript_pagination_class().paginate_queryset(
            Message.objects.filter(thread=thread), page_request
        )
        message_admin = self.admin_site._registry.get(Message)
        can_change = message_admin is not None and message_admin.has_change_permission(request)
        can_add = message_admin is not None and message_admin.has_add_permission(request)
        can_view = message_admin is not None and message_admin.has_view_permission(request)
        entries = []
        for row in page.items:
            entry = transcript_entry(row)
            if entry["is_message"]:
                if can_change:
                    entry["change_url"] = admin_url(self.admin_site, Message, "change", row.pk)
            elif can_view:
                # Items that are not messages have no editor: their page is read-only.
                entry["view_url"] = admin_url(self.admin_site, Message, "change", row.pk)
            entries.append(entry)

        def link(**params: Any) -> str:
            query = request.GET.copy()
            for name in ("after", "before", "latest"):
                query.pop(name, None)
            query.update(params)
            return "?" + query.urlencode() + "#transcript"

        items = page.items
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
        )

    # Writes ---------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Thread, form: Any, change: bool) -> None:
        with transaction.atomic():
            if change:
                lock_thread(obj.pk)
            obj.save()
            notify(signals.thread_updated if change else signals.thread_created, obj, request)

    def delete_model(self, request: HttpRequest, obj: Thread) -> None:
        with transaction.atomic():
            thread = lock_thread(obj.pk)
            delete_thread(thread)
            notify(signals.thread_deleted, thread, request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            for pk in queryset.order_by("pk").values_list("pk", flat=True):
                thread = lock_thread(pk)
                delete_thread(thread)
                notify(signals.thread_deleted, thread, request)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """Summarize, rather than list, the messages that go with the threads.

        Django's default collects and shows every related row, which for a thread
        of a million messages would load them all into the confirmation page.
        """
        threads = list(objs)
        counts = dict(
            Message.objects.filter(thread__in=[thread.pk for thread in threads])
            .order_by()
            .values_list("thread")
            .annotate(n=Count("*"))
        )
        described = [
            f"{capfirst(Thread._meta.verbose_name)}: {thread.public_id} "
            f"({counts.get(thread.pk, 0)} messages)"
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
        threads = Thread.objects.filter(pk__in=queryset.values("pk")).order_by("seq")
        response = StreamingHttpResponse(export_lines(threads), content_type=EXPORT_CONTENT_TYPE)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="threads-{stamp}.jsonl"'
        return response

    # Export of the list ---------------------------------------------------------
    #
    # The list's "Export" takes the list's own query string (search, filters, date)
    # to a page that says what the export holds, whose button downloads it through
    # the same exporter as the action: every thread the list selects, on every page.

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        name = f"{opts.app_label}_{opts.model_name}"
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name=f"{name}_export"),
            path("export/download/", self.admin_site.admin_view(self.export_download_view),
                 name=f"{name}_export_download"),
            *super().get_urls(),
        ]

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
    list_display = ("public_id", "thread", "type", "role", "created_at", "text")
    list_select_related = ("thread",)
    search_fields = ("public_id",)
    search_help_text = "A message ID or a thread ID."
    ordering = ("-seq",)
    sortable_by = ()
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50

    class Media:
        css = {"all": ["threads_app/admin.css"]}

    def get_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        if obj is None:
            return ["thread", "role", "content", "attachments", "metadata"]
        if obj.type != "message":
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
        if obj.type != "message":
            return [*self.get_fields(request, obj), "role", "content", "attachments", "metadata"]
        readonly = ["public_id", "thread", "role", "created_at", "status", "run_id"]
        if not self.is_content_editable(obj):
            readonly += ["content", "conversation_content"]
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        # Items that are not messages have no editor: their page is read-only.
        if obj is not None and obj.type != "message":
            return False
        return super().has_change_permission(request, obj)

    def is_content_editable(self, obj: Message) -> bool:
        """Whether the editor shows every part of the message, so that saving keeps them."""
        # A refusal has no editor row, whichever API (or an import) wrote it.
        parts = obj.content if obj.item is None else obj.item.get("content")
        return all(has_threads_form(part) for part in parts or [])

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("thread")

    @admin.display(description="text")
    def text(self, obj: Message) -> str:
        entry = transcript_entry(obj)
        if not entry["is_message"]:
            return ""
        texts = [part["text"] for part in entry["parts"] if part["type"] in ("text", "refusal")]
        joined = " ".join(texts)
        return joined[:80] + ("…" if len(joined) > 80 else "")

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
        term = search_term.strip()
        if not term:
            return queryset, False
        # Exact IDs only: both are unique-index probes on a table of millions.
        return queryset.filter(Q(public_id=term) | Q(thread__public_id=term)), False

    def save_model(self, request: HttpRequest, obj: Message, form: Any, change: bool) -> None:
        # As the API does: lock the thread first, so that writes into one thread
        # are serialized and commit order is list order.
        with transaction.atomic():
            lock_thread(obj.thread_id)
            if not change:
                obj.created_at = obj.completed_at = timezone.now()
            # An edit reaches the Conversations form (`item`) through the form's save:
            # only the parts that changed are rebuilt there.
            obj.save()
            notify(signals.message_updated if change else signals.message_created, obj, request)

    def delete_model(self, request: HttpRequest, obj: Message) -> None:
        with transaction.atomic():
            delete_message(lock_thread(obj.thread_id), obj)
            notify(signals.message_deleted, obj, request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            threads: dict[int, Thread] = {}
            for message in queryset.order_by("thread_id", "seq"):
                if message.thread_id not in threads:
                    threads[message.thread_id] = lock_thread(message.thread_id)
                delete_message(threads[message.thread_id], message)
                notify(signals.message_deleted, message, request)

    def thread_url(self, request: HttpRequest, obj: Message, query: str) -> str | None:
        return self.thread_page_url(request, obj.thread_id, query, obj.public_id)

    def thread_page_url(
        self, request: HttpRequest, thread_pk: int, query: str, anchor: str
    ) -> str | None:
        """A page of the thread's transcript, or None where staff cannot see threads."""
        thread_admin = self.admin_site._registry.get(Thread)
        if thread_admin is None or not thread_admin.has_view_or_change_permission(request):
            return None
        url = admin_url(self.admin_site, Thread, "change", thread_pk)
        return f"{url}?{query}#{anchor}"

    def response_post_save_add(self, request: HttpRequest, obj: Message) -> HttpResponse:
        url = self.thread_url(request, obj, "latest=1")
        return HttpResponseRedirect(url) if url else super().response_post_save_add(request, obj)

    def response_post_save_change(self, request: HttpRequest, obj: Message) -> HttpResponse:
        # The transcript page that starts with this message.
        url = self.thread_url(request, obj, f"after={obj.seq - 1}")
        if url is None:
            return super().response_post_save_change(request, obj)
        return HttpResponseRedirect(url)

    # The way back to a message's place in its thread ---------------------------
    #
    # Breadcrumbs, Close, Save and Delete of a message lead to the thread's page, at
    # the transcript page that starts with the message and anchored on it, rather
    # than to the list of every message.

    def get_thread_place(
        self, request: HttpRequest, obj: Message | None, thread: Thread | None = None
    ) -> dict[str, Any] | None:
        """The message's thread, the link to its place there and to the threads list.

        Without ``obj`` (a message being added to ``thread``), the place is the
        thread's latest page. None where staff cannot see threads.
        """
        if obj is not None:
            thread = obj.thread
            url = self.thread_url(request, obj, f"after={obj.seq - 1}")
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
            thread = Thread.objects.filter(public_id=thread_id).first() if thread_id else None
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
        # The message is gone; its tombstone still says where it stood.
        tombstone = Tombstone.objects.filter(public_id=obj_display).first()
        thread = tombstone and Thread.objects.filter(public_id=tombstone.container).first()
        if not thread:
            return response
        url = self.thread_page_url(request, thread.pk, f"after={tombstone.seq - 1}", "transcript")
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
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
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
        if change:
            obj.save()
            return
        created, secret = APIKey.generate(obj.user, obj.name)
        # The admin goes on with ``obj`` (log entry, response): make it the new key.
        for field in APIKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding, obj._state.db = False, created._state.db
        obj.secret = secret  # for response_add only; never stored

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
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            key.revoke()
        self.message_user(request, f"Revoked {len(keys)} API key(s).", messages.SUCCESS)
