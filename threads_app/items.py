"""One history, two views: a thread's messages are a conversation's items.

A row of :class:`~threads_app.models.Message` is a Conversations item of some
``type``. Rows of type ``message`` keep their content in the shape of the API
that wrote them (Threads parts or Conversations parts); each view converts
the parts it does not speak on the way out, part by part. Rows of any other
type keep the item as given in ``item`` and appear in the Conversations view
only, as do messages whose role is ``system`` or ``developer``.

The words both APIs use for these rows (roles, statuses, item and object
types) are defined here, once; the models, validation, the admin, the OpenAPI
document, the store's SQL and the importer read them from here.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import TextChoices

from .ids import MESSAGE_PREFIX, RANDOM_LENGTH, conversation_id, id_start, new_id

if TYPE_CHECKING:
    from .models import Message, Thread


# The words of both APIs, each written here once. Labels are the values: staff
# read the API's own words. The tuples below are their plain values, in order.


class Role(TextChoices):
    """A message's role."""

    USER = "user", "user"
    ASSISTANT = "assistant", "assistant"
    # Conversations only: the Threads view does not show these.
    SYSTEM = "system", "system"
    DEVELOPER = "developer", "developer"


class MessageStatus(TextChoices):
    """A message's status; most tool calls have these too."""

    IN_PROGRESS = "in_progress", "in_progress"
    INCOMPLETE = "incomplete", "incomplete"
    COMPLETED = "completed", "completed"


class IncompleteReason(TextChoices):
    """Why a run left a message incomplete (``incomplete_details.reason``)."""

    CONTENT_FILTER = "content_filter", "content_filter"
    MAX_TOKENS = "max_tokens", "max_tokens"
    RUN_CANCELLED = "run_cancelled", "run_cancelled"
    RUN_EXPIRED = "run_expired", "run_expired"
    RUN_FAILED = "run_failed", "run_failed"


ITEM_ROLES = tuple(Role.values)
STATUSES = tuple(MessageStatus.values)
INCOMPLETE_REASONS = tuple(IncompleteReason.values)

# The item type of a message; every other type is in ITEM_TYPES.
MESSAGE = "message"

# The rows a Threads client sees: messages of these roles, no other items. Every
# view of the rule reads these two constants: the ORM's (models.IN_THREADS_VIEW,
# also the condition of the Threads view's partial index), the store's SQL
# (store/sql.py) and Python's (:func:`in_threads_view`). Migration 0006 keeps a
# frozen copy, as a migration must; tests/test_constants.py holds them together.
THREADS_ROLES = (Role.USER.value, Role.ASSISTANT.value)


def in_threads_view(type_name: str, role: str) -> bool:
    """Whether a row of this type and role is one the Threads view shows."""
    return type_name == MESSAGE and role in THREADS_ROLES


# The `object` of each object the two APIs answer with; an export's line of an
# item outside the Threads view is a `thread.item`, which no API answers.
THREAD_OBJECT = "thread"
MESSAGE_OBJECT = "thread.message"
CONVERSATION_OBJECT = "conversation"
LIST_OBJECT = "list"
ITEM_RECORD_OBJECT = "thread.item"


def deleted_object_type(object_type: str) -> str:
    """The `object` of the answer to deleting an object of ``object_type``."""
    return f"{object_type}.deleted"


# Field types, as validation.clean_value reads them: "string", "integer",
# "number", "boolean", "object", "null", "url" (an http or https URL, as image
# URLs are), "tool_output_part" (a content part of TOOL_OUTPUT_PART_TYPES), a
# name of SHAPES or TAGGED, "T[]" for an array of T, and "A|B" for either of two
# JSON kinds. A tuple is a choice of strings; None in it allows null.
FieldType = str | tuple[str | None, ...]


@dataclass(frozen=True)
class Shape:
    """The fields of a JSON object and their types; ``required`` None: all of them."""

    fields: dict[str, FieldType]
    required: tuple[str, ...] | None = None

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(self.fields) if self.required is None else self.required


@dataclass(frozen=True)
class ItemType:
    """OpenAI's schema of one item type, less `id` and `type`, and our ID prefix.

    ``fields`` are those of the item as OpenAI returned it and as its create
    request took it; ``required`` those the returned item always has. A
    ``status`` missing from an item whose type ``has_status`` is stored as
    "completed".
    """

    prefix: str
    fields: dict[str, FieldType]
    required: tuple[str, ...]
    has_status: bool = True


# Fields common to the tool calls that can be made by a program (OpenAI's `caller`).
CALLER: dict[str, FieldType] = {"caller": "object|null", "created_by": "string"}
ROLES_OF_ADDITIONAL_TOOLS = ("unknown", "user", "assistant", "system", "critic",
                             "discriminator", "developer", "tool")

# From OpenAI's ConversationItem schemas. Nested objects that no view of ours reads
# (a tool's definition, a web search's action) are checked for being objects.
# The prefixes are ours; OpenAI's ID formats were never documented.
ITEM_TYPES: dict[str, ItemType] = {
    "function_call": ItemType(
        "fc",
        {"call_id": "string", "name": "string", "arguments": "string", "namespace": "string",
         **CALLER, "status": STATUSES},
        ("call_id", "name", "arguments"),
    ),
    "function_call_output": ItemType(
        "fco",
        {"call_id": "string", "output": "string|tool_output_part[]", "name": "string",
         "namespace": "string", **CALLER, "status": STATUSES},
        ("call_id", "output"),
    ),
    "file_search_call": ItemType(
        "fs",
        {"queries": "string[]", "results": "object[]|null",
         "status": ("in_progress", "searching", "completed", "incomplete", "failed")},
        ("queries",),
    ),
    "web_search_call": ItemType(
        "ws",
        {"action": "object", "status": ("in_progress", "searching", "completed", "failed")},
        ("action",),
    ),
    "image_generation_call": ItemType(
        "ig",
        {"result": "string|null", "status": ("in_progress", "completed", "generating", "failed")},
        ("result",),
    ),
    "computer_call": ItemType(
        "cu",
        {"call_id": "string", "pending_safety_checks": "object[]", "action": "object",
         "actions": "object[]", "status": STATUSES},
        ("call_id", "pending_safety_checks"),
    ),
    "computer_call_output": ItemType(
        "cuo",
        {"call_id": "string", "output": "object", "acknowledged_safety_checks": "object[]",
         "created_by": "string", "status": ("completed", "incomplete", "failed")},
        ("call_id", "output"),
    ),
    "tool_search_call": ItemType(
        "tsc",
        {"call_id": "string|null", "execution": ("server", "client"), "arguments": "object",
         "created_by": "string", "status": STATUSES},
        ("call_id", "execution", "arguments"),
    ),
    "tool_search_output": ItemType(
        "tso",
        {"call_id": "string|null", "execution": ("server", "client"), "tools": "object[]",
         "created_by": "string", "status": STATUSES},
        ("call_id", "execution", "tools"),
    ),
    "additional_tools": ItemType(
        "at", {"role": ROLES_OF_ADDITIONAL_TOOLS, "tools": "object[]"}, ("role", "tools"),
        has_status=False,
    ),
    "reasoning": ItemType(
        "rs",
        {"summary": "summary_text[]", "content": "reasoning_text[]",
         "encrypted_content": "string|null", "status": STATUSES},
        ("summary",),
        has_status=False,
    ),
    "program": ItemType(
        "prg", {"call_id": "string", "code": "string", "fingerprint": "string"},
        ("call_id", "code", "fingerprint"), has_status=False,
    ),
    "program_output": ItemType(
        "prgo",
        {"call_id": "string", "result": "string", "status": ("completed", "incomplete")},
        ("call_id", "result"),
    ),
    "compaction": ItemType(
        "cmp", {"encrypted_content": "string", "created_by": "string"}, ("encrypted_content",),
        has_status=False,
    ),
    "code_interpreter_call": ItemType(
        "ci",
        {"container_id": "string", "code": "string|null", "outputs": "object[]|null",
         "status": ("in_progress", "completed", "incomplete", "interpreting", "failed")},
        ("container_id", "code", "outputs"),
    ),
    "local_shell_call": ItemType(
        "lsh", {"call_id": "string", "action": "object", "status": STATUSES},
        ("call_id", "action"),
    ),
    "local_shell_call_output": ItemType(
        "lsho", {"call_id": "string", "output": "string", "status": (*STATUSES, None)},
        ("call_id", "output"), has_status=False,
    ),
    "shell_call": ItemType(
        "sh",
        {"call_id": "string", "action": "object", "environment": "object|null", **CALLER,
         "status": STATUSES},
        ("call_id", "action", "environment"),
    ),
    "shell_call_output": ItemType(
        "sho",
        {"call_id": "string", "output": "object[]", "max_output_length": "integer|null",
         **CALLER, "status": STATUSES},
        ("call_id", "output", "max_output_length"),
    ),
    "apply_patch_call": ItemType(
        "apc",
        {"call_id": "string", "operation": "object", **CALLER,
         "status": ("in_progress", "completed")},
        ("call_id", "operation"),
    ),
    "apply_patch_call_output": ItemType(
        "apco",
        {"call_id": "string", "output": "string|null", **CALLER,
         "status": ("completed", "failed")},
        ("call_id",),
    ),
    "mcp_list_tools": ItemType(
        "mcpl", {"server_label": "string", "tools": "object[]", "error": "string|null"},
        ("server_label", "tools"), has_status=False,
    ),
    "mcp_approval_request": ItemType(
        "mcpr", {"server_label": "string", "name": "string", "arguments": "string"},
        ("server_label", "name", "arguments"), has_status=False,
    ),
    "mcp_approval_response": ItemType(
        "mcpa",
        {"approval_request_id": "string", "approve": "boolean", "request_id": "string",
         "reason": "string|null"},
        ("approval_request_id", "approve", "request_id"), has_status=False,
    ),
    "mcp_call": ItemType(
        "mcp",
        {"server_label": "string", "name": "string", "arguments": "string",
         "approval_request_id": "string|null", "error": "object|null", "output": "string|null",
         "status": ("in_progress", "completed", "incomplete", "calling", "failed")},
        ("server_label", "name", "arguments"), has_status=False,
    ),
    "custom_tool_call": ItemType(
        "ctc",
        {"call_id": "string", "name": "string", "input": "string", "namespace": "string",
         "caller": "object|null"},
        ("call_id", "name", "input"), has_status=False,
    ),
    "custom_tool_call_output": ItemType(
        "ctco", {"call_id": "string", "output": "string|tool_output_part[]",
                 "caller": "object|null"},
        ("call_id", "output"), has_status=False,
    ),
}
MESSAGE_ITEM = ItemType(MESSAGE_PREFIX, {}, ("role", "content"))
# Every item type, a message first.
ITEM_TYPE_NAMES = (MESSAGE, *ITEM_TYPES)

# Objects nested in items and content parts, by the name their field types use.
SHAPES: dict[str, Shape] = {
    "summary_text": Shape({"type": ("summary_text",), "text": "string"}),
    "reasoning_text": Shape({"type": ("reasoning_text",), "text": "string"}),
    "prompt_cache_breakpoint": Shape({"mode": ("explicit",)}),
    "logprob": Shape({"token": "string", "logprob": "number", "bytes": "integer[]",
                      "top_logprobs": "top_logprob[]"}),
    "top_logprob": Shape({"token": "string", "logprob": "number", "bytes": "integer[]"}),
    "file_citation": Shape({"type": ("file_citation",), "file_id": "string",
                            "filename": "string", "index": "integer"}),
    "url_citation": Shape({"type": ("url_citation",), "url": "url", "title": "string",
                           "start_index": "integer", "end_index": "integer"}),
    "container_file_citation": Shape({"type": ("container_file_citation",),
                                      "container_id": "string", "file_id": "string",
                                      "filename": "string", "start_index": "integer",
                                      "end_index": "integer"}),
    "file_path": Shape({"type": ("file_path",), "file_id": "string", "index": "integer"}),
}
# Objects of several shapes, told apart by their `type`, which names the shape.
TAGGED: dict[str, tuple[str, ...]] = {
    "annotation": ("file_citation", "url_citation", "container_file_citation", "file_path"),
}

# Content parts of messages, and those a tool's output may hold.
MESSAGE_PART_TYPES = ("input_text", "output_text", "input_image", "input_file", "refusal")
TOOL_OUTPUT_PART_TYPES = ("input_text", "input_image", "input_file")

# The `include` values OpenAI defines. We keep no extra data, so they change nothing.
INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)


def item_type(name: str) -> ItemType:
    return MESSAGE_ITEM if name == MESSAGE else ITEM_TYPES[name]


def new_item_id(type_name: str) -> str:
    return new_id(item_type(type_name).prefix)


def new_item_id_length(type_name: str) -> int:
    """The length of every ID :func:`new_item_id` makes for ``type_name``."""
    return len(id_start(item_type(type_name).prefix)) + RANDOM_LENGTH


# Content parts, Threads -> Conversations ----------------------------------


def conversation_part(part: dict[str, Any], role: str) -> dict[str, Any]:
    kind = part["type"]
    if kind == "text":
        text = part["text"]["value"]
        if role == Role.ASSISTANT:
            return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        return {"type": "input_text", "text": text}
    if kind == "image_url":
        image = part["image_url"]
        return {"type": "input_image", "image_url": image["url"], "detail": image["detail"]}
    if kind == "image_file":
        image = part["image_file"]
        return {"type": "input_image", "file_id": image["file_id"], "detail": image["detail"]}
    return part  # refusal has one shape in both; Conversations parts pass as they are


def conversation_content(content: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    return [conversation_part(part, role) for part in content]


# Content parts, Conversations -> Threads ----------------------------------


def threads_part(part: dict[str, Any]) -> dict[str, Any] | None:
    """The Threads form of a part, or None where it has none (an input file, say)."""
    kind = part["type"]
    if kind in ("text", "image_url", "image_file", "refusal"):
        return part
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": {"value": part["text"], "annotations": []}}
    if kind == "input_image":
        detail = part.get("detail") or "auto"
        if part.get("image_url"):
            return {"type": "image_url", "image_url": {"url": part["image_url"], "detail": detail}}
        if part.get("file_id"):
            return {"type": "image_file", "image_file": {"file_id": part["file_id"],
                                                          "detail": detail}}
    return None


def threads_content(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    parts = (threads_part(part) for part in content)
    return [part for part in parts if part is not None]


# The Conversations view -----------------------------------------------------


def conversation_object(thread: "Thread") -> dict[str, Any]:
    return {
        "id": conversation_id(thread.public_id),
        "object": CONVERSATION_OBJECT,
        "created_at": int(thread.created_at.timestamp()),
        "metadata": thread.metadata or {},
    }


def item_object(row: "Message") -> dict[str, Any]:
    """A row as a Conversations item: as written there, or derived from its Threads form."""
    if row.item is not None:
        return row.item
    return {
        "type": MESSAGE,
        "id": row.public_id,
        "status": row.status,
        "role": row.role,
        "content": conversation_content(row.content, row.role),
    }
