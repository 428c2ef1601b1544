"""Request bodies: how deep they may nest, and bodies sent without a Content-Length.

Whatever is accepted must be readable afterwards: orjson writes at most 254
levels of nesting, so a body nested deeper than ``MAX_JSON_DEPTH`` is refused
when it is parsed, before anything (the idempotency fingerprint included)
uses it. A chunked body is read whole where the server can say where it ends
(gunicorn), and refused with 411 where it cannot, never taken as empty.
"""

import json
import uuid
from typing import Any

import openai
import pytest
from django.db import connection

from threads_app.models import IdempotencyRecord, Message, Thread
from threads_app.validation import MAX_JSON_DEPTH, ValidationError, check_json_depth

from .conftest import url
from .server import chunked, exchange, gunicorn, server_environment
from .test_api import assert_error

# Levels above the value of an item's `tools[0].input_schema` in an items create body:
# the body, `items`, the item, `tools`, the tool.
ABOVE_INPUT_SCHEMA = 5


def nested(levels: int) -> Any:
    """A value of ``levels`` nested objects (the outermost counts), built without recursion."""
    value: Any = "leaf"
    for _ in range(levels):
        value = {"a": value}
    return value


def depth(value: Any) -> int:
    """The nesting depth of ``value``, as the limit counts it."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, level = pending.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            children = node.values() if isinstance(node, dict) else node
            pending += [(child, level + 1) for child in children]
    return deepest


def tools_item(schema_levels: int) -> dict[str, Any]:
    """An item whose tool's input schema (free JSON) nests ``schema_levels`` deep."""
    return {
        "type": "mcp_list_tools",
        "server_label": "deep",
        "tools": [{"name": "t", "input_schema": nested(schema_levels)}],
    }


def post(client, path: str, body: Any, **extra: str):
    return client.post(path, json.dumps(body), content_type="application/json", **extra)


def assert_too_deep(response) -> None:
    error = assert_error(response, 400)
    assert error["code"] == "nesting_too_deep"
    assert str(MAX_JSON_DEPTH) in error["message"]


def counts() -> tuple[int, int, int]:
    return Thread.objects.count(), Message.objects.count(), IdempotencyRecord.objects.count()


@pytest.mark.django_db
class TestNesting:
    def test_the_limit_stays_well_below_what_orjson_can_write(self):
        # The deepest accepted value is answered a few levels further down.
        assert MAX_JSON_DEPTH + 10 < 254

    @pytest.mark.parametrize("levels", [MAX_JSON_DEPTH - ABOVE_INPUT_SCHEMA + 1, 252])
    def test_deep_item_is_refused_and_the_conversation_stays_readable(self, api, levels):
        conversation = post(api, url("conversation-list"), {}).json()
        items = url("item-list", conversation_id=conversation["id"])
        before = counts()
        assert_too_deep(post(api, items, {"items": [tools_item(levels)]}))
        assert counts() == before
        listed = api.get(items)
        assert listed.status_code == 200 and listed.json()["data"] == []

    def test_item_at_the_limit_is_stored_and_listed(self, api):
        conversation = post(api, url("conversation-list"), {}).json()
        items = url("item-list", conversation_id=conversation["id"])
        item = tools_item(MAX_JSON_DEPTH - ABOVE_INPUT_SCHEMA)
        body = {"items": [item]}
        assert depth(body) == MAX_JSON_DEPTH
        created = post(api, items, body)
        assert created.status_code == 200, created.content
        listed = api.get(items)
        assert listed.status_code == 200, listed.content
        assert listed.json()["data"][0]["tools"] == item["tools"]

    @pytest.mark.parametrize("levels", [MAX_JSON_DEPTH, 300])
    def test_deep_body_with_an_idempotency_key_is_refused_not_a_500(self, api, levels):
        # 300: past what orjson can write, where the key's fingerprint used to fail.
        before = counts()
        response = post(api, url("thread-list"), {"metadata": {"k": nested(levels)}},
                        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
        assert_too_deep(response)
        assert counts() == before

    def test_deep_metadata_and_content_on_threads(self, api):
        thread = post(api, url("thread-list"), {}).json()
        before = counts()
        deep = nested(MAX_JSON_DEPTH)
        for path, body in [
            (url("thread-list"), {"metadata": {"k": deep}}),
            (url("thread-list"), {"messages": [{"role": "user", "content": [deep]}]}),
            (url("thread-detail", thread_id=thread["id"]), {"metadata": {"k": deep}}),
            (url("message-list", thread_id=thread["id"]), {"role": "user", "content": [deep]}),
            (url("conversation-list"), {"metadata": deep}),
        ]:
            assert_too_deep(post(api, path, body))
        assert counts() == before

    def test_a_hundred_thousand_levels_answer_400(self, api):
        before = counts()
        for opening, closing in [(b"[", b"]"), (b'{"a":', b"}")]:
            body = opening * 100_000 + b"1" + closing * 100_000
            response = api.post(url("thread-list"), body, content_type="application/json",
                                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
            assert_error(response, 400)
        assert counts() == before

    def test_the_check_walks_any_depth_without_recursion(self):
        with pytest.raises(ValidationError) as refused:
            check_json_depth([nested(100_000)], "items")
        assert refused.value.param == "items"
        assert check_json_depth(nested(MAX_JSON_DEPTH)) == nested(MAX_JSON_DEPTH)
        assert check_json_depth("flat") == "flat"


@pytest.mark.django_db(transaction=True)
class TestNestingThroughTheSDK:
    def test_deep_item_refused_and_the_limit_listed(self, sdk):
        conversation = sdk.conversations.create()
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.conversations.items.create(conversation.id, items=[tools_item(252)])
        assert refused.value.code == "nesting_too_deep"
        assert refused.value.request_id.startswith("req_")
        sdk.conversations.items.create(
            conversation.id, items=[tools_item(MAX_JSON_DEPTH - ABOVE_INPUT_SCHEMA)]
        )
        listed = sdk.conversations.items.list(conversation.id)
        assert [item.type for item in listed] == ["mcp_list_tools"]

    def test_deep_keyed_thread_create_refused(self, sdk):
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.beta.threads.create(
                metadata={"k": nested(300)},
                extra_headers={"Idempotency-Key": str(uuid.uuid4())},
            )
        assert refused.value.code == "nesting_too_deep"
        assert counts() == (0, 0, 0)


# Chunked bodies --------------------------------------------------------------


@pytest.fixture(scope="module")
def gunicorn_address(django_db_setup):
    """gunicorn as configured for production, serving the test site on the test database."""
    env = server_environment(
        DJANGO_SETTINGS_MODULE="tests.server_settings",
        THREADS_APP_TEST_DATABASE=str(connection.settings_dict["NAME"]),
    )
    with gunicorn(env) as address:
        yield address


def chunked_post(address: tuple[str, int], path: str, secret: str, body: bytes, size: int):
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {secret}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return exchange(address, head, chunked(body, size))


def assert_envelope(answer, status: int) -> dict[str, Any]:
    assert answer.status == status, answer.raw[:1000]
    assert answer.headers["x-request-id"].startswith("req_")
    error = json.loads(answer.body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.django_db(transaction=True)
class TestChunkedBodies:
    def test_create_with_messages_stores_them(self, gunicorn_address, secret):
        body = json.dumps({
            "messages": [{"role": "user", "content": "one"},
                         {"role": "assistant", "content": "two"}],
            "metadata": {"sent": "chunked"},
        }).encode()
        answer = chunked_post(gunicorn_address, url("thread-list"), secret, body, size=7)
        assert answer.status == 200, answer.raw[:1000]
        thread = Thread.objects.get(public_id=json.loads(answer.body)["id"])
        assert thread.metadata == {"sent": "chunked"}
        texts = [m.content[0]["text"]["value"] for m in thread.messages.order_by("seq")]
        assert texts == ["one", "two"]

    def test_invalid_json_is_refused(self, gunicorn_address, secret):
        answer = chunked_post(gunicorn_address, url("thread-list"), secret, b'{"messages": [',
                              size=4)
        assert_envelope(answer, 400)
        assert Thread.objects.count() == 0

    def test_larger_than_the_limit_is_refused_and_stores_nothing(self, gunicorn_address, secret):
        body = json.dumps({"metadata": {"k": "x" * (9 * 1024 * 1024)}}).encode()
        answer = chunked_post(gunicorn_address, url("thread-list"), secret, body, size=65536)
        error = assert_envelope(answer, 413)
        assert error["code"] == "request_too_large"
        assert Thread.objects.count() == 0

    def test_deep_chunked_body_is_refused(self, gunicorn_address, secret):
        body = json.dumps({"metadata": {"k": nested(300)}}).encode()
        answer = chunked_post(gunicorn_address, url("thread-list"), secret, body, size=100)
        assert assert_envelope(answer, 400)["code"] == "nesting_too_deep"
        assert Thread.objects.count() == 0

    def test_a_server_that_cannot_end_the_body_gets_411(self, live_server, secret):
        # Django's own server (runserver, live_server) leaves a chunked body undecoded.
        address = (live_server.thread.host, live_server.thread.port)
        body = json.dumps({"messages": [{"role": "user", "content": "lost?"}]}).encode()
        answer = chunked_post(address, url("thread-list"), secret, body, size=16)
        error = assert_envelope(answer, 411)
        assert error["code"] == "length_required"
        assert Thread.objects.count() == 0
