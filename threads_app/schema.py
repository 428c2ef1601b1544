"""The OpenAPI 3.1 document of the API, generated from the views by drf-spectacular.

The views stay free of documentation: this module attaches ``extend_schema``
annotations to them after import, and names drf-spectacular's ``AutoSchema``
on each, so the host's ``DEFAULT_SCHEMA_CLASS`` and ``SPECTACULAR_SETTINGS``
change nothing about the document. Our objects are fixed by OpenAI's wire
format rather than by serializers, so they are written here as JSON Schema.
Limits that are settings (page size, text length, messages per create) are
read when the document is built, so it always states the limits in force.

The document served under the mount is checked in as
``tests/snapshots/openapi.json``; ``python manage.py threads_openapi`` prints it.
"""

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import drf_spectacular_sidecar
from django.http import FileResponse, HttpResponse
from django.urls import reverse
from django.utils.html import escape
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
)
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.settings import SPECTACULAR_DEFAULTS, patched_settings, spectacular_settings
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import __version__, items, validation
from .conf import app_settings
from .conversations import ConversationViewSet, ItemViewSet
from .idempotency import IdempotencyPolicy
from .ids import (
    ALPHABET_PATTERN,
    CONVERSATION_PREFIX,
    ID_MAX_LENGTH,
    MESSAGE_PREFIX,
    PREFIX_PATTERN,
    THREAD_PREFIX,
    id_pattern,
    id_start,
)
from .views import APIMixin, InvalidURLView, MessageViewSet, ThreadViewSet

SCHEMAS = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict:
    """A closed object: a name the schema does not list is refused (requests) or never sent."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return {**schema, **extra}


STRING = {"type": "string"}
NON_EMPTY_STRING = {"type": "string", "minLength": 1}
UNIX_SECONDS = {"type": "integer", "description": "Unix time, in seconds."}


def enum(values: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def item_id_pattern(prefix: str) -> str:
    """The IDs a client may give its items of one type: at most ID_MAX_LENGTH characters,
    the prefix included (validation.clean_item_id)."""
    longest = ID_MAX_LENGTH - len(id_start(prefix))
    return f"{id_pattern(prefix)}{ALPHABET_PATTERN}{{1,{longest}}}$"


def component_schemas() -> dict[str, Any]:
    """Every named schema of the document; read on each build, as settings may change."""
    max_text = app_settings.MAX_TEXT_LENGTH
    metadata = {
        "type": "object",
        "description": f"Up to {validation.METADATA_MAX_PAIRS} string pairs of the caller's "
        f"own; keys of at most {validation.METADATA_MAX_KEY_LENGTH} characters, values of at "
        f"most {validation.METADATA_MAX_VALUE_LENGTH}.",
        "maxProperties": validation.METADATA_MAX_PAIRS,
        "propertyNames": {"maxLength": validation.METADATA_MAX_KEY_LENGTH},
        "additionalProperties": {
            "type": "string",
            "maxLength": validation.METADATA_MAX_VALUE_LENGTH,
        },
    }
    image_detail = enum(validation.IMAGE_DETAILS)
    attachment_tool = obj({"type": enum(validation.ATTACHMENT_TOOLS)}, ("type",))
    return {
        "Error": obj(
            {
                "error": obj(
                    {
                        "message": STRING,
                        "type": STRING,
                        "param": nullable(STRING),
                        "code": nullable(STRING),
                    },
                    ("message", "type", "param", "code"),
                )
            },
            ("error",),
            description="Every error, whatever its status.",
        ),
        "Metadata": metadata,
        "ToolResources": obj(
            {
                "code_interpreter": obj(
                    {
                        "file_ids": {
                            "type": "array",
                            "items": STRING,
                            "maxItems": validation.CODE_INTERPRETER_MAX_FILES,
                        }
                    },
                    ("file_ids",),
                ),
                "file_search": obj(
                    {
                        "vector_store_ids": {
                            "type": "array",
                            "items": STRING,
                            "maxItems": validation.FILE_SEARCH_MAX_VECTOR_STORES,
                        }
                    },
                    ("vector_store_ids",),
                ),
            },
            description="IDs of files and vector stores, stored as given.",
        ),
        "ThreadObject": obj(
            {
                "id": {"type": "string", "pattern": id_pattern(THREAD_PREFIX)},
                "object": {"const": items.THREAD_OBJECT},
                "created_at": UNIX_SECONDS,
                "tool_resources": ref("ToolResources"),
                "metadata": ref("Metadata"),
            },
            ("id", "object", "created_at", "tool_resources", "metadata"),
        ),
        "ThreadDeleted": obj(
            {
                "id": {"type": "string", "pattern": id_pattern(THREAD_PREFIX)},
                "object": {"const": items.deleted_object_type(items.THREAD_OBJECT)},
                "deleted": {"const": True},
            },
            ("id", "object", "deleted"),
        ),
        "MessageContent": {
            "oneOf": [
                obj(
                    {
                        "type": {"const": "text"},
                        "text": obj(
                            {"value": STRING, "annotations": {"type": "array"}},
                            ("value", "annotations"),
                        ),
                    },
                    ("type", "text"),
                ),
                obj(
                    {
                        "type": {"const": "image_file"},
                        "image_file": obj(
                            {"file_id": STRING, "detail": image_detail}, ("file_id", "detail")
                        ),
                    },
                    ("type", "image_file"),
                ),
                obj(
                    {
                        "type": {"const": "image_url"},
                        "image_url": obj(
                            {"url": STRING, "detail": image_detail}, ("url", "detail")
                        ),
                    },
                    ("type", "image_url"),
                ),
            ]
        },
        "Attachment": obj(
            {"file_id": STRING, "tools": {"type": "array", "items": attachment_tool}},
            ("file_id", "tools"),
        ),
        "MessageObject": obj(
            {
                "id": {"type": "string", "pattern": id_pattern(MESSAGE_PREFIX)},
                "object": {"const": items.MESSAGE_OBJECT},
                "created_at": UNIX_SECONDS,
                "thread_id": {"type": "string", "pattern": id_pattern(THREAD_PREFIX)},
                "status": enum(items.STATUSES),
                "incomplete_details": nullable(
                    obj({"reason": enum(items.INCOMPLETE_REASONS)}, ("reason",))
                ),
                "completed_at": nullable(UNIX_SECONDS),
                "incomplete_at": nullable(UNIX_SECONDS),
                "role": enum(items.THREADS_ROLES),
                "content": {"type": "array", "items": ref("MessageContent")},
                "assistant_id": nullable(STRING),
                "run_id": nullable(STRING),
                "attachments": {"type": "array", "items": ref("Attachment")},
                "metadata": ref("Metadata"),
            },
            (
                "id", "object", "created_at", "thread_id", "status", "incomplete_details",
                "completed_at", "incomplete_at", "role", "content", "assistant_id", "run_id",
                "attachments", "metadata",
            ),
        ),
        "MessageDeleted": obj(
            {
                "id": {"type": "string", "pattern": id_pattern(MESSAGE_PREFIX)},
                "object": {"const": items.deleted_object_type(items.MESSAGE_OBJECT)},
                "deleted": {"const": True},
            },
            ("id", "object", "deleted"),
        ),
        # Request bodies: exactly what validation.py accepts, as far as JSON Schema can say.
        "MetadataRequest": nullable(ref("Metadata")),
        "MetadataPatch": nullable(
            {
                "type": "object",
                "description": "Merged into the stored metadata: a key given is set, a key "
                "given as null is removed, a key left out is kept; null instead of an object "
                "clears them all. The merged map keeps to the limits of Metadata.",
                "propertyNames": {"maxLength": validation.METADATA_MAX_KEY_LENGTH},
                "additionalProperties": nullable(
                    {"type": "string", "maxLength": validation.METADATA_MAX_VALUE_LENGTH}
                ),
            }
        ),
        "ToolResourcesRequest": nullable(
            obj(
                {
                    "code_interpreter": nullable(
                        obj(
                            {
                                "file_ids": nullable(
                                    {
                                        "type": "array",
                                        "items": NON_EMPTY_STRING,
                                        "maxItems": validation.CODE_INTERPRETER_MAX_FILES,
                                    }
                                )
                            }
                        )
                    ),
                    "file_search": nullable(
                        obj(
                            {
                                "vector_store_ids": nullable(
                                    {
                                        "type": "array",
                                        "items": NON_EMPTY_STRING,
                                        "maxItems": validation.FILE_SEARCH_MAX_VECTOR_STORES,
                                    }
                                )
                            },
                            description="Vector stores are not created here: pass the IDs "
                            "of existing ones.",
                        )
                    ),
                }
            )
        ),
        "MessageContentPartRequest": {
            "oneOf": [
                obj(
                    {
                        "type": {"const": "text"},
                        "text": {**NON_EMPTY_STRING, "maxLength": max_text},
                    },
                    ("type", "text"),
                ),
                obj(
                    {
                        "type": {"const": "image_file"},
                        "image_file": obj(
                            {"file_id": NON_EMPTY_STRING, "detail": nullable(image_detail)},
                            ("file_id",),
                        ),
                    },
                    ("type", "image_file"),
                ),
                obj(
                    {
                        "type": {"const": "image_url"},
                        "image_url": obj(
                            {
                                "url": {**STRING, "description": "An http or https URL."},
                                "detail": nullable(image_detail),
                            },
                            ("url",),
                        ),
                    },
                    ("type", "image_url"),
                ),
            ]
        },
        "CreateMessageRequest": obj(
            {
                "role": enum(items.THREADS_ROLES),
                "content": {
                    "description": f"Text, or parts; at most {max_text} characters of text "
                    "in all.",
                    "oneOf": [
                        {**NON_EMPTY_STRING, "maxLength": max_text},
                        {
                            "type": "array",
                            "items": ref("MessageContentPartRequest"),
                            "minItems": 1,
                        },
                    ],
                },
                "attachments": nullable(
                    {
                        "type": "array",
                        "items": obj(
                            {
                                "file_id": NON_EMPTY_STRING,
                                "tools": {"type": "array", "items": attachment_tool},
                            },
                            ("file_id", "tools"),
                        ),
                    }
                ),
                "metadata": ref("MetadataRequest"),
            },
            ("role", "content"),
        ),
        "CreateThreadRequest": obj(
            {
                "messages": nullable(
                    {
                        "type": "array",
                        "items": ref("CreateMessageRequest"),
                        "maxItems": app_settings.MAX_MESSAGES_PER_THREAD_CREATE,
                        "description": "Stored in order, with the thread: all or none.",
                    }
                ),
                "tool_resources": ref("ToolResourcesRequest"),
                "metadata": ref("MetadataRequest"),
            }
        ),
        "ModifyThreadRequest": obj(
            {
                "tool_resources": ref("ToolResourcesRequest"),
                "metadata": ref("MetadataPatch"),
            },
            description="Metadata sent is merged into the stored map; tool resources sent "
            "replace the stored ones (null clears them); a field left out is left unchanged.",
        ),
        "ModifyMessageRequest": obj(
            {"metadata": ref("MetadataPatch")},
            description="Only metadata can change; it is merged into the stored map.",
        ),
        **conversation_schemas(),
    }


# What each field type of items.py is in JSON Schema (see validation.clean_value).
FIELD_KINDS: dict[str, dict[str, Any]] = {
    kind: {"type": kind} for kind in ("string", "integer", "number", "boolean", "object", "null")
}
# Case aside, as urlsplit reads a scheme. No "format": a client's checker of URIs
# may refuse what the server takes (a space in the host, say).
HTTP_URL = {"type": "string", "pattern": "^[hH][tT][tT][pP][sS]?://",
            "description": "An http or https URL."}


def field_schema(spec: items.FieldType) -> dict[str, Any]:
    """The JSON Schema of a field type of items.py."""
    if isinstance(spec, tuple):
        return {"enum": list(spec)}
    alternatives = spec.split("|")
    if len(alternatives) > 1:
        return {"anyOf": [field_schema(alternative) for alternative in alternatives]}
    if spec.endswith("[]"):
        return {"type": "array", "items": field_schema(spec[:-2])}
    if spec == "url":
        return HTTP_URL
    if spec == validation.TOOL_OUTPUT_PART:
        return ref("ToolOutputPart")
    if spec in items.TAGGED:
        return {"oneOf": [field_schema(name) for name in items.TAGGED[spec]]}
    if spec in items.SHAPES:
        shape = items.SHAPES[spec]
        return fields_schema(shape.fields, shape.required_fields)
    return FIELD_KINDS[spec]


def fields_schema(
    fields: dict[str, items.FieldType], required: tuple[str, ...], **properties: Any
) -> dict[str, Any]:
    """A closed object of typed fields; an optional one may be null (taken as not given)."""
    schemas = {}
    for name, spec in fields.items():
        schema = field_schema(spec)
        if name not in required and not validation.allows_null(spec):
            schema = nullable(schema)
        schemas[name] = schema
    return obj({**properties, **schemas}, required)


def part_schemas(kinds: tuple[str, ...]) -> dict[str, Any]:
    """Content parts of a message item or of a tool's output, as validation.py takes them."""
    breakpoint_ = nullable(field_schema("prompt_cache_breakpoint"))
    file_id = nullable(NON_EMPTY_STRING)
    parts = {
        "input_text": obj({"type": {"const": "input_text"}, "text": STRING,
                           "prompt_cache_breakpoint": breakpoint_}, ("type", "text")),
        "output_text": obj({"type": {"const": "output_text"}, "text": STRING,
                            "annotations": nullable(field_schema("annotation[]")),
                            "logprobs": nullable(field_schema("logprob[]"))}, ("type", "text")),
        "input_image": obj(
            {"type": {"const": "input_image"}, "image_url": nullable(HTTP_URL),
             "file_id": file_id, "detail": nullable(enum(validation.IMAGE_DETAILS)),
             "prompt_cache_breakpoint": breakpoint_},
            ("type",),
            description="One of `image_url` and `file_id`; `detail` \"auto\" if not given.",
        ),
        "input_file": obj(
            {"type": {"const": "input_file"}, "file_id": file_id,
             "file_url": nullable(HTTP_URL), "file_data": nullable(NON_EMPTY_STRING),
             "filename": nullable(STRING), "detail": nullable(enum(validation.IMAGE_DETAILS)),
             "prompt_cache_breakpoint": breakpoint_},
            ("type",),
            description="One of `file_id`, `file_url` and `file_data`.",
        ),
        "refusal": obj({"type": {"const": "refusal"}, "refusal": STRING}, ("type", "refusal")),
    }
    return {"oneOf": [parts[kind] for kind in kinds]}


def conversation_schemas() -> dict[str, Any]:
    """The Conversations view of the same store. Items are OpenAI's, of many types:
    answers are described by what every one has (OpenAI's own schema details each
    type); requests by the fields validation.py checks, type by type."""
    any_id = id_pattern(PREFIX_PATTERN)
    item = {
        "type": "object",
        "properties": {"id": {"type": "string", "pattern": any_id},
                       "type": enum(items.ITEM_TYPE_NAMES)},
        "required": ["id", "type"],
        "additionalProperties": True,
    }
    text = {**NON_EMPTY_STRING, "maxLength": app_settings.MAX_TEXT_LENGTH}
    size = (f"At most {app_settings.MAX_ITEM_SIZE} bytes of JSON once stored (with its ID "
            "and status).")
    message_request = obj(
        {
            "type": {"const": items.MESSAGE},
            "id": nullable(
                {"type": "string", "pattern": item_id_pattern(items.MESSAGE_ITEM.prefix)}
            ),
            "role": enum(items.ITEM_ROLES),
            "content": {"oneOf": [text, {"type": "array", "items": ref("MessageItemPart"),
                                         "minItems": 1}]},
            "status": nullable(enum(items.STATUSES)),
        },
        ("role", "content"),
        description="A message; `type` may be left out. Its text, over all its parts, is "
        f"held to {app_settings.MAX_TEXT_LENGTH} characters. {size}",
    )
    typed_requests = [
        fields_schema(
            spec.fields,
            spec.required,
            type={"const": name},
            id=nullable({"type": "string", "pattern": item_id_pattern(spec.prefix)}),
        )
        | {"required": ["type", *spec.required],
           "description": f"A `{name}` item, its fields as OpenAI's schema types them. "
           + size}
        for name, spec in items.ITEM_TYPES.items()
    ]
    item_request = {"oneOf": [message_request, *typed_requests]}
    items_array = {"type": "array", "items": ref("ItemRequest"),
                   "maxItems": validation.MAX_ITEMS_PER_REQUEST}
    return {
        "ConversationObject": obj(
            {
                "id": {"type": "string", "pattern": id_pattern(CONVERSATION_PREFIX)},
                "object": {"const": items.CONVERSATION_OBJECT},
                "created_at": UNIX_SECONDS,
                "metadata": ref("Metadata"),
            },
            ("id", "object", "created_at", "metadata"),
        ),
        "ConversationDeleted": obj(
            {
                "id": {"type": "string", "pattern": id_pattern(CONVERSATION_PREFIX)},
                "object": {"const": items.deleted_object_type(items.CONVERSATION_OBJECT)},
                "deleted": {"const": True},
            },
            ("id", "object", "deleted"),
        ),
        "Item": item,
        "ItemRequest": item_request,
        "MessageItemPart": part_schemas(items.MESSAGE_PART_TYPES),
        "ToolOutputPart": part_schemas(items.TOOL_OUTPUT_PART_TYPES),
        "CreateConversationRequest": obj(
            {"items": nullable(items_array), "metadata": ref("MetadataRequest")}
        ),
        "ModifyConversationRequest": obj({"metadata": ref("MetadataPatch")}, ("metadata",)),
        "CreateItemsRequest": obj({"items": {**items_array, "minItems": 1}}, ("items",)),
    }


# Operations ----------------------------------------------------------------

ERRORS = {
    400: "The body, a query parameter or a path ID breaks a rule; `param` names it.",
    401: "No API key, or one that is not valid.",
    404: "No such object among the caller's.",
    409: "A request with the same Idempotency-Key is still being answered.",
    411: "A body sent without Content-Length (chunked) where the server cannot read one.",
    413: "The body is larger than the server accepts.",
    415: "The body is not sent as JSON.",
    422: "The Idempotency-Key was used before with another body.",
    429: "Too many requests for this key.",
    500: "A fault of the server; logged under the request's ID.",
    503: "The database is momentarily busy or out of reach (a Citus worker node down, say); "
    "retry after `Retry-After` seconds.",
}
# Which errors each kind of operation can answer with.
READ = (400, 401, 404, 429, 500, 503)
WRITE = (400, 401, 404, 409, 411, 413, 415, 422, 429, 500, 503)
COLLECTION_READ = tuple(status for status in READ if status != 404)
COLLECTION_WRITE = tuple(status for status in WRITE if status != 404)

REQUEST_ID = OpenApiParameter(
    "x-request-id",
    STRING,
    OpenApiParameter.HEADER,
    required=True,
    description="Names the request in the server's logs.",
    response=True,
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    {"type": "string", "pattern": "^[0-9]+$"},
    OpenApiParameter.HEADER,
    required=True,
    description="Seconds to wait before retrying.",
    response=[429, 503],
)
IDEMPOTENCY_KEY = OpenApiParameter(
    IdempotencyPolicy.header,
    {"type": "string", "minLength": 1, "maxLength": IdempotencyPolicy.max_key_length},
    OpenApiParameter.HEADER,
    description="Makes a retried POST safe: the same key and body get the first answer again.",
)
THREAD_ID = OpenApiParameter(
    "thread_id",
    {"type": "string", "pattern": id_pattern(THREAD_PREFIX)},
    OpenApiParameter.PATH,
    required=True,
    description="A thread's ID.",
)
CONVERSATION_ID = OpenApiParameter(
    "conversation_id",
    {"type": "string", "pattern": id_pattern(CONVERSATION_PREFIX)},
    OpenApiParameter.PATH,
    required=True,
    description=f"A conversation's ID: a thread's, with `{id_start(CONVERSATION_PREFIX)}` for "
    f"`{id_start(THREAD_PREFIX)}`.",
)
ITEM_ID = OpenApiParameter(
    "item_id", STRING, OpenApiParameter.PATH, required=True, description="An item's ID."
)
INCLUDE = OpenApiParameter(
    "include[]",
    {"type": "array", "items": enum(items.INCLUDABLE)},
    OpenApiParameter.QUERY,
    description="Accepted for compatibility; we keep no extra data, so it changes nothing.",
)
MESSAGE_ID = OpenApiParameter(
    "message_id",
    {"type": "string", "pattern": id_pattern(MESSAGE_PREFIX)},
    OpenApiParameter.PATH,
    required=True,
    description="A message's ID.",
)


@dataclass(frozen=True)
class Component:
    """A schema of the document's components, given where drf-spectacular takes a serializer.

    A ``list`` action answers its objects' component so: drf-spectacular then
    asks the view's paginator for the list object around them
    (``get_paginated_response_schema``) and makes that a component too, named by
    :meth:`ThreadsAutoSchema.get_paginated_name`.
    """

    name: str


class ComponentExtension(OpenApiSerializerExtension):
    target_class = Component

    def get_name(self, auto_schema: AutoSchema, direction: str) -> str:
        return self.target.name

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        return spectacular_settings.APPEND_COMPONENTS["schemas"][self.target.name]


def operation(
    operation_id: str,
    tag: str,
    summary: str,
    description: str,
    answer: str | Component,
    errors: tuple[int, ...],
    *,
    request: str | None = None,
    parameters: tuple[OpenApiParameter, ...] = (),
):
    """One operation: its success object, every error in the envelope, its headers."""
    success = answer if isinstance(answer, Component) else ref(answer)
    answers: dict[int, OpenApiResponse] = {200: OpenApiResponse(success, "Success.")}
    for status in errors:
        answers[status] = OpenApiResponse(ref("Error"), ERRORS[status])
    headers = [REQUEST_ID, RETRY_AFTER]
    if request is not None:
        headers.append(IDEMPOTENCY_KEY)
    return extend_schema(
        operation_id=operation_id,
        tags=[tag],
        summary=summary,
        description=description,
        # A raw schema, keyed by its media type: the body is JSON only.
        request={"application/json": ref(request)} if request is not None else None,
        responses=answers,
        parameters=[*parameters, *headers],
    )


THREAD_OPERATIONS = {
    "list": operation(
        "listThreads", "Threads", "List threads",
        "The caller's threads, a page at a time. Not part of OpenAI's API.",
        Component("ThreadObject"), COLLECTION_READ,
    ),
    "create": operation(
        "createThread", "Threads", "Create a thread",
        "The thread and its first messages are stored together, or not at all.",
        "ThreadObject", COLLECTION_WRITE, request="CreateThreadRequest",
    ),
    "retrieve": operation(
        "getThread", "Threads", "Retrieve a thread", "One of the caller's threads.",
        "ThreadObject", READ, parameters=(THREAD_ID,),
    ),
    "partial_update": operation(
        "modifyThread", "Threads", "Modify a thread",
        "Merges metadata into the thread's; replaces its tool resources.",
        "ThreadObject", WRITE, request="ModifyThreadRequest", parameters=(THREAD_ID,),
    ),
    "destroy": operation(
        "deleteThread", "Threads", "Delete a thread", "Deletes the thread and its messages.",
        "ThreadDeleted", READ, parameters=(THREAD_ID,),
    ),
}

MESSAGE_OPERATIONS = {
    "list": operation(
        "listMessages", "Messages", "List messages",
        "A thread's messages, a page at a time, in the order they were stored.",
        Component("MessageObject"), READ, parameters=(THREAD_ID,),
    ),
    "create": operation(
        "createMessage", "Messages", "Create a message", "Adds a message at the thread's end.",
        "MessageObject", WRITE, request="CreateMessageRequest", parameters=(THREAD_ID,),
    ),
    "retrieve": operation(
        "getMessage", "Messages", "Retrieve a message", "One message of one of the caller's "
        "threads.", "MessageObject", READ, parameters=(THREAD_ID, MESSAGE_ID),
    ),
    "partial_update": operation(
        "modifyMessage", "Messages", "Modify a message", "Merges metadata into the message's.",
        "MessageObject", WRITE, request="ModifyMessageRequest",
        parameters=(THREAD_ID, MESSAGE_ID),
    ),
    "destroy": operation(
        "deleteMessage", "Messages", "Delete a message",
        "Deletes the message; a cursor that names it keeps working.",
        "MessageDeleted", READ, parameters=(THREAD_ID, MESSAGE_ID),
    ),
}


CONVERSATION_OPERATIONS = {
    "create": operation(
        "createConversation", "Conversations", "Create a conversation",
        f"A new thread, seen as a conversation, with up to {validation.MAX_ITEMS_PER_REQUEST} "
        "first items: all or none.",
        "ConversationObject", COLLECTION_WRITE, request="CreateConversationRequest",
    ),
    "retrieve": operation(
        "getConversation", "Conversations", "Retrieve a conversation",
        "One of the caller's threads, seen as a conversation.",
        "ConversationObject", READ, parameters=(CONVERSATION_ID,),
    ),
    "partial_update": operation(
        "updateConversation", "Conversations", "Update a conversation",
        "Merges metadata into the conversation's.",
        "ConversationObject", WRITE, request="ModifyConversationRequest",
        parameters=(CONVERSATION_ID,),
    ),
    "destroy": operation(
        "deleteConversation", "Conversations", "Delete a conversation",
        "Deletes the conversation and its items: the thread and its messages too.",
        "ConversationDeleted", READ, parameters=(CONVERSATION_ID,),
    ),
}

ITEM_OPERATIONS = {
    "list": operation(
        "listConversationItems", "Conversations", "List items",
        "Every item of the conversation, messages and others, a page at a time.",
        Component("Item"), READ, parameters=(CONVERSATION_ID, INCLUDE),
    ),
    "create": operation(
        "createConversationItems", "Conversations", "Create items",
        "Adds 1 to 20 items at the conversation's end: all or none.",
        # The list object of a page of the list above, whose paginator gives its component.
        "ItemList", WRITE, request="CreateItemsRequest", parameters=(CONVERSATION_ID, INCLUDE),
    ),
    "retrieve": operation(
        "getConversationItem", "Conversations", "Retrieve an item", "One item.",
        "Item", READ, parameters=(CONVERSATION_ID, ITEM_ID, INCLUDE),
    ),
    "destroy": operation(
        "deleteConversationItem", "Conversations", "Delete an item",
        "Deletes the item from both views; answers the conversation.",
        "ConversationObject", READ, parameters=(CONVERSATION_ID, ITEM_ID),
    ),
}


class APIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "threads_app.authentication.APIKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API key of this server."}


class ThreadsAutoSchema(AutoSchema):
    """drf-spectacular's inspector, with our names for list objects and our filters' query.

    drf-spectacular takes a viewset's ``list`` action for a list, and asks the
    view's ``pagination_class`` for its query parameters and for the list object
    of a page (see threads_app/pagination.py); the page's component is named
    after its objects' here: ``ThreadObject`` gives ``ThreadList``.
    """

    def get_paginated_name(self, serializer_name: str) -> str:
        return serializer_name.removesuffix("Object") + "List"

    def get_filter_backends(self) -> list:
        # Our filters are described below: drf-spectacular's reading of django-filter's
        # needs a queryset on the view to find the model, and our viewsets have none.
        return []

    def get_override_parameters(self) -> list:
        parameters = list(super().get_override_parameters())
        if getattr(self.view, "action", None) == "list":
            filterset_class = getattr(self.view, "filterset_class", None)
            for name in filterset_class.base_filters if filterset_class else ():
                description = f"Only those whose `{name}` is this."
                parameters.append(
                    OpenApiParameter(name, STRING, OpenApiParameter.QUERY, description=description)
                )
        return parameters


def annotate(view: type, operations: dict[str, Any]) -> None:
    """Name drf-spectacular's inspector on the view and its actions, then annotate them.

    ``extend_schema`` builds on the schema class it finds on what it decorates,
    else on the host's ``DEFAULT_SCHEMA_CLASS``: naming ours first keeps the host's out.
    """
    view.schema = ThreadsAutoSchema()
    for action in operations:
        getattr(view, action).schema = ThreadsAutoSchema
    extend_schema_view(**operations)(view)


annotate(ThreadViewSet, THREAD_OPERATIONS)
annotate(MessageViewSet, MESSAGE_OPERATIONS)
annotate(ConversationViewSet, CONVERSATION_OPERATIONS)
annotate(ItemViewSet, ITEM_OPERATIONS)
InvalidURLView.schema = None


# The document and its page ------------------------------------------------


def documented_endpoints(endpoints: list[tuple]) -> list[tuple]:
    """Only the views annotated here: one that is not would fail the whole document."""
    return [
        endpoint for endpoint in endpoints if isinstance(endpoint[3].cls.schema, ThreadsAutoSchema)
    ]


def finish_document(result: dict[str, Any], generator: SchemaGenerator, request=None, **kwargs):
    """What drf-spectacular has no annotation for, added to the built document."""
    schemas = result["components"]["schemas"]
    for item in result["paths"].values():
        for operation in item.values():
            # A body is required where its schema requires a field.
            if "requestBody" in operation:
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                body_schema = schemas[body["$ref"].rsplit("/", 1)[1]]
                operation["requestBody"]["required"] = bool(body_schema.get("required"))
            # The paginator and the filter take an empty value for a parameter left out.
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    parameter["allowEmptyValue"] = True
    # The mount is the server, so that paths read as the routes of threads_app.urls.
    if request is not None:
        mount = request.path.removesuffix(OpenAPIView.filename)
        result["servers"] = [{"url": mount.rstrip("/")}]
    return result


def document_settings() -> dict[str, Any]:
    """drf-spectacular's settings for our document, all of them, whatever the host set."""
    ours = {
        "TITLE": "Threads, Messages and Conversations API",
        "DESCRIPTION": "OpenAI's Threads and Messages API (Assistants v2) and its successor, "
        "the Conversations API, served from one store by threads_app. Every error is "
        "`{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`.",
        "VERSION": __version__,
        "OAS_VERSION": "3.1.0",
        "SCHEMA_PATH_PREFIX": "",
        "APPEND_COMPONENTS": {"schemas": component_schemas()},
        "PREPROCESSING_HOOKS": ["threads_app.schema.documented_endpoints"],
        "POSTPROCESSING_HOOKS": ["threads_app.schema.finish_document"],
    }
    defaults = {
        name: value
        for name, value in SPECTACULAR_DEFAULTS.items()
        # Not patchable per view: the view names these as attributes instead.
        if not name.startswith("SERVE_") and name != "DEFAULT_GENERATOR_CLASS"
    }
    return {**defaults, **ours}


# drf-spectacular patches its settings globally while a document is built: one at a time.
generation_lock = threading.Lock()


class PublicView(APIMixin, APIView):
    """Served to anyone: what the API is, not what it holds."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None  # not an operation of the API

    def get_authenticators(self) -> list:
        return []


class OpenAPIView(PublicView, SpectacularAPIView):
    """The document of the routes beside it, in JSON."""

    filename = "openapi.json"
    generator_class = SchemaGenerator
    serve_public = True

    @property
    def patterns(self) -> list:
        # The app's own routes, relative to the mount: the host's other URLs are not ours.
        from .urls import urlpatterns

        return urlpatterns

    @property
    def custom_settings(self) -> dict[str, Any]:
        return document_settings()

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        generator = self.generator_class(patterns=self.patterns)
        with generation_lock, patched_settings(self.custom_settings):
            return Response(generator.get_schema(request=request, public=self.serve_public))


REDOC = Path(drf_spectacular_sidecar.__file__).parent.joinpath(
    "static", "drf_spectacular_sidecar", "redoc", "bundles", "redoc.standalone.js"
)

DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Threads, Messages and Conversations API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="{document}"></redoc><script src="{script}"></script></body>
</html>
"""


class DocsView(PublicView):
    """The document rendered by Redoc, from the files drf-spectacular-sidecar installs.

    Served by the app itself, so it needs no CDN and no static files set up by the host.
    """

    # Redoc draws its own styles inline and searches in a worker it makes from a blob;
    # anything else from elsewhere (its logo, from its makers' CDN) is refused.
    content_security_policy = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "worker-src blob:; frame-ancestors 'none'"
    )

    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        namespace = request.resolver_match.namespace
        page = DOCS_PAGE.format(
            document=escape(reverse(f"{namespace}:openapi")),
            script=escape(reverse(f"{namespace}:docs-script")),
        )
        return HttpResponse(page, headers={"Content-Security-Policy": self.content_security_policy})


class DocsScriptView(PublicView):
    def get(self, request: Request, *args: Any, **kwargs: Any) -> FileResponse:
        return FileResponse(REDOC.open("rb"), content_type="text/javascript")
