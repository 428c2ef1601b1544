"""Threads and their items as JSON Lines, out of the database and back in.

The export writes one object per line in the API's own shapes: a thread, then
every row of its history in order, then the next thread. A thread line carries
one key the API does not show, ``owner`` (the owner's username), so that a
whole database can move in one file. A message the Threads API shows is
written as it returns it (``"object": "thread.message"``), plus its
Conversations form under ``item`` if it was written through that API; any
other row (an item that is not a message, a system or developer message) as
``{"object": "thread.item", "thread_id", "created_at", "item"}``, ``item``
being what the Conversations API returns. The ``export_threads`` command
writes these lines to a file and the admin's export action streams them: one
exporter for both.

The import reads that format and also what the ``openai`` SDK gives:
``model_dump()`` of a thread, a message or a conversation item, and list pages
(``{"object": "list", "data": [...]}``), one per line or as one JSON document.
It keeps IDs and timestamps, skips what is already there (matched on the
public ID), validates with the API's rules, and reports a bad record with its
line number without stopping. It sends no signals: like ``loaddata``, it
restores data rather than making changes through the API.
"""

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from django.conf import settings
from django.core.management.base import OutputWrapper
from django.db.models import QuerySet
from django.utils import timezone

from . import store, validation
from .items import (
    ITEM_RECORD_OBJECT,
    LIST_OBJECT,
    MESSAGE_OBJECT,
    THREAD_OBJECT,
    in_threads_view,
    item_object,
)
from .models import Message, Thread
from .representation import message_object, thread_object, unix_seconds
from .store.items import item_row

# The media type the admin serves an export as: JSON Lines, one object a line.
EXPORT_CONTENT_TYPE = "application/jsonl"
# Keys of a list page besides its items; the SDK's page keeps what the server sent.
LIST_PAGE_FIELDS = ("object", "data", "first_id", "last_id", "has_more")


def from_unix(seconds: int) -> datetime:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment if settings.USE_TZ else timezone.make_naive(moment)


def dumps_line(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value) + b"\n"


def add_progress_arguments(parser: Any) -> None:
    """Add `--progress` and `--no-progress`; left out, a bar is drawn on a terminal only."""
    parser.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="Show a progress bar on stderr (default: when stderr is a terminal).",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false")


def unstyled(text: str) -> str:
    return text


class PlainStream:
    """A command's stdout or stderr written to as it is: no style, no line ending added.

    Django shows everything a command writes to stderr in its error style on a
    terminal, and ends each write with a newline; a progress bar is neither an
    error nor a run of lines.
    """

    def __init__(self, out: OutputWrapper) -> None:
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text, style_func=unstyled, ending="")

    def flush(self) -> None:
        self.out.flush()


class Progress:
    """A one-line progress bar on a terminal, drawn only once a run has lasted a moment.

    ``total`` may be None (reading a pipe): the line then shows counts alone.
    Commands draw it on stderr through :class:`PlainStream`.
    """

    width = 30
    delay = 0.5  # seconds before the first draw: short runs print nothing
    interval = 0.2  # seconds between redraws

    def __init__(
        self,
        stream: IO[str],
        total: int | None,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total
        self.enabled = enabled
        self.clock = clock
        self.started = clock()
        self.drawn_at: float | None = None
        self.shown = 0  # characters of the bar now on the line, to clear it


    def line(self, done: int, note: str) -> str:
        if not self.total:
            return note
        share = min(done / self.total, 1.0)
        filled = round(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        return f"[{bar}] {share:4.0%} {note}"

    def update(self, done: int, note: str = "", *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and (
            now - self.started < self.delay
            or (self.drawn_at is not None and now - self.drawn_at < self.interval)
        ):
            return
        self.drawn_at = now
        line = self.line(done, note).ljust(self.width + 40)
        self.stream.write("\r" + line)
        self.stream.flush()
        self.shown = len(line)

    def clear(self) -> None:
        """Blank the bar's line, so that a message can be written there; the next update
        draws the bar again."""
        if self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0

    def close(self, done: int, note: str = "") -> None:
        if self.drawn_at is not None:
            self.update(done, note, force=True)
            self.stream.write("\n")
            self.stream.flush()
            self.shown = 0


# Export ---------------------------------------------------------------------


def thread_record(thread: Thread) -> dict[str, Any]:
    return {**thread_object(thread), "owner": thread.owner.get_username()}


def row_record(row: Message, thread_id: str) -> dict[str, Any]:
    """One row's line: see the module's docstring."""
    if in_threads_view(row.type, row.role):
        record = message_object(row, thread_id)
        if row.item is not None:
            # Its parts may hold more than the Threads form (an input file, say).
            record["item"] = row.item
        return record
    return {
        "object": ITEM_RECORD_OBJECT,
        "thread_id": thread_id,
        "created_at": unix_seconds(row.created_at),
        "item": item_object(row),
    }


@dataclass
class ExportCounts:
    threads: int = 0
    messages: int = 0  # in the Threads view
    items: int = 0  # outside it

    def __str__(self) -> str:
        return f"{self.threads} threads, {self.messages} messages and {self.items} other items"


def export_lines(
    threads: QuerySet[Thread],
    counts: ExportCounts | None = None,
    progress: Progress | None = None,
) -> Iterator[bytes]:
    """Yield each thread and then every row of it, in order, one JSON object a line.

    The one exporter: the command writes these lines to a file, the admin's
    export action streams them.
    """
    counts = ExportCounts() if counts is None else counts
    for thread in store.transfer.exported_threads(threads):
        yield dumps_line(thread_record(thread))
        counts.threads += 1
        for row in store.transfer.exported_rows(thread):
            record = row_record(row, thread.public_id)
            yield dumps_line(record)
            if record["object"] == MESSAGE_OBJECT:
                counts.messages += 1
            else:
                counts.items += 1
        if progress is not None:
            progress.update(counts.threads, str(counts))
    if progress is not None:
        progress.close(counts.threads, str(counts))


def export_threads(
    threads: QuerySet[Thread],
    write: Callable[[bytes], object],
    progress: Progress | None = None,
) -> ExportCounts:
    """Write :func:`export_lines` of ``threads``; return what was written."""
    counts = ExportCounts()
    for line in export_lines(threads, counts, progress):
        write(line)
    return counts


# Import ---------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A record that was not imported, and why."""

    line: int
    message: str
    where: str = ""

    def __str__(self) -> str:
        place = f"line {self.line}" + (f", {self.where}" if self.where else "")
        return f"{place}: {self.message}"


@dataclass(frozen=True)
class Record:
    """One object read from the input, with where it stood."""

    line: int
    where: str
    value: Any
    # Its place among the rows of one second: file order, or reversed for a
    # list page in descending order (whose later items are the older ones).
    ordinal: int


@dataclass
class ImportCounts:
    threads_created: int = 0
    threads_present: int = 0
    messages_created: int = 0
    messages_present: int = 0
    items_created: int = 0  # rows outside the Threads view
    items_present: int = 0
    problems: list[Problem] = field(default_factory=list)

    def created(self) -> str:
        return (
            f"{self.threads_created} threads, {self.messages_created} messages and "
            f"{self.items_created} other items"
        )

    def present(self) -> str:
        return (
            f"{self.threads_present} threads, {self.messages_present} messages and "
            f"{self.items_present} other items"
        )


def is_list_page(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("data"), list)
        and value.get("object", LIST_OBJECT) == LIST_OBJECT
        and set(value) <= set(LIST_PAGE_FIELDS)
    )


def page_is_descending(items: list[Any], default: str) -> bool:
    """Tell a page's order from its timestamps; only a page of one second needs ``default``."""
    stamps = [
        item.get("created_at")
        for item in items
        if isinstance(item, dict) and isinstance(item.get("created_at"), int)
    ]
    for earlier, later in zip(stamps, stamps[1:], strict=False):
        if earlier != later:
            return later < earlier
    return default == "desc"


class Reader:
    """Turn input lines into items: JSON Lines, or one JSON document spread over lines."""

    def __init__(self, list_order: str = "desc") -> None:
        self.list_order = list_order
        self.position = 0
        self.bytes_read = 0

    def next_ordinal(self, descending: bool = False) -> int:
        self.position += 1
        return -self.position if descending else self.position

    def records_of(self, value: Any, line: int, where: str = "") -> Iterator[Record | Problem]:
        if is_list_page(value):
            descending = page_is_descending(value["data"], self.list_order)
            for i, item in enumerate(value["data"]):
                yield Record(line, f"{where}data[{i}]", item, self.next_ordinal(descending))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from self.records_of(item, line, f"{where}[{i}]")
        else:
            yield Record(line, where, value, self.next_ordinal())

    def read(self, lines: Iterable[bytes]) -> Iterator[Record | Problem]:
        lines = iter(lines)
        first = next(lines, b"")
        if first.strip() and not parses(first):
            # Not JSON Lines: perhaps one document written with indentation.
            rest = b"".join(lines)
            try:
                document = orjson.loads(first + rest)
            except orjson.JSONDecodeError:
                lines = iter(rest.splitlines(keepends=True))
            else:
                self.bytes_read += len(first) + len(rest)
                yield from self.records_of(document, 1)
                return
        yield from self.read_lines(itertools.chain([first], lines))

    def read_lines(self, lines: Iterable[bytes]) -> Iterator[Record | Problem]:
        for number, line in enumerate(lines, 1):
            self.bytes_read += len(line)
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                yield Problem(number, f"not valid JSON ({error})")
                continue
            yield from self.records_of(value, number)


def parses(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def without_nulls(value: Any) -> Any:
    """``value`` less the null fields of its objects, at any depth."""
    if isinstance(value, dict):
        return {key: without_nulls(v) for key, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def as_given(cleaned: Any, given: Any) -> Any:
    """``given`` where the rules left its value as it was; otherwise what they made of it.

    A value kept as given keeps the order of its keys, and with it its bytes:
    an export imported and exported again is the same file, whatever order the
    rules would build a value in. Values are compared with their keys sorted.
    """
    try:
        same = orjson.dumps(given, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            cleaned, option=orjson.OPT_SORT_KEYS
        )
    except (TypeError, orjson.JSONEncodeError):
        return cleaned
    return given if same else cleaned


def given_fields(fields: dict[str, Any], body: dict[str, Any], names: Iterable[str]) -> None:
    """Keep in ``fields`` the given form (see :func:`as_given`) of each JSON value named."""
    for name in names:
        fields[name] = as_given(fields[name], body.get(name))


# The JSON columns of a thread and of a message's Threads form.
THREAD_JSON_FIELDS = ("tool_resources", "metadata")
MESSAGE_JSON_FIELDS = ("incomplete_details", "content", "attachments", "metadata")


@dataclass
class PendingRow:
    """A message or item, cleaned, waiting to be written with the rest of its thread's run."""

    record: Record
    thread_id: str
    public_id: str
    created_at: int  # Unix seconds
    message: dict[str, Any] | None  # a Threads message's fields (``clean_stored_message``)
    item: dict[str, Any] | None  # the Conversations form (``clean_item``), where there is one
    given_item: Any = None  # that form as the input gave it (see ``as_given``)

    @property
    def order(self) -> tuple[int, int]:
        return (self.created_at, self.record.ordinal)

    @property
    def noun(self) -> str:
        return "message" if self.message is not None else "item"

    def row(self, thread: Thread) -> Message:
        if self.item is None:
            return Message(thread=thread, **message_fields(self.message))
        row = item_row(thread, self.item, self.public_id, from_unix(self.created_at))
        row.item = as_given(row.item, self.given_item)
        if self.message is not None:
            # Its Threads form as it was: status, times, run, metadata and parts.
            for name, value in message_fields(self.message).items():
                setattr(row, name, value)
        return row


class Importer:
    """Write threads, messages and items read by :class:`Reader` into the database.

    Consecutive rows of one thread are written together, sorted by
    ``created_at`` (ties in file order), in one transaction that holds the
    thread's row as the API's writes do: list order is insertion order, so the
    imported thread lists like the original. A thread record must come before
    its rows; rows whose thread is neither in the database nor earlier in the
    input get a new, empty thread of ``owner`` (or are refused without one).
    Items from the SDK name no thread and have no time: they go into
    ``thread_id``, stamped with the time of the import, as the API would.
    """

    # Most rows held in memory before they are written: a longer run of one
    # thread's rows is sorted and written in parts of this size.
    batch_size = 10_000
    # IDs per `IN (...)` lookup; SQLite allows at most 32,766 parameters.
    lookup_size = 500

    def __init__(
        self,
        owner: Any = None,
        report: Callable[[Problem], None] | None = None,
        thread_id: str | None = None,
    ) -> None:
        self.owner = owner
        self.report = report
        self.thread_id = thread_id
        self.now = int(timezone.now().timestamp())
        self.counts = ImportCounts()
        self.owners: dict[str, Any] = {}
        # Threads whose own record was refused: their rows must not land elsewhere.
        self.refused_threads: set[str] = set()
        self.batch: list[PendingRow] = []

    def problem(
        self, record: Record | Problem, message: str = "", param: str | None = None
    ) -> None:
        if isinstance(record, Problem):
            found = record
        else:
            where = ".".join(part for part in (record.where, param) if part)
            found = Problem(record.line, message, where)
        self.counts.problems.append(found)
        if self.report is not None:
            self.report(found)

    def add(self, record: Record | Problem) -> None:
        if isinstance(record, Problem):
            self.problem(record)
            return
        value = record.value
        kind = value.get("object") if isinstance(value, dict) else None
        try:
            # orjson reads 1,024 levels but writes 254: what the API would refuse
            # nested, an import must refuse too, or the lists holding it cannot answer.
            validation.check_json_depth(value)
            if kind == THREAD_OBJECT:
                self.flush()
                self.add_thread(record)
            elif kind == MESSAGE_OBJECT:
                self.add_message(record)
            elif kind == ITEM_RECORD_OBJECT:
                self.add_item_record(record)
            elif kind is None and isinstance(value, dict) and "type" in value:
                self.add_item(record)
            else:
                self.problem(record, f"not a thread, a message or an item (object: {kind!r})")
        except validation.ValidationError as error:
            self.problem(record, error.message, error.param)

    def finish(self) -> ImportCounts:
        self.flush()
        return self.counts

    def owner_named(self, username: Any) -> Any:
        if not isinstance(username, str):
            return None
        if username not in self.owners:
            self.owners[username] = store.transfer.user_named(username)
        return self.owners[username]

    def add_thread(self, record: Record) -> None:
        body = dict(record.value)
        username = body.pop("owner", None)
        try:
            fields = validation.clean_stored_thread(body)
        except validation.ValidationError:
            self.refuse_thread(body.get("id"))
            raise
        given_fields(fields, body, THREAD_JSON_FIELDS)
        owner = self.owner or self.owner_named(username)
        if owner is None:
            self.refuse_thread(fields["public_id"])
            self.problem(
                record,
                f"no owner: user {username!r} does not exist"
                if username is not None
                else "no owner: the record names none; pass --owner",
            )
            return
        existing = store.transfer.stored_thread(fields["public_id"])
        if existing is not None:
            if existing.owner_id != owner.pk:
                self.refuse_thread(fields["public_id"])
                self.problem(record, f"thread {fields['public_id']} exists with another owner")
            else:
                self.counts.threads_present += 1
            return
        store.transfer.create_thread(
            owner=owner, **{**fields, "created_at": from_unix(fields["created_at"])}
        )
        self.counts.threads_created += 1

    def refuse_thread(self, thread_id: Any) -> None:
        if isinstance(thread_id, str):
            self.refused_threads.add(thread_id)

    def add_message(self, record: Record) -> None:
        """A Threads message, with its Conversations form if the export gave one."""
        body = dict(record.value)
        given_item = body.pop("item", None)
        fields = validation.clean_stored_message(body)
        given_fields(fields, body, MESSAGE_JSON_FIELDS)
        item = None
        if given_item is not None:
            item = validation.clean_message_item(given_item, fields)
        self.queue(
            PendingRow(
                record,
                fields["thread_id"],
                fields["public_id"],
                fields["created_at"],
                fields,
                item,
                given_item,
            )
        )

    def add_item_record(self, record: Record) -> None:
        """A row outside the Threads view, as the export writes it."""
        fields = validation.clean_item_record(record.value)
        item = fields["item"]
        self.queue(
            PendingRow(
                record,
                fields["thread_id"],
                item["public_id"],
                fields["created_at"],
                None,
                item,
                record.value["item"],
            )
        )

    def add_item(self, record: Record) -> None:
        """A conversation item as the SDK gives it: no thread, no time."""
        if self.thread_id is None:
            self.problem(record, "an item names no thread; pass --thread")
            return
        # model_dump() writes null for every field the server did not send.
        given = without_nulls(record.value)
        item = validation.clean_stored_item(given)
        self.queue(
            PendingRow(record, self.thread_id, item["public_id"], self.now, None, item, given)
        )

    def queue(self, pending: PendingRow) -> None:
        if self.batch and (
            self.batch[0].thread_id != pending.thread_id or len(self.batch) >= self.batch_size
        ):
            self.flush()
        self.batch.append(pending)

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        thread_id = batch[0].thread_id
        if thread_id in self.refused_threads:
            for pending in batch:
                self.problem(pending.record, f"its thread {thread_id} was not imported")
            return
        with store.atomic():
            thread = store.transfer.locked_thread(thread_id)
            if thread is None and self.owner is None:
                for pending in batch:
                    self.problem(
                        pending.record,
                        f"thread {thread_id} is neither in the database nor before this "
                        f"{pending.noun} in the input; pass --owner to create it",
                    )
                return
            if thread is not None and self.owner is not None and thread.owner_id != self.owner.pk:
                for pending in batch:
                    self.problem(pending.record, f"thread {thread_id} belongs to another owner")
                return
            new = self.new_rows(batch, thread)
            if not new:
                return
            if thread is None:
                thread = store.transfer.create_thread(
                    public_id=thread_id,
                    owner=self.owner,
                    created_at=from_unix(min(pending.created_at for pending in batch)),
                )
                self.counts.threads_created += 1
            store.transfer.insert_rows(
                pending.row(thread) for pending in sorted(new, key=lambda pending: pending.order)
            )
        messages = sum(pending.message is not None for pending in new)
        self.counts.messages_created += messages
        self.counts.items_created += len(new) - messages

    def new_rows(self, batch: list[PendingRow], thread: Thread | None) -> list[PendingRow]:
        """The rows of ``batch`` not yet stored in ``thread``.

        IDs are unique within a thread, as the API has them: what other threads
        hold does not matter here either.
        """
        stored: set[str] = set()
        ids = [pending.public_id for pending in batch]
        for start in range(0, len(ids) if thread is not None else 0, self.lookup_size):
            stored.update(store.transfer.stored_ids(thread, ids[start : start + self.lookup_size]))
        new: list[PendingRow] = []
        seen: set[str] = set()
        for pending in batch:
            row_id = pending.public_id
            if row_id in stored or row_id in seen:
                if pending.message is not None:
                    self.counts.messages_present += 1
                else:
                    self.counts.items_present += 1
            else:
                seen.add(row_id)
                new.append(pending)
        return new


def message_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The model's fields of a cleaned message: timestamps as datetimes, no thread ID."""
    stored = {name: value for name, value in fields.items() if name != "thread_id"}
    for name in ("created_at", "completed_at", "incomplete_at"):
        if stored[name] is not None:
            stored[name] = from_unix(stored[name])
    return stored


def import_lines(
    lines: Iterable[bytes],
    owner: Any = None,
    list_order: str = "desc",
    report: Callable[[Problem], None] | None = None,
    progress: Progress | None = None,
    thread_id: str | None = None,
) -> ImportCounts:
    """Import everything ``lines`` holds; bad records are reported and skipped.

    ``thread_id`` receives the conversation items that name no thread (the SDK's).
    """
    reader = Reader(list_order)
    importer = Importer(owner, report, thread_id)

    def note() -> str:
        c = importer.counts
        return f"{c.created()}, {len(c.problems)} problems"

    for record in reader.read(lines):
        importer.add(record)
        if progress is not None:
            progress.update(reader.bytes_read, note())
    counts = importer.finish()
    if progress is not None:
        progress.close(reader.bytes_read, note())
    return counts
