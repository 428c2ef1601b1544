"""The Conversations API on the Threads store: both views of one history."""

import json

import openai
import pytest

from threads_app.models import Message, Thread

from .conftest import url
from .oracle import assert_schema
from .test_api import assert_error, counts, make_message, make_thread

pytestmark = pytest.mark.django_db

FUNCTION_CALL = {"type": "function_call", "call_id": "call_1", "name": "get_weather",
                 "arguments": "{\"city\": \"Oslo\"}"}
FUNCTION_OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "{\"c\": 4}"}


def conv_id(thread_id):
    return "conv_" + thread_id.removeprefix("thread_")


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

        conversation = make_conversation(api)
        items = []
        for kind, spec in ITEM_TYPES.items():
            item = {"type": kind, **{name: f"{name}-value" for name in spec.required}}
            items.append(item)
        created = []
        for start in range(0, len(items), 20):
            created += add_items(api, conversation["id"], items[start:start + 20])["data"]
        for given, got in zip(items, created, strict=True):
            assert got["type"] == given["type"]
            assert {k: got[k] for k in given} == given
            assert got["id"].startswith(f"{ITEM_TYPES[given['type']].prefix}_")
            if ITEM_TYPES[given["type"]].has_status:
                assert got["status"] == "completed"
            retrieved = api.get(url("item-detail", conversation_id=conversation["id"],
                                    item_id=got["id"])).json()
            assert retrieved == got

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
