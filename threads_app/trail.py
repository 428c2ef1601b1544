"""What the admin keeps of a message it changed or deleted, in Django's admin log.

Django's ``LogEntry`` records who changed which fields of what, and when, and
who deleted what. For a message, its JSON change message also keeps the values
an edit replaced, or the message a deletion removed, so that a wrong correction
can be undone by hand and a deletion read back. They sit beside Django's own
sub-messages (``{"changed": …}``) under keys of ours, which Django's reading of
the log (``LogEntry.get_change_message``) passes over.

Message text is personal data, and a host may have to erase it: :func:`purge`
takes what is kept out of chosen entries and leaves who, when and which fields;
the ``purge_message_trail`` command runs it by age or by thread.
"""

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from .items import MESSAGE, item_object
from .models import Message

# Keys of our sub-messages in a log entry's JSON change message.
REPLACED = "threads_app_replaced"
DELETED = "threads_app_deleted"
# The fields of a message whose previous value an edit keeps.
KEPT_FIELDS = ("content", "attachments", "metadata")
# Log entries read at a time when purging.
PURGE_BATCH = 500


def replaced(message: Message, previous: dict[str, Any]) -> dict[str, Any]:
    """The sub-message that keeps what an edit of ``message`` replaced: ``previous``."""
    return {REPLACED: {"thread": message.thread.public_id, "fields": previous}}


def deleted(message: Message) -> dict[str, Any]:
    """The sub-message that keeps ``message``, about to be deleted, as it was."""
    kept: dict[str, Any] = {
        "thread": message.thread.public_id,
        "type": message.type,
        "role": message.role,
        "created_at": message.created_at.isoformat(),
    }
    if message.type == MESSAGE:
        kept["fields"] = {name: getattr(message, name) for name in KEPT_FIELDS}
    else:
        kept["item"] = item_object(message)
    return {DELETED: kept}


def sub_messages(entry: LogEntry) -> list[Any]:
    """The JSON sub-messages of ``entry``; none if its change message is plain text."""
    if not entry.change_message.startswith("["):
        return []
    try:
        loaded = json.loads(entry.change_message)
    except json.JSONDecodeError:
        return []
    return loaded if isinstance(loaded, list) else []


def kept(entry: LogEntry) -> dict[str, Any] | None:
    """What ``entry`` keeps of its message: ``{"kind": "replaced" or "deleted", …}``, or None."""
    for sub_message in sub_messages(entry):
        if isinstance(sub_message, dict):
            for kind, key in (("replaced", REPLACED), ("deleted", DELETED)):
                if isinstance(sub_message.get(key), dict):
                    return {"kind": kind, **sub_message[key]}
    return None


def message_entries() -> QuerySet:
    """Every admin log entry about a message that keeps some of it."""
    content_type = ContentType.objects.get_for_model(Message, for_concrete_model=False)
    return LogEntry.objects.filter(
        Q(change_message__contains=f'"{REPLACED}"') | Q(change_message__contains=f'"{DELETED}"'),
        content_type=content_type,
    )


def thread_marker(thread_id: str) -> str:
    """How a kept sub-message names its thread in the stored JSON.

    Django writes change messages with ``json.dumps``'s default separators, and a
    thread ID holds no character that JSON escapes, so this is a plain substring;
    the same words inside a message's text would have their quotes escaped.
    """
    return f'"thread": "{thread_id}"'


def for_threads(entries: QuerySet, thread_ids: Iterable[str]) -> QuerySet:
    """The entries of ``entries`` about messages of the given threads."""
    condition = Q(pk__in=[])
    for thread_id in thread_ids:
        condition |= Q(change_message__contains=thread_marker(thread_id))
    return entries.filter(condition)


def deleted_from_thread(thread_id: str) -> QuerySet:
    """Deletions of the thread's messages that keep the message, oldest first."""
    return (
        for_threads(message_entries().filter(action_flag=DELETION), [thread_id])
        .select_related("user")
        .order_by("action_time", "pk")
    )


def purge(entries: QuerySet, before: datetime | None = None) -> int:
    """Take what is kept of messages out of ``entries`` (older than ``before``, if given).

    Each entry stays, with who, when and which fields: only the kept values go.
    Returns how many entries were purged.
    """
    entries = entries if before is None else entries.filter(action_time__lt=before)
    # The keys first, then batches of rows: the rows read are the rows rewritten.
    pks = list(entries.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), PURGE_BATCH):
        batch = LogEntry.objects.filter(pk__in=pks[start:start + PURGE_BATCH])
        for entry in batch.only("pk", "change_message"):
            left = [
                sub_message for sub_message in sub_messages(entry)
                if not (isinstance(sub_message, dict)
                        and (REPLACED in sub_message or DELETED in sub_message))
            ]
            # Written as Django writes a change message (json.dumps); "" as for a deletion.
            LogEntry.objects.filter(pk=entry.pk).update(
                change_message=json.dumps(left) if left else ""
            )
    return len(pks)


def shown(entry: LogEntry) -> dict[str, Any] | None:
    """What a history page shows of what ``entry`` keeps, or None if it keeps nothing."""
    data = kept(entry)
    if data is None:
        return None
    fields = [
        {"name": name, **shown_field(name, value)}
        for name, value in (data.get("fields") or {}).items()
    ]
    if "item" in data:
        fields.append({"name": "item", "style": "json",
                       "value": json.dumps(data["item"], indent=2, ensure_ascii=False)})
    created = data.get("created_at")
    return {
        "kind": data["kind"],
        "thread": data.get("thread"),
        "role": data.get("role") or data.get("type"),
        "created_at": datetime.fromisoformat(created) if created else None,
        "fields": fields,
    }


def shown_field(name: str, value: Any) -> dict[str, Any]:
    """A kept field's value, readable and ready to type back: texts as they were."""
    if name == "metadata" and isinstance(value, dict):
        return {"style": "pairs", "pairs": list(value.items())}
    if name == "content" and isinstance(value, list):
        parts = []
        for part in value:
            kind = part.get("type") if isinstance(part, dict) else None
            body = part.get(kind) if kind else None
            if kind == "text" and isinstance(body, dict):
                parts.append({"kind": "text", "value": body.get("value", "")})
            elif kind == "image_url" and isinstance(body, dict):
                parts.append({"kind": "image URL", "value": body.get("url", "")})
            elif kind == "image_file" and isinstance(body, dict):
                parts.append({"kind": "image file", "value": body.get("file_id", "")})
            else:
                parts.append({"kind": "part", "value": json.dumps(part, ensure_ascii=False)})
        return {"style": "parts", "parts": parts}
    if name == "attachments" and isinstance(value, list):
        return {"style": "attachments", "attachments": [
            {"file_id": item.get("file_id"),
             "tools": [tool.get("type") for tool in item.get("tools") or []]}
            for item in value if isinstance(item, dict)
        ]}
    return {"style": "json", "value": json.dumps(value, indent=2, ensure_ascii=False)}
