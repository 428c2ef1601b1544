"""The API's objects, built from model rows as plain dicts.

DRF's generic serializers cost about twice as much as building the dict by
hand for a page of messages (see FIELD-NOTES), and our shapes are fixed by
OpenAI's schema, so we build them directly. The read paths (list, retrieve)
go further: they read tuples of only the columns needed, and keep the stored
JSON as text.
"""

from datetime import datetime
from typing import Any

from orjson import Fragment

from .items import LIST_OBJECT, MESSAGE_OBJECT, THREAD_OBJECT, deleted_object_type
from .models import Message, Thread


def unix_seconds(moment: datetime | int | None) -> int | None:
    """Whole seconds since the epoch; an int is one already (a row of the store)."""
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


def message_object_from_row(row: tuple, thread_id: str) -> dict[str, Any]:
    """The same object as :func:`message_object`, from a row of the store (threads_app/store/).

    Its JSON columns stay text and go into the answer as they are (``orjson.Fragment``):
    they were written by ``JSONTextField``, that is by orjson, so the bytes are the
    same as a parse and a dump would give, at a fraction of the cost.
    """
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
