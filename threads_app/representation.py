"""The API's objects, built from model rows as plain dicts.

DRF's generic serializers cost about twice as much as building the dict by
hand for a page of messages (see FIELD-NOTES), and our shapes are fixed by
OpenAI's schema, so we build them directly. The read paths (list, retrieve)
go further: they read tuples of only the columns needed, and keep the stored
JSON as text.
"""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import BigIntegerField, ExpressionWrapper, F, Func, QuerySet, TextField
from orjson import Fragment

from .items import LIST_OBJECT, MESSAGE_OBJECT, THREAD_OBJECT, deleted_object_type
from .models import Message, Thread


def unix_seconds(moment: datetime | int | None) -> int | None:
    """Whole seconds since the epoch; an int is one already (see :class:`UnixSeconds`)."""
    if moment is None or isinstance(moment, int):
        return moment
    return int(moment.timestamp())


def thread_object(thread: Thread) -> dict[str, Any]:
    return {
        "id": thread.public_id,
        "object": THREAD_OBJECT,
        "created_at": unix_seconds(thread.created_at),
        "tool_resources": thread.tool_resources or {},
        "metadata": thread.metadata or {},
    }


def thread_object_from_row(row: tuple) -> dict[str, Any]:
    """The same object as :func:`thread_object`, from a row of the store (threads_app/store/)."""
    public_id, created_at, tool_resources, metadata = row
    return {
        "id": public_id,
        "object": THREAD_OBJECT,
        "created_at": created_at,
        "tool_resources": Fragment(tool_resources),
        "metadata": Fragment(metadata),
    }


def message_object(message: Message, thread_id: str) -> dict[str, Any]:
    return {
        "id": message.public_id,
        "object": MESSAGE_OBJECT,
        "created_at": unix_seconds(message.created_at),
        "thread_id": thread_id,
        "status": message.status,
        "incomplete_details": message.incomplete_details,
        "completed_at": unix_seconds(message.completed_at),
        "incomplete_at": unix_seconds(message.incomplete_at),
        "role": message.role,
        "content": message.content,
        "assistant_id": message.assistant_id,
        "run_id": message.run_id,
        "attachments": message.attachments or [],
        "metadata": message.metadata or {},
    }


def deleted_object(public_id: str, kind: str) -> dict[str, Any]:
    return {"id": public_id, "object": deleted_object_type(kind), "deleted": True}


def list_object(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": LIST_OBJECT,
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


class StoredJSON(ExpressionWrapper):
    """A JSON text column read as the text it is stored as, without parsing it."""

    def __init__(self, name: str) -> None:
        super().__init__(F(name), output_field=TextField())


class UnixSeconds(Func):
    """A timestamp column as :func:`unix_seconds` of it, computed by the database.

    On SQLite the ORM would parse each timestamp's text into an aware datetime
    (three a message, sixty a page: a third of a page's cost) only for us to
    turn it into an integer.
    """

    output_field = BigIntegerField()
    # Doubled twice: once for the template, once for the SQL parameter style. Only
    # the whole seconds of the text: SQLite rounds a fraction of .9995 and up to the
    # next second, where Python (and PostgreSQL's TRUNC) keep the second it is in.
    sqlite_template = "CAST(strftime('%%%%s', substr(%(expressions)s, 1, 19)) AS INTEGER)"
    postgresql_template = "TRUNC(EXTRACT(EPOCH FROM %(expressions)s))::bigint"

    @staticmethod
    def supported(connection: Any) -> bool:
        # Naive timestamps (USE_TZ off) are local time; SQLite would read them as UTC.
        return connection.vendor == "postgresql" or (
            connection.vendor == "sqlite" and settings.USE_TZ
        )

    def get_db_converters(self, connection: Any) -> list:
        return []  # both templates give an integer already

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template=self.sqlite_template, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template=self.postgresql_template, **extra)


TIMESTAMP_COLUMNS = ("created_at", "completed_at", "incomplete_at")

# What a message's answer is built from, in the order `message_object_from_row` reads it.
# Its JSON columns stay text and go into the answer as they are (`orjson.Fragment`):
# they were written by `JSONTextField`, that is by orjson, so the bytes are the same
# as a parse and a dump would give, at a fraction of the cost.
MESSAGE_ROW = {
    "public_id": F("public_id"),
    "created_at": F("created_at"),
    "status": F("status"),
    "incomplete_details_json": StoredJSON("incomplete_details"),
    "completed_at": F("completed_at"),
    "incomplete_at": F("incomplete_at"),
    "role": F("role"),
    "content_json": StoredJSON("content"),
    "assistant_id": F("assistant_id"),
    "run_id": F("run_id"),
    "attachments_json": StoredJSON("attachments"),
    "metadata_json": StoredJSON("metadata"),
}


def message_rows(queryset: QuerySet) -> QuerySet:
    """``queryset`` as tuples for :func:`message_object_from_row`, with only the columns needed."""
    extra = {name: value for name, value in MESSAGE_ROW.items() if isinstance(value, StoredJSON)}
    columns = list(MESSAGE_ROW)
    if UnixSeconds.supported(connections[queryset.db]):
        for name in TIMESTAMP_COLUMNS:
            extra[f"{name}_seconds"] = UnixSeconds(name)
            columns[columns.index(name)] = f"{name}_seconds"
    return queryset.annotate(**extra).values_list(*columns)


def message_object_from_row(row: tuple, thread_id: str) -> dict[str, Any]:
    """The same object as :func:`message_object`, from a row of :func:`message_rows`."""
    (public_id, created_at, status, incomplete_details, completed_at, incomplete_at, role,
     content, assistant_id, run_id, attachments, metadata) = row
    return {
        "id": public_id,
        "object": MESSAGE_OBJECT,
        "created_at": unix_seconds(created_at),
        "thread_id": thread_id,
        "status": status,
        "incomplete_details": None if incomplete_details is None else Fragment(incomplete_details),
        "completed_at": unix_seconds(completed_at),
        "incomplete_at": unix_seconds(incomplete_at),
        "role": role,
        "content": Fragment(content),
        "assistant_id": assistant_id,
        "run_id": run_id,
        "attachments": Fragment(attachments),
        "metadata": Fragment(metadata),
    }
