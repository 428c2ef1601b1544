"""The rules for what a thread or message may hold, in one place.

The API, the admin and the management commands all call these functions, so a
value is accepted or refused the same way whichever door it comes through.
Each ``clean_*`` function takes a request-shaped value and returns the shape
we store (which is the shape the API returns), or raises
:class:`ValidationError` naming the offending parameter by its path, as
OpenAI did (``messages[1].content``, ``content[0].image_url.url``).
"""

import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from .conf import app_settings
from .ids import (
    ALPHABET_PATTERN,
    ID_MAX_LENGTH,
    MESSAGE_PREFIX,
    PREFIX_PATTERN,
    SEPARATOR,
    THREAD_PREFIX,
    id_start,
)
from .items import (
    INCLUDABLE,
    INCOMPLETE_REASONS,
    ITEM_RECORD_OBJECT,
    ITEM_ROLES,
    ITEM_TYPE_NAMES,
    MESSAGE,
    MESSAGE_OBJECT,
    MESSAGE_PART_TYPES,
    SHAPES,
    STATUSES,
    TAGGED,
    THREAD_OBJECT,
    THREADS_ROLES,
    TOOL_OUTPUT_PART_TYPES,
    FieldType,
    MessageStatus,
    Role,
    item_type,
    new_item_id_length,
)

METADATA_MAX_PAIRS = 16
METADATA_MAX_KEY_LENGTH = 64
METADATA_MAX_VALUE_LENGTH = 512
CODE_INTERPRETER_MAX_FILES = 20
FILE_SEARCH_MAX_VECTOR_STORES = 1

IMAGE_DETAILS = ("auto", "low", "high")
ATTACHMENT_TOOLS = ("code_interpreter", "file_search")


class ValidationError(Exception):
    """A value breaks a rule; ``param`` is the path of the offending field."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


def path(prefix: str, name: str | int) -> str:
    """Join a parameter path the way OpenAI names nested fields."""
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else name


def describe(value: Any) -> str:
    """Name a JSON value's type for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def type_error(param: str, expected: str, value: Any) -> ValidationError:
    return ValidationError(
        f"Invalid type for '{param}': expected {expected}, but got {describe(value)} instead.",
        param,
        "invalid_type",
    )


def require_object(value: Any, param: str) -> dict:
    if not isinstance(value, dict):
        raise type_error(param, "an object", value)
    return value


def require_string(value: Any, param: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise type_error(param, "a string", value)
    if non_empty and not value:
        raise ValidationError(
            f"Invalid '{param}': empty string. Expected a string with at least 1 character.",
            param,
            "empty_string",
        )
    return value


def require_list(value: Any, param: str, *, max_length: int | None = None) -> list:
    if not isinstance(value, list):
        raise type_error(param, "an array", value)
    if max_length is not None and len(value) > max_length:
        raise ValidationError(
            f"Invalid '{param}': array too long. Expected an array with at most "
            f"{max_length} items, but got an array with {len(value)} items instead.",
            param,
            "array_above_max_length",
        )
    return value


# Deepest nesting of objects and arrays a JSON value may have (the outermost
# counts as 1). orjson writes at most 254 levels and raises beyond; a stored
# value is answered a few levels down (a list's `data`, an item, its field),
# so what is accepted must stay well below that to be read back.
MAX_JSON_DEPTH = 64


def check_json_depth(value: Any, param: str | None = None) -> Any:
    """Refuse a value nested deeper than :data:`MAX_JSON_DEPTH`; walk it without recursion."""
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        node, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            what = f"'{param}'" if param else "The request body"
            raise ValidationError(
                f"{what} nests objects and arrays more than {MAX_JSON_DEPTH} levels deep; "
                f"at most {MAX_JSON_DEPTH} are accepted.",
                param,
                "nesting_too_deep",
            )
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                pending.append((child, depth + 1))
    return value


def reject_unknown_fields(body: dict, allowed: tuple[str, ...], prefix: str = "") -> None:
    for name in body:
        if name not in allowed:
            raise ValidationError(
                f"Unrecognized request argument supplied: {path(prefix, name)}",
                path(prefix, name),
                "unknown_parameter",
            )


def require_field(body: dict, name: str, prefix: str = "") -> Any:
    if name not in body:
        raise ValidationError(
            f"Missing required parameter: '{path(prefix, name)}'.",
            path(prefix, name),
            "missing_required_parameter",
        )
    return body[name]


def check_choice(value: Any, choices: tuple[str, ...], param: str) -> str:
    if value not in choices:
        supported = ", ".join(f"'{c}'" for c in choices[:-1]) + f" and '{choices[-1]}'"
        shown = value if isinstance(value, str) else describe(value)
        raise ValidationError(
            f"Invalid value: '{shown}'. Supported values are: {supported}.",
            param,
            "invalid_value",
        )
    return value


def check_id(value: str, prefix: str, param: str) -> str:
    """Refuse an ID of the wrong type (any type if ``prefix`` is empty) before any lookup.

    Every ID and cursor a request names passes here before it reaches a query.
    """
    if prefix and not value.startswith(id_start(prefix)):
        raise ValidationError(
            f"Invalid '{param}': '{value}'. Expected an ID that begins with '{prefix}'.",
            param,
            "invalid_value",
        )
    # No ID holds one, and PostgreSQL cannot even compare a string that does.
    if "\x00" in value:
        raise ValidationError(
            f"Invalid '{param}': null characters are not allowed.", param, "invalid_value"
        )
    return value


def check_thread_id(value: str, param: str = "thread_id") -> str:
    return check_id(value, THREAD_PREFIX, param)


def check_message_id(value: str, param: str = "message_id") -> str:
    return check_id(value, MESSAGE_PREFIX, param)


def check_item_id(value: str, param: str = "item_id") -> str:
    """An item's ID in a path or a cursor: items have many prefixes, so any will do."""
    return check_id(value, "", param)


# Metadata ------------------------------------------------------------------


def clean_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """At most METADATA_MAX_PAIRS pairs of strings, each within METADATA_MAX_KEY_LENGTH and
    METADATA_MAX_VALUE_LENGTH."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise type_error(param, "an object", value)
    if len(value) > METADATA_MAX_PAIRS:
        raise ValidationError(
            f"Invalid '{param}': too many pairs. Expected at most {METADATA_MAX_PAIRS} "
            f"key-value pairs, but got {len(value)}.",
            param,
            "metadata_too_many_pairs",
        )
    for key, item in value.items():
        check_metadata_pair(key, item, param)
    return dict(value)


def check_metadata_pair(key: str, item: Any, param: str, *, removable: bool = False) -> None:
    """Refuse a key or value out of bounds; ``removable``: a value may be null."""
    if len(key) > METADATA_MAX_KEY_LENGTH:
        raise ValidationError(
            f"Invalid '{param}': the key '{key}' is {len(key)} characters long; "
            f"keys may have at most {METADATA_MAX_KEY_LENGTH}.",
            param,
            "metadata_key_too_long",
        )
    if item is None and removable:
        return
    if not isinstance(item, str):
        raise ValidationError(
            f"Invalid '{param}': the value of '{key}' is {describe(item)}; values must be "
            + ("strings, or null to remove the key." if removable else "strings."),
            param,
            "invalid_type",
        )
    if len(item) > METADATA_MAX_VALUE_LENGTH:
        raise ValidationError(
            f"Invalid '{param}': the value of '{key}' is {len(item)} characters long; "
            f"values may have at most {METADATA_MAX_VALUE_LENGTH}.",
            param,
            "metadata_value_too_long",
        )


@dataclass(frozen=True)
class MetadataPatch:
    """A modify's ``metadata``: a JSON merge patch (RFC 7396) on the stored map.

    Each key of ``changes`` is set to its value, or removed where the value is
    None; ``clear`` (the body's ``metadata: null``) empties the map instead.
    """

    changes: dict[str, str | None]
    clear: bool = False

    def apply(self, stored: dict[str, str] | None, param: str = "metadata") -> dict[str, str]:
        """The merged map, refused if it breaks the limits as a whole."""
        if self.clear:
            return {}
        merged = dict(stored or {})
        for key, value in self.changes.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if len(merged) > METADATA_MAX_PAIRS:
            raise ValidationError(
                f"Invalid '{param}': too many pairs. Expected at most {METADATA_MAX_PAIRS} "
                f"key-value pairs once merged with the stored ones, but got {len(merged)}.",
                param,
                "metadata_too_many_pairs",
            )
        return clean_metadata(merged, param)


def clean_metadata_patch(value: Any, param: str = "metadata") -> MetadataPatch:
    """Check each pair of a modify's ``metadata``; the limits on the whole wait for the merge."""
    if value is None:
        return MetadataPatch({}, clear=True)
    if not isinstance(value, dict):
        raise type_error(param, "an object", value)
    for key, item in value.items():
        check_metadata_pair(key, item, param, removable=True)
    return MetadataPatch(dict(value))


def apply_patches(changes: dict[str, Any], stored: Any) -> dict[str, Any]:
    """``changes`` with each :class:`MetadataPatch` merged into ``stored``'s value.

    Call it on a row read under its lock, so that concurrent modifies do not
    lose each other's keys.
    """
    return {
        name: value.apply(getattr(stored, name), name) if isinstance(value, MetadataPatch)
        else value
        for name, value in changes.items()
    }


# Message content -----------------------------------------------------------


def empty_content(param: str) -> ValidationError:
    return ValidationError("Message content must be non-empty.", param, "empty_content")


def text_part(text: str) -> dict:
    """The stored (and returned) shape of a text part."""
    return {"type": "text", "text": {"value": text, "annotations": []}}


def clean_image_detail(image: dict, param: str) -> str:
    if "detail" not in image or image["detail"] is None:
        return "auto"
    return check_choice(image["detail"], IMAGE_DETAILS, path(param, "detail"))


def clean_image_file(value: Any, param: str) -> dict:
    image = require_object(value, param)
    reject_unknown_fields(image, ("file_id", "detail"), param)
    file_id = require_string(
        require_field(image, "file_id", param), path(param, "file_id"), non_empty=True
    )
    return {"file_id": file_id, "detail": clean_image_detail(image, param)}


def clean_url(value: Any, param: str) -> str:
    """An http or https URL: no other scheme (``javascript:``, ``file:``) is ever stored."""
    url = require_string(value, param)
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[" and the like: not a URL at all
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(
            f"Invalid '{param}': expected an http or https URL.", param, "invalid_url"
        )
    return url


def clean_image_url(value: Any, param: str) -> dict:
    image = require_object(value, param)
    reject_unknown_fields(image, ("url", "detail"), param)
    url = clean_url(require_field(image, "url", param), path(param, "url"))
    return {"url": url, "detail": clean_image_detail(image, param)}


def clean_content_part(value: Any, param: str, content_param: str) -> dict:
    part = require_object(value, param)
    kind = check_choice(
        require_field(part, "type", param), ("text", "image_file", "image_url"), path(param, "type")
    )
    reject_unknown_fields(part, ("type", kind), param)
    body = require_field(part, kind, param)
    if kind == "text":
        text = require_string(body, path(param, "text"))
        if not text:
            raise empty_content(content_param)
        return text_part(text)
    if kind == "image_file":
        return {"type": kind, kind: clean_image_file(body, path(param, kind))}
    return {"type": kind, kind: clean_image_url(body, path(param, kind))}


def text_length(content: list[dict]) -> int:
    return sum(len(part["text"]["value"]) for part in content if part["type"] == "text")


def clean_content(value: Any, param: str = "content") -> list[dict]:
    """A non-empty string or a non-empty array of parts, returned as stored parts."""
    if isinstance(value, str):
        if not value:
            raise empty_content(param)
        content = [text_part(value)]
    elif isinstance(value, list):
        if not value:
            raise empty_content(param)
        content = [clean_content_part(p, path(param, i), param) for i, p in enumerate(value)]
    else:
        raise type_error(param, "a string or an array of content parts", value)
    return check_text_length(content, param)


def check_text_length(content: list[dict], param: str) -> list[dict]:
    check_text_limit(text_length(content), param)
    return content


def check_text_limit(length: int, param: str) -> None:
    """The one rule on a message's text, in whichever form its parts are."""
    limit = app_settings.MAX_TEXT_LENGTH
    if length > limit:
        raise ValidationError(
            f"Invalid '{param}': the message has {length} characters of text; "
            f"the limit is {limit}.",
            param,
            "string_above_max_length",
        )


def clean_attachments(value: Any, param: str = "attachments") -> list[dict]:
    """Each attachment names a file and the tools (possibly none) it is meant for."""
    if value is None:
        return []
    cleaned = []
    for i, item in enumerate(require_list(value, param)):
        item_param = path(param, i)
        attachment = require_object(item, item_param)
        reject_unknown_fields(attachment, ("file_id", "tools"), item_param)
        file_id = require_string(
            require_field(attachment, "file_id", item_param),
            path(item_param, "file_id"),
            non_empty=True,
        )
        tools_param = path(item_param, "tools")
        tools = []
        given_tools = require_list(require_field(attachment, "tools", item_param), tools_param)
        for j, tool in enumerate(given_tools):
            tool_param = path(tools_param, j)
            require_object(tool, tool_param)
            reject_unknown_fields(tool, ("type",), tool_param)
            kind = require_field(tool, "type", tool_param)
            tools.append({"type": check_choice(kind, ATTACHMENT_TOOLS, path(tool_param, "type"))})
        cleaned.append({"file_id": file_id, "tools": tools})
    return cleaned


# Thread tool resources -----------------------------------------------------


def clean_id_list(value: Any, param: str, max_length: int) -> list[str]:
    ids = require_list(value, param, max_length=max_length)
    for i, item in enumerate(ids):
        require_string(item, path(param, i), non_empty=True)
    return list(ids)


def clean_tool_resources(value: Any, param: str = "tool_resources") -> dict:
    """File IDs for code interpreter, vector store IDs for file search; IDs only."""
    if value is None:
        return {}
    resources = require_object(value, param)
    reject_unknown_fields(resources, ("code_interpreter", "file_search"), param)
    cleaned: dict[str, dict] = {}
    if resources.get("code_interpreter") is not None:
        ci_param = path(param, "code_interpreter")
        ci = require_object(resources["code_interpreter"], ci_param)
        reject_unknown_fields(ci, ("file_ids",), ci_param)
        file_ids = ci.get("file_ids")
        cleaned["code_interpreter"] = {
            "file_ids": []
            if file_ids is None
            else clean_id_list(file_ids, path(ci_param, "file_ids"), CODE_INTERPRETER_MAX_FILES)
        }
    if resources.get("file_search") is not None:
        fs_param = path(param, "file_search")
        fs = require_object(resources["file_search"], fs_param)
        if "vector_stores" in fs:
            raise ValidationError(
                f"Invalid '{path(fs_param, 'vector_stores')}': this server does not create "
                "vector stores. Pass the IDs of existing ones in 'vector_store_ids' instead.",
                path(fs_param, "vector_stores"),
                "unsupported_parameter",
            )
        reject_unknown_fields(fs, ("vector_store_ids",), fs_param)
        store_ids = fs.get("vector_store_ids")
        cleaned["file_search"] = {
            "vector_store_ids": []
            if store_ids is None
            else clean_id_list(
                store_ids, path(fs_param, "vector_store_ids"), FILE_SEARCH_MAX_VECTOR_STORES
            )
        }
    return cleaned


# Request bodies ------------------------------------------------------------


def clean_message_create(body: Any, prefix: str = "") -> dict[str, Any]:
    """Return the stored fields of a new message (role, content, attachments, metadata)."""
    require_object(body, prefix or "body")
    reject_unknown_fields(body, ("role", "content", "attachments", "metadata"), prefix)
    role = check_choice(require_field(body, "role", prefix), THREADS_ROLES, path(prefix, "role"))
    content = clean_content(require_field(body, "content", prefix), path(prefix, "content"))
    return {
        "role": role,
        "content": content,
        "attachments": clean_attachments(body.get("attachments"), path(prefix, "attachments")),
        "metadata": clean_metadata(body.get("metadata"), path(prefix, "metadata")),
    }


def clean_thread_create(body: Any) -> dict[str, Any]:
    """Return the thread's fields and, under ``messages``, its messages' fields in order."""
    require_object(body, "body")
    reject_unknown_fields(body, ("messages", "tool_resources", "metadata"))
    messages = body.get("messages")
    if messages is None:
        messages = []
    require_list(messages, "messages", max_length=app_settings.MAX_MESSAGES_PER_THREAD_CREATE)
    return {
        "messages": [clean_message_create(m, path("messages", i)) for i, m in enumerate(messages)],
        "tool_resources": clean_tool_resources(body.get("tool_resources")),
        "metadata": clean_metadata(body.get("metadata")),
    }


def clean_thread_update(body: Any) -> dict[str, Any]:
    """Return only the fields the body names; an explicit null clears a field.

    ``metadata`` comes back as a :class:`MetadataPatch`, for :func:`apply_patches`.
    """
    require_object(body, "body")
    reject_unknown_fields(body, ("tool_resources", "metadata"))
    changes: dict[str, Any] = {}
    if "tool_resources" in body:
        changes["tool_resources"] = clean_tool_resources(body["tool_resources"])
    if "metadata" in body:
        changes["metadata"] = clean_metadata_patch(body["metadata"])
    return changes


def clean_message_update(body: Any) -> dict[str, Any]:
    """As :func:`clean_thread_update`, for a message's only field that changes: ``metadata``."""
    require_object(body, "body")
    reject_unknown_fields(body, ("metadata",))
    return {"metadata": clean_metadata_patch(body["metadata"])} if "metadata" in body else {}


# Stored objects (import) ---------------------------------------------------
#
# An import reads objects in the shape the API returns, not the shape callers
# send: text parts carry annotations, and fields such as `status` or `run_id`
# that only a run could set are present. These rules take that shape and reuse
# the request rules wherever the two agree.

STORED_PART_TYPES = ("text", "image_file", "image_url", "refusal")
ANNOTATION_TYPES = ("file_citation", "file_path")
THREAD_FIELDS = ("id", "object", "created_at", "tool_resources", "metadata")
MESSAGE_FIELDS = tuple(
    "id object created_at thread_id status incomplete_details completed_at incomplete_at "
    "role content assistant_id run_id attachments metadata".split()
)


def require_non_negative_integer(value: Any, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(param, "an integer", value)
    if value < 0:
        raise ValidationError(
            f"Invalid '{param}': {value}. Expected an integer of at least 0.",
            param,
            "integer_below_min_value",
        )
    return value


def clean_object_id(value: Any, prefix: str, param: str) -> str:
    """An ID as stored: the type's prefix, and at most ID_MAX_LENGTH characters in all."""
    object_id = check_id(require_string(value, param), prefix, param)
    if len(object_id) > ID_MAX_LENGTH:
        raise ValidationError(
            f"Invalid '{param}': the ID is {len(object_id)} characters long; "
            f"IDs may have at most {ID_MAX_LENGTH}.",
            param,
            "string_above_max_length",
        )
    return object_id


def clean_optional_string(value: Any, param: str, max_length: int = ID_MAX_LENGTH) -> str | None:
    if value is None:
        return None
    text = require_string(value, param, non_empty=True)
    if len(text) > max_length:
        raise ValidationError(
            f"Invalid '{param}': expected at most {max_length} characters, got {len(text)}.",
            param,
            "string_above_max_length",
        )
    return text


# The last second a Python datetime can hold (9999-12-31T23:59:59Z).
TIMESTAMP_MAX = 253_402_300_799


def clean_timestamp(value: Any, param: str) -> int:
    """Unix seconds, as every timestamp of the API is."""
    seconds = require_non_negative_integer(value, param)
    if seconds > TIMESTAMP_MAX:
        raise ValidationError(
            f"Invalid '{param}': {seconds} is after the year 9999.", param, "invalid_value"
        )
    return seconds


def clean_optional_timestamp(value: Any, param: str) -> int | None:
    return None if value is None else clean_timestamp(value, param)


def check_object_type(body: dict, expected: str, prefix: str) -> None:
    if "object" in body:
        check_choice(body["object"], (expected,), path(prefix, "object"))


def clean_annotation(value: Any, param: str) -> dict:
    annotation = require_object(value, param)
    kind = check_choice(
        require_field(annotation, "type", param), ANNOTATION_TYPES, path(param, "type")
    )
    reject_unknown_fields(annotation, ("type", "text", kind, "start_index", "end_index"), param)
    target_param = path(param, kind)
    target = require_object(require_field(annotation, kind, param), target_param)
    reject_unknown_fields(target, ("file_id",), target_param)
    file_id = require_field(target, "file_id", target_param)
    return {
        "type": kind,
        "text": require_string(require_field(annotation, "text", param), path(param, "text")),
        kind: {"file_id": require_string(file_id, path(target_param, "file_id"), non_empty=True)},
        **{
            name: require_non_negative_integer(
                require_field(annotation, name, param), path(param, name)
            )
            for name in ("start_index", "end_index")
        },
    }


def clean_stored_content_part(value: Any, param: str) -> dict:
    part = require_object(value, param)
    kind = check_choice(require_field(part, "type", param), STORED_PART_TYPES, path(param, "type"))
    reject_unknown_fields(part, ("type", kind), param)
    body = require_field(part, kind, param)
    body_param = path(param, kind)
    if kind == "text":
        text = require_object(body, body_param)
        reject_unknown_fields(text, ("value", "annotations"), body_param)
        value = require_string(require_field(text, "value", body_param), path(body_param, "value"))
        annotations_param = path(body_param, "annotations")
        annotations = require_list(text.get("annotations") or [], annotations_param)
        return {
            "type": kind,
            kind: {
                "value": value,
                "annotations": [
                    clean_annotation(a, path(annotations_param, i))
                    for i, a in enumerate(annotations)
                ],
            },
        }
    if kind == "refusal":
        return {"type": kind, kind: require_string(body, body_param)}
    if kind == "image_file":
        return {"type": kind, kind: clean_image_file(body, body_param)}
    return {"type": kind, kind: clean_image_url(body, body_param)}


def clean_stored_content(value: Any, param: str = "content") -> list[dict]:
    """Content in the returned shape. Unlike a request's, it may be empty or hold empty
    text: a run that was cancelled or failed left messages like that."""
    parts = require_list(value, param)
    return check_text_length(
        [clean_stored_content_part(p, path(param, i)) for i, p in enumerate(parts)], param
    )


def clean_incomplete_details(value: Any, param: str) -> dict | None:
    if value is None:
        return None
    details = require_object(value, param)
    reject_unknown_fields(details, ("reason",), param)
    reason = require_field(details, "reason", param)
    return {"reason": check_choice(reason, INCOMPLETE_REASONS, path(param, "reason"))}


def clean_stored_thread(body: Any, prefix: str = "") -> dict[str, Any]:
    """Return a thread object's stored fields, ``created_at`` in Unix seconds."""
    require_object(body, prefix or "body")
    reject_unknown_fields(body, THREAD_FIELDS, prefix)
    check_object_type(body, THREAD_OBJECT, prefix)
    return {
        "public_id": clean_object_id(
            require_field(body, "id", prefix), THREAD_PREFIX, path(prefix, "id")
        ),
        "created_at": clean_timestamp(
            require_field(body, "created_at", prefix), path(prefix, "created_at")
        ),
        "tool_resources": clean_tool_resources(
            body.get("tool_resources"), path(prefix, "tool_resources")
        ),
        "metadata": clean_metadata(body.get("metadata"), path(prefix, "metadata")),
    }


def clean_stored_message(body: Any, prefix: str = "") -> dict[str, Any]:
    """Return a message object's stored fields and its ``thread_id``; times in Unix seconds."""
    require_object(body, prefix or "body")
    reject_unknown_fields(body, MESSAGE_FIELDS, prefix)
    check_object_type(body, MESSAGE_OBJECT, prefix)

    def field(name: str) -> Any:
        return require_field(body, name, prefix)

    return {
        "public_id": clean_object_id(field("id"), MESSAGE_PREFIX, path(prefix, "id")),
        "thread_id": clean_object_id(field("thread_id"), THREAD_PREFIX, path(prefix, "thread_id")),
        "created_at": clean_timestamp(field("created_at"), path(prefix, "created_at")),
        "role": check_choice(field("role"), THREADS_ROLES, path(prefix, "role")),
        "content": clean_stored_content(field("content"), path(prefix, "content")),
        "status": check_choice(field("status"), STATUSES, path(prefix, "status")),
        "incomplete_details": clean_incomplete_details(
            body.get("incomplete_details"), path(prefix, "incomplete_details")
        ),
        "completed_at": clean_optional_timestamp(
            body.get("completed_at"), path(prefix, "completed_at")
        ),
        "incomplete_at": clean_optional_timestamp(
            body.get("incomplete_at"), path(prefix, "incomplete_at")
        ),
        "assistant_id": clean_optional_string(
            body.get("assistant_id"), path(prefix, "assistant_id")
        ),
        "run_id": clean_optional_string(body.get("run_id"), path(prefix, "run_id")),
        "attachments": clean_attachments(body.get("attachments"), path(prefix, "attachments")),
        "metadata": clean_metadata(body.get("metadata"), path(prefix, "metadata")),
    }


# Conversation items ----------------------------------------------------------
#
# The Conversations API stores items of every type OpenAI's ConversationItem
# defines. Messages are checked part by part, by the rules of Threads parts
# wherever the two meet (text limit, image detail, URLs, file IDs), since the
# Threads view serves them too. Other items are checked field by field against
# their type's fields in items.py, and are otherwise kept as given. Every item
# is held to MAX_ITEM_SIZE once it has its stored form.

MAX_ITEMS_PER_REQUEST = 20
ITEM_ID_PATTERN = re.compile(PREFIX_PATTERN + re.escape(SEPARATOR) + ALPHABET_PATTERN + "+")
CONVERSATION_PART_FIELDS = {
    "input_text": ("text", "prompt_cache_breakpoint"),
    "output_text": ("text", "annotations", "logprobs"),
    "input_image": ("image_url", "file_id", "detail", "prompt_cache_breakpoint"),
    "input_file": ("file_id", "file_url", "file_data", "filename", "detail",
                   "prompt_cache_breakpoint"),
    "refusal": ("refusal",),
}
# What a JSON value of each kind is called in an error message.
KIND_NAMES = {"string": "a string", "integer": "an integer", "number": "a number",
              "boolean": "a boolean", "null": "null", "object": "an object", "array": "an array"}
# The field type of a content part in a tool's output (function_call_output.output).
TOOL_OUTPUT_PART = "tool_output_part"


def json_kind(value: Any) -> str:
    """The JSON kind of a parsed value: one of :data:`KIND_NAMES`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


@functools.cache
def alternatives(spec: str) -> dict[str, str]:
    """The alternatives of a field type such as ``"string|object[]"``, by the kind each takes."""
    by_kind: dict[str, str] = {}
    for alternative in spec.split("|"):
        if alternative.endswith("[]"):
            kinds = ["array"]
        elif alternative == "number":
            kinds = ["number", "integer"]
        elif alternative == "url":
            kinds = ["string"]
        elif alternative in SHAPES or alternative in TAGGED or alternative == TOOL_OUTPUT_PART:
            kinds = ["object"]
        else:
            kinds = [alternative]
        for kind in kinds:
            if kind not in KIND_NAMES or kind in by_kind:
                raise ValueError(f"field type {spec!r}: {alternative!r} is unknown or ambiguous")
            by_kind[kind] = alternative
    return by_kind


def clean_value(value: Any, spec: FieldType, param: str) -> Any:
    """``value`` checked against a field type of items.py; nested parts come back cleaned."""
    if isinstance(spec, tuple):
        if value is None and None in spec:
            return None
        return check_choice(value, tuple(c for c in spec if c is not None), param)
    by_kind = alternatives(spec)
    alternative = by_kind.get(json_kind(value))
    if alternative is None:
        expected = " or ".join(dict.fromkeys(
            KIND_NAMES["number" if kind == "integer" and "number" in by_kind else kind]
            for kind in by_kind
        ))
        raise type_error(param, expected, value)
    if alternative.endswith("[]"):
        return [clean_value(v, alternative[:-2], path(param, i)) for i, v in enumerate(value)]
    if alternative == "url":
        return clean_url(value, param)
    if alternative == TOOL_OUTPUT_PART:
        return clean_conversation_part(value, param, TOOL_OUTPUT_PART_TYPES)
    if alternative in TAGGED:
        kind = check_choice(require_field(value, "type", param), TAGGED[alternative],
                            path(param, "type"))
        alternative = kind
    if alternative in SHAPES:
        shape = SHAPES[alternative]
        return clean_fields(value, shape.fields, shape.required_fields, param)
    return value


def allows_null(spec: FieldType) -> bool:
    return None in spec if isinstance(spec, tuple) else "null" in alternatives(spec)


def clean_fields(
    body: dict, fields: dict[str, FieldType], required: tuple[str, ...], param: str
) -> dict[str, Any]:
    """``body``'s fields checked against their types, in the order given.

    A null where the type has none stands for a field not given, as in OpenAI's
    request schemas, and is left out: what is stored is what the type allows.
    """
    reject_unknown_fields(body, tuple(fields), param)
    for name in required:
        require_field(body, name, param)
    cleaned = {}
    for name, value in body.items():
        if value is None and name not in required and not allows_null(fields[name]):
            continue
        cleaned[name] = clean_value(value, fields[name], path(param, name))
    return cleaned


def clean_file_id(value: Any, param: str) -> str:
    """A file's ID, as Threads parts and attachments take it: a non-empty string."""
    return require_string(value, param, non_empty=True)


def one_source(part: dict, names: tuple[str, ...], param: str) -> str:
    """The one of ``names`` that ``part`` gives (not null): a part has exactly one source."""
    given = [name for name in names if part.get(name) is not None]
    if not given:
        listed = ", ".join(f"'{path(param, name)}'" for name in names[:-1])
        raise ValidationError(
            f"Missing required parameter: {listed} or '{path(param, names[-1])}'.",
            path(param, names[0]),
            "missing_required_parameter",
        )
    if len(given) > 1:
        raise ValidationError(
            f"Invalid '{param}': give one of {', '.join(given)}, not several.",
            path(param, given[1]),
            "invalid_value",
        )
    return given[0]


def clean_conversation_part(
    value: Any, param: str, kinds: tuple[str, ...] = MESSAGE_PART_TYPES
) -> dict:
    """A Conversations content part in its stored shape: ``type`` first, nulls left out.

    Text, image detail, URLs and file IDs follow the rules of Threads parts;
    ``detail`` of an image defaults to "auto" as there.
    """
    part = require_object(value, param)
    kind = check_choice(require_field(part, "type", param), kinds, path(param, "type"))
    reject_unknown_fields(part, ("type", *CONVERSATION_PART_FIELDS[kind]), param)
    cleaned: dict[str, Any] = {"type": kind}
    if kind in ("input_text", "output_text"):
        cleaned["text"] = require_string(require_field(part, "text", param), path(param, "text"))
    if kind == "output_text":
        for name, spec in (("annotations", "annotation[]"), ("logprobs", "logprob[]")):
            given = part.get(name)
            cleaned[name] = [] if given is None else clean_value(given, spec, path(param, name))
    elif kind == "refusal":
        cleaned["refusal"] = require_string(
            require_field(part, "refusal", param), path(param, "refusal")
        )
    elif kind == "input_image":
        source = one_source(part, ("image_url", "file_id"), param)
        if source == "image_url":
            cleaned[source] = clean_url(part[source], path(param, source))
        else:
            cleaned[source] = clean_file_id(part[source], path(param, source))
        cleaned["detail"] = clean_image_detail(part, param)
    elif kind == "input_file":
        source = one_source(part, ("file_id", "file_url", "file_data"), param)
        if source == "file_id":
            cleaned[source] = clean_file_id(part[source], path(param, source))
        elif source == "file_url":
            cleaned[source] = clean_url(part[source], path(param, source))
        else:
            cleaned[source] = require_string(part[source], path(param, source), non_empty=True)
        if part.get("filename") is not None:
            cleaned["filename"] = require_string(part["filename"], path(param, "filename"))
        if part.get("detail") is not None:  # OpenAI's levels for files are those of images
            cleaned["detail"] = check_choice(part["detail"], IMAGE_DETAILS, path(param, "detail"))
    if part.get("prompt_cache_breakpoint") is not None:
        cleaned["prompt_cache_breakpoint"] = clean_value(
            part["prompt_cache_breakpoint"], "prompt_cache_breakpoint",
            path(param, "prompt_cache_breakpoint"),
        )
    return cleaned


def clean_conversation_content(value: Any, role: str, param: str) -> list[dict]:
    """A message item's content: a string, or parts; the text limit as for Threads messages."""
    if isinstance(value, str):
        if not value:
            raise empty_content(param)
        check_text_limit(len(value), param)
        if role == Role.ASSISTANT:
            return [{"type": "output_text", "text": value, "annotations": [], "logprobs": []}]
        return [{"type": "input_text", "text": value}]
    if not isinstance(value, list):
        raise type_error(param, "a string or an array of content parts", value)
    if not value:
        raise empty_content(param)
    content = [clean_conversation_part(p, path(param, i)) for i, p in enumerate(value)]
    check_text_limit(
        sum(len(p["text"]) for p in content if p["type"] in ("input_text", "output_text")), param
    )
    return content


def clean_item_id(value: Any, prefix: str, param: str) -> str:
    """A client's ID for a new item: a stored ID whose suffix is letters and digits only."""
    item_id = clean_object_id(value, prefix, param)
    if not ITEM_ID_PATTERN.fullmatch(item_id):
        raise ValidationError(
            f"Invalid '{param}': '{item_id}'. Expected an ID that begins with '{id_start(prefix)}' "
            "followed by letters and digits.",
            param,
            "invalid_value",
        )
    return item_id


def check_item_size(item: dict[str, Any], param: str) -> None:
    """Refuse an item whose stored JSON (with the ID it will have) passes MAX_ITEM_SIZE.

    One item bounds what a page of items can weigh, and what a worker holds.
    """
    if item["id"] is None:  # ours will be made: every one has the same length
        item = {**item, "id": "x" * new_item_id_length(item["type"])}
    try:
        size = len(orjson.dumps(item))
    except orjson.JSONEncodeError as error:  # nested too deep, an integer too large
        raise ValidationError(
            f"Invalid '{param}': it cannot be stored as JSON ({error}).", param, "invalid_value"
        ) from None
    limit = app_settings.MAX_ITEM_SIZE
    if size > limit:
        raise ValidationError(
            f"Invalid '{param}': the item takes {size} bytes as JSON; the limit is {limit}.",
            param,
            "item_too_large",
        )


def clean_item(value: Any, param: str) -> dict[str, Any]:
    """Return the stored fields of one item: ``public_id`` (None: make one), ``type``,
    ``item`` (its Conversations form, ``id`` None until it has one), and ``role``,
    ``content``, ``status`` for a message."""
    body = require_object(value, param)
    kind = require_string(body.get("type", MESSAGE), path(param, "type"))
    if kind not in ITEM_TYPE_NAMES:
        raise ValidationError(
            f"Invalid '{path(param, 'type')}': '{kind}' is not an item type we know.",
            path(param, "type"),
            "invalid_value",
        )
    spec = item_type(kind)
    public_id = None
    if body.get("id") is not None:
        public_id = clean_item_id(body["id"], spec.prefix, path(param, "id"))
    if kind == MESSAGE:
        reject_unknown_fields(body, ("type", "id", "role", "content", "status"), param)
        status = body.get("status")
        status = MessageStatus.COMPLETED if status is None else check_choice(
            status, STATUSES, path(param, "status")
        )
        role = check_choice(require_field(body, "role", param), ITEM_ROLES, path(param, "role"))
        content = clean_conversation_content(
            require_field(body, "content", param), role, path(param, "content")
        )
        item = {"type": kind, "id": public_id, "status": status, "role": role,
                "content": content}
        check_item_size(item, param)
        return {"public_id": public_id, "type": kind, "role": role, "content": content,
                "status": status, "item": item}
    fields = clean_fields(
        {name: v for name, v in body.items() if name not in ("type", "id")},
        spec.fields, spec.required, param,
    )
    item = {"id": public_id, "type": kind, **fields}
    if spec.has_status and item.get("status") is None:
        item["status"] = MessageStatus.COMPLETED
    check_item_size(item, param)
    return {"public_id": public_id, "type": kind, "item": item}


def clean_items(value: Any, param: str = "items", *, required: bool) -> list[dict[str, Any]]:
    """1 to MAX_ITEMS_PER_REQUEST items (0 allowed where ``items`` is optional), each cleaned,
    IDs distinct."""
    if value is None and not required:
        return []
    items = require_list(value, param, max_length=MAX_ITEMS_PER_REQUEST)
    if required and not items:
        raise ValidationError(
            f"Invalid '{param}': empty array. Expected at least 1 item.",
            param,
            "empty_array",
        )
    cleaned = [clean_item(item, path(param, i)) for i, item in enumerate(items)]
    given = [item["public_id"] for item in cleaned if item["public_id"]]
    if len(given) != len(set(given)):
        raise ValidationError(f"Invalid '{param}': two items have the same id.", param,
                              "duplicate_id")
    return cleaned


def clean_include(values: list[str], param: str = "include") -> list[str]:
    for value in values:
        check_choice(value, INCLUDABLE, param)
    return values


def clean_conversation_create(body: Any) -> dict[str, Any]:
    require_object(body, "body")
    reject_unknown_fields(body, ("items", "metadata"))
    return {
        "items": clean_items(body.get("items"), required=False),
        "metadata": clean_metadata(body.get("metadata")),
    }


def clean_conversation_update(body: Any) -> dict[str, Any]:
    """As :func:`clean_message_update`, but ``metadata`` is required."""
    require_object(body, "body")
    reject_unknown_fields(body, ("metadata",))
    return {"metadata": clean_metadata_patch(require_field(body, "metadata"))}


def clean_items_create(body: Any) -> list[dict[str, Any]]:
    require_object(body, "body")
    reject_unknown_fields(body, ("items",))
    return clean_items(require_field(body, "items"), required=True)


# Stored items (import) -------------------------------------------------------
#
# An export writes a row outside the Threads view as ``{"object": "thread.item",
# "thread_id", "created_at", "item"}``, and a message written through the
# Conversations API as its Threads form plus its ``item``. Items are checked
# by the request rules above; a stored item always has its ID.

ITEM_RECORD_FIELDS = ("object", "thread_id", "created_at", "item")


def clean_stored_item(value: Any, param: str = "") -> dict[str, Any]:
    """``clean_item``'s fields of an item as the Conversations API returns it."""
    item = clean_item(value, param)
    if item["public_id"] is None:
        raise ValidationError(
            f"Missing required parameter: '{path(param, 'id')}'.",
            path(param, "id"),
            "missing_required_parameter",
        )
    return item


def clean_item_record(body: Any, prefix: str = "") -> dict[str, Any]:
    """Return an item line's ``thread_id``, ``created_at`` (Unix seconds) and cleaned ``item``."""
    require_object(body, prefix or "body")
    reject_unknown_fields(body, ITEM_RECORD_FIELDS, prefix)
    check_choice(
        require_field(body, "object", prefix), (ITEM_RECORD_OBJECT,), path(prefix, "object")
    )
    return {
        "thread_id": clean_object_id(
            require_field(body, "thread_id", prefix), THREAD_PREFIX, path(prefix, "thread_id")
        ),
        "created_at": clean_timestamp(
            require_field(body, "created_at", prefix), path(prefix, "created_at")
        ),
        "item": clean_stored_item(require_field(body, "item", prefix), path(prefix, "item")),
    }


def clean_message_item(value: Any, message: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The Conversations form stored beside a Threads message: a message item with the
    message's ID and role (``message`` is what ``clean_stored_message`` returned)."""
    param = path(prefix, "item")
    item = clean_stored_item(value, param)
    found = {"type": item["type"], "id": item["public_id"], "role": item.get("role")}
    for name, expected in (("type", MESSAGE), ("id", message["public_id"]),
                           ("role", message["role"])):
        if found[name] != expected:
            raise ValidationError(
                f"Invalid '{path(param, name)}': '{found[name]}'. Expected '{expected}', "
                "the message's.",
                path(param, name),
                "invalid_value",
            )
    return item
