"""The API's objects, built from model rows as plain dicts.

DRF's generic serializers cost about twice as much as building the dict by
hand for a page of messages (see FIELD-NOTES), and our shapes are fixed by
OpenAI's schema, so we build them directly.
"""

from datetime import datetime
from typing import Any

from .models import Message, Thread


def unix_seconds(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def thread_object(thread: Thread) -> dict[str, Any]:
    return {
        "id": thread.public_id,
        "object": "thread",
        "created_at": unix_seconds(thread.created_at),
        "tool_resources": thread.tool_resources or {},
        "metadata": thread.metadata or {},
    }


def message_object(message: Message, thread_id: str) -> dict[str, Any]:
    return {
        "id": message.public_id,
        "object": "thread.message",
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
    return {"id": public_id, "object": f"{kind}.deleted", "deleted": True}


def list_object(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
