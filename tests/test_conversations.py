"""The Conversations API on the Threads store: both views of one history."""

import json
import re

import openai
import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from threads_app.models import Message, Thread

from .conftest import url
from .oracle import assert_schema
from .test_api import assert_error, counts, make_message, make_thread

pytestmark = pytest.mark.django_db

FUNCTION_CALL = {"type": "function_call", "call_id": "call_1", "name": "get_weather",
                 "arguments": "{\"city\": \"Oslo\"}"}
FUNCTION_OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "{\"c\": 4}"}

# One item of every type, in the shapes OpenAI's schemas give them.
SAMPLE_ITEMS = {item["type"]: item for item in [
    FUNCTION_CALL,
    {**FUNCTION_OUTPUT, "output": [
        {"type": "input_text", "text": "4 degrees"},
        {"type": "input_image", "file_id": "file_chart", "detail": "low"},
        {"type": "input_file", "file_url": "https://example.com/report.pdf"},
    ]},
    {"type": "file_search_call", "queries": ["oslo weather"], "results": None},
    {"type": "web_search_call", "action": {"type": "search", "queries": ["oslo"]},
     "status": "searching"},
    {"type": "image_generation_call", "result": None, "status": "generating"},
    {"type": "computer_call", "call_id": "call_2", "pending_safety_checks": [{"id": "sc_1"}],
     "action": {"type": "click", "button": "left", "x": 1, "y": 2}},
    {"type": "computer_call_output", "call_id": "call_2",
     "output": {"type": "computer_screenshot", "file_id": "file_shot"}},
    {"type": "tool_search_call", "call_id": "call_3", "execution": "client",
     "arguments": {"query": "weather"}},
    {"type": "tool_search_output", "call_id": None, "execution": "server", "tools": []},
    {"type": "additional_tools", "role": "developer", "tools": []},
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Look it up."}],
     "content": [{"type": "reasoning_text", "text": "The user wants weather."}],
     "encrypted_content": None},
    {"type": "program", "call_id": "call_4", "code": "print(1)", "fingerprint": "fp"},
    {"type": "program_output", "call_id": "call_4", "result": "1", "status": "incomplete"},
    {"type": "compaction", "encrypted_content": "opaque"},
    {"type": "code_interpreter_call", "container_id": "cntr_1", "code": None,
     "outputs": [{"type": "logs", "logs": "ok"}], "status": "interpreting"},
    {"type": "local_shell_call", "call_id": "call_5",
     "action": {"type": "exec", "command": ["ls"], "env": {}}},
    {"type": "local_shell_call_output", "call_id": "call_5", "output": "a.txt", "status": None},
    {"type": "shell_call", "call_id": "call_6", "environment": {"type": "local"},
     "action": {"commands": ["ls"], "timeout_ms": None, "max_output_length": None}},
    {"type": "shell_call_output", "call_id": "call_6", "max_output_length": 100,
     "output": [{"stdout": "a.txt", "stderr": "",
                 "outcome": {"type": "exit", "exit_code": 0}}]},
    {"type": "apply_patch_call", "call_id": "call_7",
     "operation": {"type": "create_file", "path": "a.txt", "diff": "+a"}},
    {"type": "apply_patch_call_output", "call_id": "call_7", "output": None, "status": "failed"},
    {"type": "mcp_list_tools", "server_label": "docs",
     "tools": [{"name": "search", "input_schema": {}}], "error": None},
    {"type": "mcp_approval_request", "server_label": "docs", "name": "search",
     "arguments": "{}"},
    {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": False,
     "request_id": "mcpr_1", "reason": None},
    {"type": "mcp_call", "server_label": "docs", "name": "search", "arguments": "{}",
     "output": "found", "status": "calling"},
    {"type": "custom_tool_call", "call_id": "call_8", "name": "grammar", "input": "x"},
    {"type": "custom_tool_call_output", "call_id": "call_8", "output": "ok"},
]}


def conv_id(thread_id):
    return "conv_" + thread_id.removeprefix("thread_")


def thread_of(conversation_id):
    return "thread_" + conversation_id.removeprefix("conv_")


def post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def make_conversation(api, **body):
    response = post(api, url("conversation-list"), body)
    assert response.status_code == 200, response.content
    return response.json()


def add_items(api, conversation_id, items):
    response = post(api, url("item-list", conversation_id=conversation_id), {"items": items})
    assert response.status_code == 200, response.content
    return response.json()


class TestHTTP:
    def test_conversation_lifecycle(self, api):
        conversation = make_conversation(api, metadata={"topic": "weather"})
        assert_schema(conversation, "ConversationResource")
        assert conversation["id"].startswith("conv_") and conversation["object"] == "conversation"
        detail = url("conversation-detail", conversation_id=conversation["id"])
        assert api.get(detail).json() == conversation
        updated = post(api, detail, {"metadata": {"topic": "rain"}}).json()
        assert updated["metadata"] == {"topic": "rain"}
        assert_error(post(api, detail, {}), 400, "metadata")
        deleted = api.delete(detail).json()
        assert deleted == {"id": conversation["id"], "object": "conversation.deleted",
                           "deleted": True}
        assert_schema(deleted, "DeletedConversationResource")
        assert_error(api.get(detail), 404,
                     contains=f"No conversation found with id '{conversation['id']}'.")

    def test_every_item_type_round_trips(self, api):
        from threads_app.items import ITEM_TYPES

        assert set(SAMPLE_ITEMS) == set(ITEM_TYPES)
        conversation = make_conversation(api)
        items = list(SAMPLE_ITEMS.values())
        created = []
        for start in range(0, len(items), 20):
            created += add_items(api, conversation["id"], items[start:start + 20])["data"]
        for given, got in zip(items, created, strict=True):
            assert got["type"] == given["type"]
            assert {k: got[k] for k in given} == given
            assert got["id"].startswith(f"{ITEM_TYPES[given['type']].prefix}_")
            if ITEM_TYPES[given["type"]].has_status:
                assert got["status"] == given.get("status", "completed")
            assert_schema(got, "ConversationItem")
            retrieved = api.get(url("item-detail", conversation_id=conversation["id"],
                                    item_id=got["id"])).json()
            assert retrieved == got
        listed = api.get(url("item-list", conversation_id=conversation["id"]),
                         {"limit": 100}).json()
        assert_schema(listed, "ConversationItemList")

    def test_messages_of_every_role_and_part(self, api):
        conversation = make_conversation(api, items=[
            {"role": "system", "content": "Be brief."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "https://example.com/a.png"},
                {"type": "input_file", "file_id": "file_1"},
            ]},
            {"role": "assistant", "content": "A cat."},
        ])
        listed = api.get(url("item-list", conversation_id=conversation["id"]),
                         {"order": "asc"}).json()
        assert_schema(listed, "ConversationItemList")
        system, user, assistant = listed["data"]
        assert system["role"] == "system" and system["status"] == "completed"
        assert user["content"][1] == {"type": "input_image",
                                      "image_url": "https://example.com/a.png", "detail": "auto"}
        assert assistant["content"] == [{"type": "output_text", "text": "A cat.",
                                         "annotations": [], "logprobs": []}]
        # The Threads view: user and assistant only, in Threads parts, input_file left out.
        thread_id = "thread_" + conversation["id"].removeprefix("conv_")
        messages = api.get(url("message-list", thread_id=thread_id), {"order": "asc"}).json()
        assert_schema(messages, "ListMessagesResponse")
        assert [m["role"] for m in messages["data"]] == ["user", "assistant"]
        assert messages["data"][0]["content"] == [
            {"type": "text", "text": {"value": "What is this?", "annotations": []}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png",
                                                "detail": "auto"}},
        ]
        assert [m["id"] for m in messages["data"]] == [user["id"], assistant["id"]]

    def test_thread_read_as_conversation(self, api):
        thread = make_thread(api, metadata={"a": "1"}, messages=[
            {"role": "user", "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_file", "image_file": {"file_id": "file_9", "detail": "low"}},
            ]},
            {"role": "assistant", "content": "hello"},
        ])
        conversation = api.get(url("conversation-detail",
                                   conversation_id=conv_id(thread["id"]))).json()
        assert conversation == {"id": conv_id(thread["id"]), "object": "conversation",
                                "created_at": thread["created_at"], "metadata": {"a": "1"}}
        items = api.get(url("item-list", conversation_id=conv_id(thread["id"])),
                        {"order": "asc"}).json()["data"]
        assert items[0]["content"] == [
            {"type": "input_text", "text": "hi"},
            {"type": "input_image", "file_id": "file_9", "detail": "low"},
        ]
        assert items[1]["content"][0]["type"] == "output_text"
        for item in items:
            assert_schema(item, "ConversationItem")

    def test_interleaved_history_keeps_both_paginators_exact(self, api):
        conversation = make_conversation(api)
        cid = conversation["id"]
        made = add_items(api, cid, [
            {"role": "user", "content": "weather?"}, FUNCTION_CALL, FUNCTION_OUTPUT,
            {"role": "assistant", "content": "4 degrees"},
        ])["data"]
        thread_id = "thread_" + cid.removeprefix("conv_")
        first = api.get(url("message-list", thread_id=thread_id),
                        {"order": "asc", "limit": 1}).json()
        assert [m["id"] for m in first["data"]] == [made[0]["id"]] and first["has_more"]
        second = api.get(url("message-list", thread_id=thread_id),
                         {"order": "asc", "limit": 1, "after": first["last_id"]}).json()
        assert [m["id"] for m in second["data"]] == [made[3]["id"]]
        assert second["has_more"] is False
        desc = api.get(url("message-list", thread_id=thread_id), {"limit": 1}).json()
        assert desc["data"][0]["id"] == made[3]["id"] and desc["has_more"] is True
        every = api.get(url("item-list", conversation_id=cid), {"order": "asc"}).json()
        assert [i["id"] for i in every["data"]] == [i["id"] for i in made]
        # A function call is no message: the Threads view refuses it as a cursor.
        assert_error(api.get(url("message-list", thread_id=thread_id),
                             {"after": made[1]["id"]}), 400, "after")

    def test_delete_item_leaves_nothing_in_either_view(self, api):
        conversation = make_conversation(api, items=[{"role": "user", "content": "x"},
                                                     FUNCTION_CALL])
        cid = conversation["id"]
        items = api.get(url("item-list", conversation_id=cid), {"order": "asc"}).json()["data"]
        answer = api.delete(url("item-detail", conversation_id=cid, item_id=items[0]["id"]))
        assert answer.json() == conversation  # the conversation, not a stub
        thread_id = "thread_" + cid.removeprefix("conv_")
        assert api.get(url("message-list", thread_id=thread_id)).json()["data"] == []
        assert_error(api.get(url("item-detail", conversation_id=cid, item_id=items[0]["id"])),
                     404, contains=f"No item found with id '{items[0]['id']}'.")
        # Its place is kept for cursors, in both views.
        after = api.get(url("item-list", conversation_id=cid),
                        {"order": "asc", "after": items[0]["id"]}).json()
        assert [i["id"] for i in after["data"]] == [items[1]["id"]]

    def test_delete_conversation_deletes_the_thread(self, api):
        thread = make_thread(api)
        make_message(api, thread["id"])
        api.delete(url("conversation-detail", conversation_id=conv_id(thread["id"])))
        assert counts() == (0, 0)
        assert_error(api.get(url("thread-detail", thread_id=thread["id"])), 404)

    def test_client_ids_are_kept_once(self, api):
        conversation = make_conversation(api)
        cid = conversation["id"]
        given = {**FUNCTION_CALL, "id": "fc_clientchosen1"}
        assert add_items(api, cid, [given])["data"][0]["id"] == "fc_clientchosen1"
        assert_error(post(api, url("item-list", conversation_id=cid), {"items": [given]}),
                     400, "items[0].id")
        assert_error(post(api, url("item-list", conversation_id=cid),
                          {"items": [{**FUNCTION_CALL, "id": "not well formed"}]}),
                     400, "items[0].id")
        # Longer than the column: refused as a 400, not left to the database.
        assert_error(post(api, url("item-list", conversation_id=cid),
                          {"items": [{**FUNCTION_CALL, "id": "fc_" + "a" * 62}]}),
                     400, "items[0].id")
        assert add_items(api, cid, [{**FUNCTION_CALL, "id": "fc_" + "a" * 61}])["data"]

    @pytest.mark.parametrize("items,param", [
        ([{"type": "teleport", "destination": "mars"}], "items[0].type"),
        ([{"type": "function_call", "name": "f", "arguments": "{}"}], "items[0].call_id"),
        ([{"role": "user", "content": [{"type": "input_text"}]}], "items[0].content[0].text"),
        ([{"role": "user", "content": [{"type": "hologram"}]}], "items[0].content[0].type"),
        ([{"role": "robot", "content": "x"}], "items[0].role"),
        ([{"role": "user", "content": ""}], "items[0].content"),
        ([{"role": "user", "content": "x"}] * 21, "items"),
        ([], "items"),
        ([{"role": "user", "content": "ok"}, {"type": "reasoning"}], "items[1].summary"),
    ])
    def test_bad_items_store_nothing(self, api, items, param):
        conversation = make_conversation(api)
        before = counts()
        response = post(api, url("item-list", conversation_id=conversation["id"]),
                        {"items": items})
        assert_error(response, 400, param)
        assert counts() == before

    def test_text_over_the_limit_stores_nothing(self, api, settings):
        settings.THREADS_APP = {**getattr(settings, "THREADS_APP", {}), "MAX_TEXT_LENGTH": 10}
        conversation = make_conversation(api)
        path = url("item-list", conversation_id=conversation["id"])
        before = counts()
        parts = [{"type": "input_text", "text": "123456"}] * 2
        error = assert_error(post(api, path, {"items": [{"role": "user", "content": parts}]}),
                             400, "items[0].content")
        assert error["code"] == "string_above_max_length"
        assert counts() == before
        one_part = {"items": [{"role": "user", "content": parts[:1]}]}
        assert post(api, path, one_part).status_code == 200

    def test_bad_items_on_create_store_no_conversation(self, api):
        response = post(api, url("conversation-list"),
                        {"items": [{"role": "user", "content": "x"}, {"type": "nope"}]})
        assert_error(response, 400, "items[1].type")
        assert counts() == (0, 0)

    def test_include(self, api):
        conversation = make_conversation(api, items=[{"role": "user", "content": "x"}])
        path = url("item-list", conversation_id=conversation["id"])
        ok = api.get(path + "?include[]=message.output_text.logprobs"
                            "&include[]=reasoning.encrypted_content")
        assert ok.status_code == 200 and len(ok.json()["data"]) == 1
        assert_error(api.get(path + "?include[]=everything"), 400, "include")
        assert_error(post(api, path + "?include=bogus", {"items": [FUNCTION_CALL]}), 400,
                     "include")
        assert counts() == (1, 1)

    def test_wrong_ids(self, api):
        assert_error(api.get(url("conversation-detail", conversation_id="thread_abc")), 400,
                     "conversation_id", "Expected an ID that begins with 'conv'.")
        assert_error(api.get(url("conversation-detail", conversation_id="conv_nothing")), 404)

    def test_isolation(self, api, other_api):
        conversation = make_conversation(api, items=[FUNCTION_CALL])
        cid = conversation["id"]
        item_id = Message.objects.get().public_id
        for response in (
            other_api.get(url("conversation-detail", conversation_id=cid)),
            post(other_api, url("conversation-detail", conversation_id=cid), {"metadata": {}}),
            other_api.delete(url("conversation-detail", conversation_id=cid)),
            post(other_api, url("item-list", conversation_id=cid), {"items": [FUNCTION_CALL]}),
            other_api.get(url("item-list", conversation_id=cid)),
            other_api.get(url("item-detail", conversation_id=cid, item_id=item_id)),
            other_api.delete(url("item-detail", conversation_id=cid, item_id=item_id)),
        ):
            assert_error(response, 404)
        assert counts() == (1, 1)
        assert Thread.objects.get().metadata == {}


IMAGE = "https://example.com/a.png"


def message_with(*parts, role="user"):
    return {"role": role, "content": list(parts)}


def with_limits(settings, **limits):
    settings.THREADS_APP = {**getattr(settings, "THREADS_APP", {}), **limits}


def stored_size(item, id_length):
    """Bytes of an item's stored JSON, with an ID of the length ours have."""
    return len(orjson.dumps({"id": "x" * id_length, **item}))


# Each breaks a rule the Threads endpoints hold their parts to, or a type of
# OpenAI's schema for the item; (items, the offending param).
BAD_ITEMS = [
    ([message_with({"type": "input_image", "file_id": 12345})], "items[0].content[0].file_id"),
    ([message_with({"type": "input_image", "file_id": ""})], "items[0].content[0].file_id"),
    ([message_with({"type": "input_image", "image_url": IMAGE, "detail": "original"})],
     "items[0].content[0].detail"),
    ([message_with({"type": "input_image", "image_url": IMAGE, "detail": ""})],
     "items[0].content[0].detail"),
    ([message_with({"type": "input_image", "image_url": IMAGE, "detail": False})],
     "items[0].content[0].detail"),
    ([message_with({"type": "input_image", "image_url": IMAGE, "detail": 0})],
     "items[0].content[0].detail"),
    ([message_with({"type": "input_image", "image_url": "javascript:alert(1)"})],
     "items[0].content[0].image_url"),
    ([message_with({"type": "input_image", "image_url": IMAGE, "file_id": "file_1"})],
     "items[0].content[0].file_id"),
    ([message_with({"type": "input_image", "image_url": None})],
     "items[0].content[0].image_url"),
    ([message_with({"type": "input_file", "file_url": "javascript:alert(1)"})],
     "items[0].content[0].file_url"),
    ([message_with({"type": "input_file", "file_id": 7})], "items[0].content[0].file_id"),
    ([message_with({"type": "input_file", "filename": "a.pdf"})],
     "items[0].content[0].file_id"),
    ([message_with({"type": "input_file", "file_id": "file_1", "detail": "original"})],
     "items[0].content[0].detail"),
    ([message_with({"type": "input_text", "text": 5})], "items[0].content[0].text"),
    ([message_with({"type": "input_text", "text": "x",
                    "prompt_cache_breakpoint": {"mode": "sometimes"}})],
     "items[0].content[0].prompt_cache_breakpoint.mode"),
    ([message_with({"type": "output_text", "text": "x", "annotations": [
        {"type": "url_citation", "url": "javascript:alert(1)", "title": "t",
         "start_index": 0, "end_index": 1}]}, role="assistant")],
     "items[0].content[0].annotations[0].url"),
    ([message_with({"type": "output_text", "text": "x", "annotations": [{"type": "footnote"}]},
                   role="assistant")], "items[0].content[0].annotations[0].type"),
    ([message_with({"type": "output_text", "text": "x", "logprobs": [
        {"token": "x", "logprob": "high", "bytes": [120], "top_logprobs": []}]},
        role="assistant")], "items[0].content[0].logprobs[0].logprob"),
    ([message_with({"type": "output_text", "text": "x", "annotations": ""}, role="assistant")],
     "items[0].content[0].annotations"),
    ([message_with({"type": "refusal", "refusal": ["no"]}, role="assistant")],
     "items[0].content[0].refusal"),
    ([{**FUNCTION_CALL, "arguments": {"city": "Oslo"}}], "items[0].arguments"),
    ([{**FUNCTION_CALL, "call_id": 5}], "items[0].call_id"),
    ([{**FUNCTION_CALL, "name": None}], "items[0].name"),
    ([{**FUNCTION_CALL, "status": "searching"}], "items[0].status"),
    ([{**FUNCTION_CALL, "colour": "blue"}], "items[0].colour"),
    ([{**FUNCTION_OUTPUT, "output": 4}], "items[0].output"),
    ([{**FUNCTION_OUTPUT, "output": [{"type": "input_image", "image_url": "file:///etc"}]}],
     "items[0].output[0].image_url"),
    ([{**FUNCTION_OUTPUT, "output": [{"type": "output_text", "text": "x"}]}],
     "items[0].output[0].type"),
    ([{"type": "file_search_call", "queries": ["a", 1]}], "items[0].queries[1]"),
    ([{"type": "web_search_call", "action": "search"}], "items[0].action"),
    ([{"type": "reasoning", "summary": [{"type": "summary_text", "text": 5}]}],
     "items[0].summary[0].text"),
    ([{"type": "reasoning", "summary": [], "status": "done"}], "items[0].status"),
    ([{"type": "mcp_approval_response", "approval_request_id": "r", "request_id": "r",
       "approve": "yes"}], "items[0].approve"),
    ([{"type": "shell_call_output", "call_id": "c", "output": [], "max_output_length": 1.5}],
     "items[0].max_output_length"),
    ([{"type": "custom_tool_call", "call_id": "c", "name": "n", "input": "i",
       "status": "completed"}], "items[0].status"),
]


def bad_item_id(case):
    items, param = case
    return param + ":" + orjson.dumps(items[0]).decode()[:60]


class TestItemRules:
    """Items are held to the rules of Threads parts and to the types of OpenAI's schemas."""

    @pytest.mark.parametrize("door", ["create", "items"])
    @pytest.mark.parametrize("case", BAD_ITEMS, ids=[bad_item_id(c) for c in BAD_ITEMS])
    def test_bad_item_stores_nothing(self, api, door, case):
        items, param = case
        conversation = make_conversation(api)
        before = counts()
        if door == "create":
            response = post(api, url("conversation-list"), {"items": items})
        else:
            response = post(api, url("item-list", conversation_id=conversation["id"]),
                            {"items": items})
        assert_error(response, 400, param)
        assert counts() == before

    @pytest.mark.parametrize("door", ["create", "items"])
    @pytest.mark.parametrize("role", ["user", "assistant", "system"])
    def test_string_content_is_held_to_the_text_limit(self, api, settings, door, role):
        with_limits(settings, MAX_TEXT_LENGTH=10)
        conversation = make_conversation(api)
        before = counts()

        def create(text):
            items = [{"role": role, "content": text}]
            if door == "create":
                return post(api, url("conversation-list"), {"items": items})
            return post(api, url("item-list", conversation_id=conversation["id"]),
                        {"items": items})

        error = assert_error(create("x" * 11), 400, "items[0].content")
        assert error["code"] == "string_above_max_length"
        assert counts() == before
        assert create("x" * 10).status_code == 200

    def test_good_parts_are_kept_and_fit_both_schemas(self, api):
        annotation = {"type": "url_citation", "url": "https://example.com/oslo",
                      "title": "Oslo", "start_index": 0, "end_index": 4}
        logprob = {"token": "Oslo", "logprob": -0.5, "bytes": [79, 115, 108, 111],
                   "top_logprobs": [{"token": "Oslo", "logprob": -0.5, "bytes": [79]}]}
        conversation = make_conversation(api, items=[
            message_with(
                {"type": "input_text", "text": "Compare", "prompt_cache_breakpoint": None},
                {"type": "input_image", "image_url": IMAGE, "detail": None},
                {"detail": "low", "file_id": "file_9", "type": "input_image"},
                {"type": "input_image", "file_id": "file_10", "image_url": None},
                {"type": "input_file", "file_url": "https://example.com/a.pdf",
                 "filename": "a.pdf", "detail": "high", "file_id": None},
                {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERg==",
                 "filename": "b.pdf"},
            ),
            message_with({"type": "output_text", "text": "Oslo is colder.",
                          "annotations": [annotation], "logprobs": [logprob]},
                         {"type": "refusal", "refusal": "No more."}, role="assistant"),
        ])
        items = api.get(url("item-list", conversation_id=conversation["id"]),
                        {"order": "asc"}).json()
        assert_schema(items, "ConversationItemList")
        user, assistant = items["data"]
        assert user["content"] == [
            {"type": "input_text", "text": "Compare"},
            {"type": "input_image", "image_url": IMAGE, "detail": "auto"},
            {"type": "input_image", "file_id": "file_9", "detail": "low"},
            {"type": "input_image", "file_id": "file_10", "detail": "auto"},
            {"type": "input_file", "file_url": "https://example.com/a.pdf",
             "filename": "a.pdf", "detail": "high"},
            {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERg==",
             "filename": "b.pdf"},
        ]
        assert assistant["content"][0]["annotations"] == [annotation]
        assert assistant["content"][0]["logprobs"] == [logprob]
        messages = api.get(url("message-list", thread_id=thread_of(conversation["id"])),
                           {"order": "asc"}).json()
        assert_schema(messages, "ListMessagesResponse")
        assert [part["type"] for part in messages["data"][0]["content"]] == [
            "text", "image_url", "image_file", "image_file"]
        assert messages["data"][0]["content"][2]["image_file"] == {"file_id": "file_9",
                                                                  "detail": "low"}

    def test_every_item_has_a_size_limit(self, api, settings):
        conversation = make_conversation(api)
        path = url("item-list", conversation_id=conversation["id"])
        call = {**FUNCTION_CALL, "arguments": "x" * 1000}
        size = stored_size({**call, "status": "completed"}, len("fc_") + 24)
        message = {"type": "message", "role": "user", "content": "y" * 1000}
        message_size = stored_size(
            {"type": "message", "status": "completed", "role": "user",
             "content": [{"type": "input_text", "text": "y" * 1000}]}, len("msg_") + 24)
        given_id = {**call, "id": "fc_" + "a" * 40}
        for item, limit in ((call, size), (message, message_size),
                            (given_id, stored_size({**call, "status": "completed"}, 43))):
            with_limits(settings, MAX_ITEM_SIZE=limit - 1)
            before = counts()
            error = assert_error(post(api, path, {"items": [FUNCTION_OUTPUT, item]}), 400,
                                 "items[1]")
            assert error["code"] == "item_too_large" and str(limit) in error["message"]
            assert_error(post(api, url("conversation-list"), {"items": [item]}), 400, "items[0]")
            assert counts() == before
            with_limits(settings, MAX_ITEM_SIZE=limit)
            created = add_items(api, conversation["id"], [item])["data"][0]
            assert len(orjson.dumps(created)) == limit

    def test_nesting_too_deep_to_store_is_refused(self, api):
        conversation = make_conversation(api)
        deep = []
        for _ in range(300):
            deep = [deep]
        response = post(api, url("item-list", conversation_id=conversation["id"]),
                        {"items": [{"type": "web_search_call", "action": {"deep": deep}}]})
        assert response.status_code == 400
        assert counts() == (1, 0)


class TestPageWeight:
    """A page of items weighs at most MAX_PAGE_BYTES, however large its items and `limit`."""

    def make_items(self, api, count, arguments_length=1000):
        conversation = make_conversation(api)
        made = []
        for start in range(0, count, 20):
            batch = [{**FUNCTION_CALL, "call_id": f"call_{n}", "arguments": "x" * arguments_length}
                     for n in range(start, min(count, start + 20))]
            made += add_items(api, conversation["id"], batch)["data"]
        return conversation["id"], made

    @pytest.mark.parametrize("order", ["asc", "desc"])
    def test_pages_end_at_the_byte_budget(self, api, settings, order):
        cid, made = self.make_items(api, 25)
        ids = [item["id"] for item in made]
        ids = ids if order == "asc" else ids[::-1]
        size = len(orjson.dumps(made[0]))
        with_limits(settings, MAX_PAGE_BYTES=size * 7 + size // 2)
        seen, after, pages = [], None, []
        while True:
            query = {"order": order, "limit": 100, **({"after": after} if after else {})}
            page = api.get(url("item-list", conversation_id=cid), query).json()
            assert_schema(page, "ConversationItemList")
            assert sum(len(orjson.dumps(item)) for item in page["data"]) <= size * 7.5
            pages.append((len(page["data"]), page["has_more"]))
            seen += [item["id"] for item in page["data"]]
            if not page["has_more"]:
                break
            assert page["last_id"] == page["data"][-1]["id"]
            after = page["last_id"]
        assert pages == [(7, True), (7, True), (7, True), (4, False)]
        assert seen == ids

    def test_the_rows_read_are_the_rows_answered(self, api, settings):
        cid, made = self.make_items(api, 10)
        size = len(orjson.dumps(made[0]))
        with_limits(settings, MAX_PAGE_BYTES=size * 3)
        with CaptureQueriesContext(connection) as queries:
            page = api.get(url("item-list", conversation_id=cid), {"limit": 100}).json()
        assert len(page["data"]) == 3 and page["has_more"] is True
        # The query that reads the items' JSON (not only its length) reads the page's only.
        reading_items = [q["sql"] for q in queries.captured_queries
                         if re.search(r'(?<!\()"threads_app_message"\."item"',
                                      q["sql"].split(" FROM ")[0])]
        assert len(reading_items) == 1, reading_items
        assert re.search(r'"seq" IN \(\S+, \S+, \S+\)', reading_items[0])

    def test_an_item_larger_than_the_budget_has_a_page_of_its_own(self, api, settings):
        cid, made = self.make_items(api, 3)
        with_limits(settings, MAX_PAGE_BYTES=10)
        page = api.get(url("item-list", conversation_id=cid), {"order": "asc"}).json()
        assert [item["id"] for item in page["data"]] == [made[0]["id"]]
        assert page["has_more"] is True

    def test_threads_messages_are_weighed_too(self, api, settings):
        thread = make_thread(api, messages=[{"role": "user", "content": "z" * 500}] * 4)
        with_limits(settings, MAX_PAGE_BYTES=1200)
        page = api.get(url("item-list", conversation_id=conv_id(thread["id"]))).json()
        assert len(page["data"]) == 2 and page["has_more"] is True


def nul_doors(ids):
    """Every path and query that names an ID or a cursor, each with a NUL in it."""
    thread_id, message_id, cid, item_id = ids
    return [
        ("get", url("item-detail", conversation_id=cid, item_id="msg_\x00"), "item_id"),
        ("delete", url("item-detail", conversation_id=cid, item_id="msg_\x00"), "item_id"),
        ("get", url("item-detail", conversation_id=cid, item_id="\x00"), "item_id"),
        ("get", url("item-list", conversation_id=cid) + "?after=%00", "after"),
        ("get", url("item-list", conversation_id=cid) + "?after=fc_%00", "after"),
        ("get", url("item-list", conversation_id=cid) + "?after=" + item_id + "%00", "after"),
        ("get", url("conversation-detail", conversation_id="conv_\x00"), "conversation_id"),
        ("post", url("conversation-detail", conversation_id="conv_\x00"), "conversation_id"),
        ("delete", url("conversation-detail", conversation_id="conv_\x00"), "conversation_id"),
        ("get", url("item-list", conversation_id="conv_\x00"), "conversation_id"),
        ("post", url("item-list", conversation_id="conv_\x00"), "conversation_id"),
        ("get", url("item-detail", conversation_id="conv_\x00", item_id=item_id),
         "conversation_id"),
        ("delete", url("item-detail", conversation_id="conv_\x00", item_id="msg_\x00"),
         "conversation_id"),
        ("post", url("item-list", conversation_id=cid), "items[0].id"),
        ("get", url("thread-detail", thread_id="thread_\x00"), "thread_id"),
        ("post", url("thread-detail", thread_id="thread_\x00"), "thread_id"),
        ("delete", url("thread-detail", thread_id="thread_\x00"), "thread_id"),
        ("get", url("thread-list") + "?after=%00", "after"),
        ("get", url("thread-list") + "?after=thread_%00", "after"),
        ("get", url("thread-list") + "?before=thread_%00", "before"),
        ("get", url("message-list", thread_id="thread_\x00"), "thread_id"),
        ("post", url("message-list", thread_id="thread_\x00"), "thread_id"),
        ("get", url("message-list", thread_id=thread_id) + "?after=msg_%00", "after"),
        ("get", url("message-list", thread_id=thread_id) + "?before=msg_%00", "before"),
        ("get", url("message-list", thread_id=thread_id) + "?run_id=%00", "run_id"),
        ("get", url("message-detail", thread_id=thread_id, message_id="msg_\x00"),
         "message_id"),
        ("post", url("message-detail", thread_id=thread_id, message_id="msg_\x00"),
         "message_id"),
        ("delete", url("message-detail", thread_id=thread_id, message_id="msg_\x00"),
         "message_id"),
        ("get", url("message-detail", thread_id="thread_\x00", message_id=message_id),
         "thread_id"),
    ]


DOORS = nul_doors(["thread_a", "msg_a", "conv_a", "fc_a"])


@pytest.mark.parametrize("door", range(len(DOORS)),
                         ids=[f"{m} {p.replace(chr(0), '%00')}" for m, p, _ in DOORS])
def test_a_nul_in_any_id_or_cursor_is_a_400(api, door):
    """On PostgreSQL a NUL reaching a query is a 500: every door checks its IDs first."""
    thread = make_thread(api, messages=[{"role": "user", "content": "hi"}])
    message_id = Message.objects.get().public_id
    cid = conv_id(thread["id"])
    item_id = add_items(api, cid, [FUNCTION_CALL])["data"][0]["id"]
    method, path, param = nul_doors([thread["id"], message_id, cid, item_id])[door]
    before = counts()
    body = {"items": [{**FUNCTION_CALL, "id": "fc_\x00"}]} if param == "items[0].id" else {}
    if method == "post":
        response = post(api, path, body or {"metadata": {}})
    else:
        response = getattr(api, method)(path)
    error = assert_error(response, 400, param)
    assert "null characters" in error["message"].lower() or "begins with" in error["message"]
    assert counts() == before


@pytest.mark.django_db(transaction=True)
class TestSDK:
    def test_every_endpoint(self, sdk):
        conversation = sdk.conversations.create(
            items=[{"type": "message", "role": "user", "content": "Hello"}],
            metadata={"source": "sdk"},
        )
        assert conversation.id.startswith("conv_")
        assert sdk.conversations.retrieve(conversation.id).metadata == {"source": "sdk"}
        updated = sdk.conversations.update(conversation.id, metadata={"x": "y"})
        assert updated.metadata == {"source": "sdk", "x": "y"}  # merged
        created = sdk.conversations.items.create(
            conversation.id, items=[FUNCTION_CALL, FUNCTION_OUTPUT],
            include=["message.output_text.logprobs"],
        )
        assert [i.type for i in created.data] == ["function_call", "function_call_output"]
        item = sdk.conversations.items.retrieve(created.data[0].id,
                                                conversation_id=conversation.id)
        assert item.call_id == "call_1"
        after_delete = sdk.conversations.items.delete(created.data[1].id,
                                                      conversation_id=conversation.id)
        assert after_delete.id == conversation.id
        kinds = [i.type for i in sdk.conversations.items.list(conversation.id, order="asc")]
        assert kinds == ["message", "function_call"]
        assert sdk.conversations.delete(conversation.id).deleted is True
        with pytest.raises(openai.NotFoundError):
            sdk.conversations.retrieve(conversation.id)
        with pytest.raises(openai.BadRequestError):
            sdk.conversations.items.create(conversation.id, items=[{"type": "nope"}])

    def test_one_history_both_ways(self, sdk):
        conversation = sdk.conversations.create(items=[{"role": "user", "content": "from conv"}])
        thread_id = "thread_" + conversation.id.removeprefix("conv_")
        sdk.beta.threads.messages.create(thread_id, role="assistant", content="from threads")
        through_threads = sdk.beta.threads.messages.list(thread_id, order="asc")
        assert [m.content[0].text.value for m in through_threads] == ["from conv", "from threads"]

        thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "legacy"}])
        items = sdk.conversations.items.list("conv_" + thread.id.removeprefix("thread_"))
        assert [i.content[0].text for i in items] == ["legacy"]

    def test_interleaved_history_through_both_paginators(self, sdk):
        conversation = sdk.conversations.create(items=[
            {"role": "user", "content": "weather?"}, FUNCTION_CALL, FUNCTION_OUTPUT,
            {"role": "assistant", "content": "4 degrees"},
        ])
        thread_id = "thread_" + conversation.id.removeprefix("conv_")
        pages = list(sdk.beta.threads.messages.list(thread_id, limit=1, order="asc").iter_pages())
        assert [(len(p.data), p.has_more) for p in pages] == [(1, True), (1, False)]
        assert len(list(sdk.conversations.items.list(conversation.id, limit=1))) == 4

    @pytest.mark.parametrize("count", [14, 15, 16])
    def test_auto_pagination(self, sdk, count):
        conversation = sdk.conversations.create()
        written = []
        for start in range(0, count, 20):
            stop = min(count, start + 20)
            batch = [{"role": "user", "content": f"i{n}"} for n in range(start, stop)]
            written += [i.id for i in sdk.conversations.items.create(conversation.id,
                                                                    items=batch).data]
        for order, expected in (("asc", written), ("desc", written[::-1])):
            seen = [i.id for i in sdk.conversations.items.list(conversation.id, limit=5,
                                                                order=order)]
            assert seen == expected

    def test_item_ids_tell_nothing_of_other_owners(self, sdk, other_sdk):
        """Bob giving the ID of Alice's message, or of her deleted item, is answered as
        for an ID nobody used: IDs are unique within a conversation, not across owners."""
        alice = sdk.conversations.create(items=[{"role": "user", "content": "Alice's secret"}])
        alices_message = next(iter(sdk.conversations.items.list(alice.id))).id
        sdk.conversations.items.create(alice.id, items=[{**FUNCTION_CALL, "id": "fc_alicegone"}])
        sdk.conversations.items.delete("fc_alicegone", conversation_id=alice.id)
        bob = other_sdk.conversations.create()

        def bobs_item(item_id, text):
            kind = {"msg": "message", "fc": "function_call"}[item_id.split("_")[0]]
            if kind == "message":
                return {"type": kind, "id": item_id, "role": "user", "content": text}
            return {**FUNCTION_CALL, "id": item_id, "arguments": text}

        unused = ("msg_nobodyhasthisone", "fc_nobodyhasthisone")
        for item_id in (alices_message, "fc_alicegone", *unused):
            created = other_sdk.conversations.items.create(bob.id, items=[bobs_item(item_id, "b")])
            assert created.data[0].id == item_id
            got = other_sdk.conversations.items.retrieve(item_id, conversation_id=bob.id)
            assert got.model_dump(exclude_none=True) == created.data[0].model_dump(
                exclude_none=True)
        # Taken in Bob's own conversation: refused alike, whoever else holds the ID.
        refusals = []
        for item_id in (alices_message, unused[0]):
            with pytest.raises(openai.BadRequestError) as refused:
                other_sdk.conversations.items.create(bob.id, items=[bobs_item(item_id, "c")])
            refusals.append({**refused.value.body,
                             "message": refused.value.body["message"].replace(item_id, "ID")})
        assert refusals[0] == refusals[1]
        assert refusals[0]["param"] == "items[0].id" and refusals[0]["code"] == "id_in_use"
        # A new conversation of Bob's may hold it too; Alice's history is as it was.
        again = other_sdk.conversations.create(items=[bobs_item(alices_message, "d")])
        assert next(iter(other_sdk.conversations.items.list(again.id))).id == alices_message
        other_sdk.conversations.items.delete(alices_message, conversation_id=bob.id)
        assert [i.id for i in other_sdk.conversations.items.list(bob.id, order="asc")] == [
            "fc_alicegone", *unused]
        mine = list(sdk.conversations.items.list(alice.id))
        assert [(i.id, i.content[0].text) for i in mine] == [(alices_message, "Alice's secret")]
        message = sdk.beta.threads.messages.retrieve(
            alices_message, thread_id=thread_of(alice.id))
        assert message.content[0].text.value == "Alice's secret"
        # The deleted ID still marks its place for Alice's cursors, and stays unusable there.
        with pytest.raises(openai.BadRequestError):
            sdk.conversations.items.create(alice.id, items=[bobs_item("fc_alicegone", "e")])
        assert list(sdk.conversations.items.list(alice.id, after="fc_alicegone", order="asc")) == []
        older = sdk.conversations.items.list(alice.id, after="fc_alicegone", order="desc")
        assert [i.id for i in older] == [alices_message]

    @pytest.mark.parametrize("part,param", [
        ({"type": "input_image", "image_url": "https://example.com/a.png", "detail": "original"},
         "items[0].content[0].detail"),
        ({"type": "input_image", "file_id": 12345}, "items[0].content[0].file_id"),
        ({"type": "input_file", "file_url": "javascript:alert(1)"},
         "items[0].content[0].file_url"),
    ])
    def test_bad_parts_are_refused(self, sdk, part, param):
        conversation = sdk.conversations.create()
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.conversations.items.create(
                conversation.id, items=[{"type": "message", "role": "user", "content": [part]}]
            )
        assert refused.value.body["param"] == param
        with pytest.raises(openai.BadRequestError):
            sdk.conversations.create(items=[{"role": "user", "content": [part]}])
        with pytest.raises(openai.BadRequestError):
            sdk.conversations.items.create(
                conversation.id, items=[{**FUNCTION_CALL, "arguments": {"city": 1}}])
        assert list(sdk.conversations.items.list(conversation.id)) == []
        assert counts() == (1, 0)

    def test_size_limits_through_the_sdk(self, sdk, settings):
        with_limits(settings, MAX_ITEM_SIZE=2000, MAX_TEXT_LENGTH=100)
        conversation = sdk.conversations.create()
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.conversations.items.create(conversation.id,
                                           items=[{**FUNCTION_OUTPUT, "output": "x" * 2000}])
        assert refused.value.body["code"] == "item_too_large"
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.conversations.create(items=[{"role": "user", "content": "x" * 101}])
        assert refused.value.body["code"] == "string_above_max_length"
        assert counts() == (1, 0)

    def test_auto_pagination_through_pages_cut_by_bytes(self, sdk, settings):
        conversation = sdk.conversations.create()
        written = []
        for start in range(0, 30, 10):
            batch = [{**FUNCTION_OUTPUT, "call_id": f"call_{n}", "output": "x" * 900}
                     for n in range(start, start + 10)]
            written += [i.id for i in sdk.conversations.items.create(conversation.id,
                                                                    items=batch).data]
        with_limits(settings, MAX_PAGE_BYTES=4500)  # four items of about 1,000 bytes
        page = sdk.conversations.items.list(conversation.id, limit=100, order="asc")
        assert len(page.data) == 4 and page.has_more is True
        assert [i.id for i in page] == written


def test_every_field_type_is_one_the_rules_read():
    """A typo in items.py's tables would pass unnoticed until a client sent that field."""
    from threads_app import items, validation

    specs = [spec for item in items.ITEM_TYPES.values() for spec in item.fields.values()]
    specs += [spec for shape in items.SHAPES.values() for spec in shape.fields.values()]
    for spec in specs:
        if isinstance(spec, str):
            for alternative in validation.alternatives(spec).values():
                name = alternative.removesuffix("[]")
                assert (name in validation.KIND_NAMES or name in items.SHAPES
                        or name in items.TAGGED or name in ("url", validation.TOOL_OUTPUT_PART))
    for item in items.ITEM_TYPES.values():
        assert set(item.required) <= set(item.fields)
    for names in items.TAGGED.values():
        assert all(items.SHAPES[name].fields["type"] == (name,) for name in names)
