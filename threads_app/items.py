"""One history, two views: a thread's messages are a conversation's items.

A row of :class:`~threads_app.models.Message` is a Conversations item of some
``type``. Rows of type ``message`` keep their content in the shape of the API
that wrote them (Threads parts or Conversations parts); each view converts
the parts it does not speak on the way out, part by part. Rows of any other
type keep the item as given in ``item`` and appear in the Conversations view
only, as do messages whose role is ``system`` or ``developer``.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .ids import new_id

if TYPE_CHECKING:
    from .models import Message, Thread

THREAD_PREFIX = "thread_"
CONVERSATION_PREFIX = "conv_"

# Roles a Threads client can see; other message roles live in the Conversations view only.
THREADS_ROLES = ("user", "assistant")
ITEM_ROLES = ("user", "assistant", "system", "developer")


@dataclass(frozen=True)
class ItemType:
    """What OpenAI's ConversationItem schema requires of one item type, and our ID prefix."""

    prefix: str
    required: tuple[str, ...]
    has_status: bool = True  # the returned item carries `status` (default "completed")


# Required fields are those of OpenAI's item resources, less `id`, `type` and `status`,
# which we fill in. The prefixes are ours; OpenAI's ID formats were never documented.
ITEM_TYPES: dict[str, ItemType] = {
    "function_call": ItemType("fc", ("call_id", "name", "arguments")),
    "function_call_output": ItemType("fco", ("call_id", "output")),
    "file_search_call": ItemType("fs", ("queries",)),
    "web_search_call": ItemType("ws", ("action",)),
    "image_generation_call": ItemType("ig", ("result",)),
    "computer_call": ItemType("cu", ("call_id", "pending_safety_checks")),
    "computer_call_output": ItemType("cuo", ("call_id", "output")),
    "tool_search_call": ItemType("tsc", ("call_id", "execution", "arguments")),
    "tool_search_output": ItemType("tso", ("call_id", "execution", "tools")),
    "additional_tools": ItemType("at", ("role", "tools"), has_status=False),
    "reasoning": ItemType("rs", ("summary",), has_status=False),
    "program": ItemType("prg", ("call_id", "code", "fingerprint"), has_status=False),
    "program_output": ItemType("prgo", ("call_id", "result")),
    "compaction": ItemType("cmp", ("encrypted_content",), has_status=False),
    "code_interpreter_call": ItemType("ci", ("container_id", "code", "outputs")),
    "local_shell_call": ItemType("lsh", ("call_id", "action")),
    "local_shell_call_output": ItemType("lsho", ("call_id", "output"), has_status=False),
    "shell_call": ItemType("sh", ("call_id", "action", "environment")),
    "shell_call_output": ItemType("sho", ("call_id", "output", "max_output_length")),
    "apply_patch_call": ItemType("apc", ("call_id", "operation")),
    "apply_patch_call_output": ItemType("apco", ("call_id",)),
    "mcp_list_tools": ItemType("mcpl", ("server_label", "tools"), has_status=False),
    "mcp_approval_request": ItemType("mcpr", ("server_label", "name", "arguments"),
                                     has_status=False),
    "mcp_approval_response": ItemType("mcpa", ("approval_request_id", "approve", "request_id"),
                                      has_status=False),
    "mcp_call": ItemType("mcp", ("server_label", "name", "arguments"), has_status=False),
    "custom_tool_call": ItemType("ctc", ("call_id", "name", "input"), has_status=False),
    "custom_tool_call_output": ItemType("ctco", ("call_id", "output"), has_status=False),
}
MESSAGE_ITEM = ItemType("msg", ("role", "content"))

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
    return MESSAGE_ITEM if name == "message" else ITEM_TYPES[name]


def new_item_id(type_name: str) -> str:
    return new_id(item_type(type_name).prefix)


def conversation_id(thread_id: str) -> str:
    return CONVERSATION_PREFIX + thread_id.removeprefix(THREAD_PREFIX)


def thread_id(conversation_id: str) -> str:
    return THREAD_PREFIX + conversation_id.removeprefix(CONVERSATION_PREFIX)


# Content parts, Threads -> Conversations ----------------------------------


def conversation_part(part: dict[str, Any], role: str) -> dict[str, Any]:
    kind = part["type"]
    if kind == "text":
        text = part["text"]["value"]
        if role == "assistant":
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
        "object": "conversation",
        "created_at": int(thread.created_at.timestamp()),
        "metadata": thread.metadata or {},
    }


def item_object(row: "Message") -> dict[str, Any]:
    """A row as a Conversations item: as written there, or derived from its Threads form."""
    if row.item is not None:
        return row.item
    return {
        "type": "message",
        "id": row.public_id,
        "status": row.status,
        "role": row.role,
        "content": conversation_content(row.content, row.role),
    }
