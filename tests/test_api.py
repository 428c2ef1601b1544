"""The endpoints at the HTTP level: shapes, rules, errors, isolation."""

import json
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from threads_app.authentication import APIKeyAuthentication, RememberedKeys
from threads_app.models import APIKey, Message, Thread, Tombstone
from threads_app.views import ThreadViewSet

from .conftest import url
from .oracle import assert_schema, assert_thread_list

pytestmark = pytest.mark.django_db


def post(client, path, body=None, **extra):
    return client.post(path, json.dumps({} if body is None else body),
                       content_type="application/json", **extra)


def assert_error(response, status, param=None, contains=""):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert contains in error["message"]
    assert error["param"] == param
    assert response["x-request-id"].startswith("req_")
    return error


def counts():
    return Thread.objects.count(), Message.objects.count()


def make_thread(api, **body):
    response = post(api, url("thread-list"), body)
    assert response.status_code == 200, response.content
    return response.json()


def make_message(api, thread_id, content="hello", role="user", **body):
    response = post(
        api, url("message-list", thread_id=thread_id), {"role": role, "content": content, **body}
    )
    assert response.status_code == 200, response.content
    return response.json()


class TestThreads:
    def test_create_empty(self, api):
        thread = make_thread(api)
        assert_schema(thread, "ThreadObject")
        assert thread["object"] == "thread"
        assert thread["id"].startswith("thread_") and len(thread["id"]) == len("thread_") + 24
        assert thread["metadata"] == {} and thread["tool_resources"] == {}
        assert isinstance(thread["created_at"], int)

    def test_create_with_messages_stores_them_in_order(self, api):
        thread = make_thread(
            api,
            messages=[
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": [{"type": "text", "text": "two"}]},
                {"role": "user", "content": "three", "metadata": {"k": "v"}},
            ],
            metadata={"topic": "x"},
            tool_resources={
                "code_interpreter": {"file_ids": ["file_1"]},
                "file_search": {"vector_store_ids": ["vs_1"]},
            },
        )
        assert thread["metadata"] == {"topic": "x"}
        assert thread["tool_resources"] == {
            "code_interpreter": {"file_ids": ["file_1"]},
            "file_search": {"vector_store_ids": ["vs_1"]},
        }
        listed = api.get(url("message-list", thread_id=thread["id"]), {"order": "asc"}).json()
        assert [m["content"][0]["text"]["value"] for m in listed["data"]] == [
            "one", "two", "three"
        ]
        assert [m["role"] for m in listed["data"]] == ["user", "assistant", "user"]
        assert listed["data"][2]["metadata"] == {"k": "v"}

    def test_retrieve_update_delete(self, api):
        thread = make_thread(api, metadata={"a": "1"})
        detail = url("thread-detail", thread_id=thread["id"])
        assert api.get(detail).json() == thread

        # An omitted field is left alone; the SDK sends {} for a bare update.
        assert post(api, detail, {}).json() == thread
        updated = post(api, detail, {"metadata": {"b": "2"}}).json()
        assert updated["metadata"] == {"a": "1", "b": "2"}  # merged (test_sdk.py has more)
        assert_schema(updated, "ThreadObject")
        cleared = post(api, detail, {"metadata": None, "tool_resources": None}).json()
        assert cleared["metadata"] == {} and cleared["tool_resources"] == {}

        make_message(api, thread["id"])
        deleted = api.delete(detail, content_type="application/json")
        assert deleted.json() == {"id": thread["id"], "object": "thread.deleted", "deleted": True}
        assert_schema(deleted.json(), "DeleteThreadResponse")
        assert counts() == (0, 0)
        assert_error(api.get(detail), 404, contains=f"No thread found with id '{thread['id']}'.")

    def test_metadata_key_order_is_kept(self, api):
        metadata = {"zeta": "1", "alpha": "2", "mid": "3"}
        thread = make_thread(api, metadata=metadata)
        got = api.get(url("thread-detail", thread_id=thread["id"])).content.decode()
        assert got.index('"zeta"') < got.index('"alpha"') < got.index('"mid"')

    def test_list_threads(self, api, other_api):
        mine = [make_thread(api)["id"] for _ in range(3)]
        make_thread(other_api)
        listed = api.get(url("thread-list"), {"limit": 2}).json()
        assert_thread_list(listed)
        assert [t["id"] for t in listed["data"]] == mine[::-1][:2]
        assert listed["has_more"] is True
        rest = api.get(url("thread-list"), {"limit": 2, "after": listed["last_id"]}).json()
        assert [t["id"] for t in rest["data"]] == [mine[0]]
        assert rest["has_more"] is False

    def test_deleted_thread_still_works_as_cursor(self, api):
        ids = [make_thread(api)["id"] for _ in range(4)]
        api.delete(url("thread-detail", thread_id=ids[1]))
        page = api.get(url("thread-list"), {"order": "asc", "after": ids[1]}).json()
        assert [t["id"] for t in page["data"]] == ids[2:]
        assert not Tombstone.objects.filter(container=ids[1]).exists()


class TestMessages:
    def test_create_shapes(self, api):
        thread = make_thread(api)
        message = make_message(
            api,
            thread["id"],
            content=[
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "image_file", "image_file": {"file_id": "file_9", "detail": "low"}},
            ],
            attachments=[{"file_id": "file_1", "tools": [{"type": "file_search"}]}],
            metadata={"k": "v"},
        )
        assert_schema(message, "MessageObject")
        assert set(message) == {
            "id", "object", "created_at", "thread_id", "status", "incomplete_details",
            "completed_at", "incomplete_at", "role", "content", "assistant_id", "run_id",
            "attachments", "metadata",
        }
        assert message["id"].startswith("msg_") and len(message["id"]) == 28
        assert message["object"] == "thread.message"
        assert message["thread_id"] == thread["id"]
        assert message["status"] == "completed"
        assert message["completed_at"] == message["created_at"]
        assert message["incomplete_at"] is None and message["incomplete_details"] is None
        assert message["assistant_id"] is None and message["run_id"] is None
        assert message["content"] == [
            {"type": "text", "text": {"value": "look", "annotations": []}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png",
                                                "detail": "auto"}},
            {"type": "image_file", "image_file": {"file_id": "file_9", "detail": "low"}},
        ]
        assert message["attachments"] == [{"file_id": "file_1", "tools": [{"type": "file_search"}]}]
        detail = url("message-detail", thread_id=thread["id"], message_id=message["id"])
        assert api.get(detail).json() == message

    def test_retrieve_ignores_the_filters_of_a_list(self, api):
        thread = make_thread(api)
        message = make_message(api, thread["id"])
        detail = url("message-detail", thread_id=thread["id"], message_id=message["id"])
        for query in ("", "?run_id=run_other", "?run_id=run_other&limit=1"):
            assert api.get(detail + query).json() == message

    def test_string_and_part_content_are_stored_alike(self, api):
        thread = make_thread(api)
        a = make_message(api, thread["id"], content="Hi")
        b = make_message(api, thread["id"], content=[{"type": "text", "text": "Hi"}])
        assert a["content"] == b["content"] == [
            {"type": "text", "text": {"value": "Hi", "annotations": []}}
        ]

    def test_whitespace_only_text_is_accepted(self, api):
        thread = make_thread(api)
        assert make_message(api, thread["id"], content="  ")["content"][0]["text"]["value"] == "  "

    def test_update_metadata_only(self, api):
        thread = make_thread(api)
        message = make_message(api, thread["id"], metadata={"a": "1"})
        detail = url("message-detail", thread_id=thread["id"], message_id=message["id"])
        assert post(api, detail, {}).json() == message
        updated = post(api, detail, {"metadata": {"b": "2"}}).json()
        assert updated["metadata"] == {"a": "1", "b": "2"}
        assert post(api, detail, {"metadata": None}).json()["metadata"] == {}
        error = assert_error(post(api, detail, {"content": "x"}), 400, "content")
        assert error["message"] == "Unrecognized request argument supplied: content"

    def test_delete(self, api):
        thread = make_thread(api)
        message = make_message(api, thread["id"])
        detail = url("message-detail", thread_id=thread["id"], message_id=message["id"])
        response = api.delete(detail, content_type="application/json")
        assert response.json() == {
            "id": message["id"], "object": "thread.message.deleted", "deleted": True
        }
        assert_schema(response.json(), "DeleteMessageResponse")
        assert_error(api.get(detail), 404, contains=f"No message found with id '{message['id']}'.")
        assert_error(api.delete(detail), 404)

    def test_message_of_another_thread_is_not_found(self, api):
        first, second = make_thread(api), make_thread(api)
        message = make_message(api, first["id"])
        detail = url("message-detail", thread_id=second["id"], message_id=message["id"])
        assert_error(api.get(detail), 404)

    def test_run_id_filter(self, api):
        thread = make_thread(api)
        make_message(api, thread["id"], content="plain")
        run_message = Message.objects.create(
            thread=Thread.objects.get(public_id=thread["id"]),
            role="assistant",
            content=[{"type": "text", "text": {"value": "from run", "annotations": []}}],
            run_id="run_abc",
            assistant_id="asst_1",
        )
        listed = api.get(url("message-list", thread_id=thread["id"]), {"run_id": "run_abc"}).json()
        assert [m["id"] for m in listed["data"]] == [run_message.public_id]
        assert listed["data"][0]["run_id"] == "run_abc"
        assert_schema(listed, "ListMessagesResponse")
        none = api.get(url("message-list", thread_id=thread["id"]), {"run_id": "run_zzz"}).json()
        assert none["data"] == [] and none["first_id"] is None and none["has_more"] is False
        assert_schema(none, "ListMessagesResponse")


BAD_MESSAGES = [
    ({"content": "x"}, "role", "Missing required parameter: 'role'."),
    ({"role": "system", "content": "x"}, "role", "Invalid value: 'system'"),
    ({"role": "user"}, "content", "Missing required parameter: 'content'."),
    ({"role": "user", "content": ""}, "content", "Message content must be non-empty."),
    ({"role": "user", "content": []}, "content", "Message content must be non-empty."),
    ({"role": "user", "content": [{"type": "text", "text": ""}]}, "content",
     "Message content must be non-empty."),
    ({"role": "user", "content": 5}, "content", "Invalid type for 'content'"),
    ({"role": "user", "content": [{"type": "audio", "audio": {}}]}, "content[0].type",
     "Invalid value: 'audio'"),
    ({"role": "user", "content": [{"type": "text", "text": "a", "extra": 1}]},
     "content[0].extra", "Unrecognized request argument supplied: content[0].extra"),
    ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y"}}]},
     "content[0].image_url.url", "http or https"),
    ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y",
                                                                     "detail": "max"}}]},
     "content[0].image_url.detail", "Invalid value: 'max'"),
    ({"role": "user", "content": [{"type": "image_file", "image_file": {}}]},
     "content[0].image_file.file_id", "Missing required parameter"),
    ({"role": "user", "content": "x", "attachments": [{"file_id": "f"}]},
     "attachments[0].tools", "Missing required parameter"),
    ({"role": "user", "content": "x", "attachments": [{"file_id": "f",
                                                        "tools": [{"type": "browser"}]}]},
     "attachments[0].tools[0].type", "Invalid value: 'browser'"),
    ({"role": "user", "content": "x", "attachments": "f"}, "attachments", "Invalid type"),
    ({"role": "user", "content": "x", "metadata": {"k": 1}}, "metadata", "'k'"),
    ({"role": "user", "content": "x", "metadata": {"k" * 65: "v"}}, "metadata", "k" * 65),
    ({"role": "user", "content": "x", "metadata": {"k": "v" * 513}}, "metadata", "'k'"),
    ({"role": "user", "content": "x", "metadata": {f"k{i}": "v" for i in range(17)}},
     "metadata", "16"),
    ({"role": "user", "content": "x", "metadata": ["k"]}, "metadata", "Invalid type"),
    ({"role": "user", "content": "x", "file_ids": []}, "file_ids",
     "Unrecognized request argument supplied: file_ids"),
]


class TestValidation:
    @pytest.mark.parametrize("body,param,message", BAD_MESSAGES)
    def test_bad_message_changes_nothing(self, api, body, param, message):
        thread = make_thread(api)
        before = counts()
        error = assert_error(
            post(api, url("message-list", thread_id=thread["id"]), body), 400, param, message
        )
        assert error["type"] == "invalid_request_error"
        assert counts() == before

    @pytest.mark.parametrize("body,param,message", BAD_MESSAGES)
    def test_bad_message_in_thread_create_names_its_path(self, api, body, param, message):
        good = {"role": "user", "content": "fine"}
        response = post(api, url("thread-list"), {"messages": [good, body]})
        assert_error(response, 400, f"messages[1].{param}", message.replace(
            f"'{param}'", f"'messages[1].{param}'"
        ).replace(f"supplied: {param}", f"supplied: messages[1].{param}"))
        assert counts() == (0, 0)

    def test_metadata_limits_accept_the_maximum(self, api):
        metadata = {f"{i:064d}": "v" * 512 for i in range(16)}
        assert make_thread(api, metadata=metadata)["metadata"] == metadata

    def test_text_length_limit_counts_all_parts(self, api, settings):
        settings.THREADS_APP = {"MAX_TEXT_LENGTH": 10}
        thread = make_thread(api)
        make_message(api, thread["id"], content=[{"type": "text", "text": "x" * 5}] * 2)
        response = post(api, url("message-list", thread_id=thread["id"]),
                        {"role": "user", "content": [{"type": "text", "text": "x" * 6}] * 2})
        assert_error(response, 400, "content", "10")

    def test_thread_create_message_limit(self, api, settings):
        settings.THREADS_APP = {"MAX_MESSAGES_PER_THREAD_CREATE": 2}
        messages = [{"role": "user", "content": "m"}] * 3
        assert_error(post(api, url("thread-list"), {"messages": messages}), 400, "messages")
        assert counts() == (0, 0)

    @pytest.mark.parametrize(
        "body,param",
        [
            ({"tool_resources": {"file_search": {"vector_stores": [{"file_ids": []}]}}},
             "tool_resources.file_search.vector_stores"),
            ({"tool_resources": {"code_interpreter": {"file_ids": ["f"] * 21}}},
             "tool_resources.code_interpreter.file_ids"),
            ({"tool_resources": {"file_search": {"vector_store_ids": ["a", "b"]}}},
             "tool_resources.file_search.vector_store_ids"),
            ({"tool_resources": {"browser": {}}}, "tool_resources.browser"),
            ({"tool_resources": []}, "tool_resources"),
            ({"messages": {}}, "messages"),
            ({"metadata": "x"}, "metadata"),
            ({"assistant_id": "asst_1"}, "assistant_id"),
        ],
    )
    def test_bad_thread_create(self, api, body, param):
        assert_error(post(api, url("thread-list"), body), 400, param)
        assert counts() == (0, 0)

    def test_vector_stores_message_points_to_ids(self, api):
        body = {"tool_resources": {"file_search": {"vector_stores": [{}]}}}
        assert "vector_store_ids" in post(api, url("thread-list"), body).json()["error"]["message"]

    def test_bad_thread_update_changes_nothing(self, api):
        thread = make_thread(api, metadata={"a": "1"})
        detail = url("thread-detail", thread_id=thread["id"])
        assert_error(post(api, detail, {"metadata": {"b": "2"}, "messages": []}), 400, "messages")
        assert_error(post(api, detail, {"metadata": {"b": 2}}), 400, "metadata")
        assert api.get(detail).json()["metadata"] == {"a": "1"}

    @pytest.mark.parametrize("name", ["thread-detail", "message-list"])
    def test_path_id_with_wrong_prefix(self, api, name):
        error = assert_error(api.get(url(name, thread_id="abc")), 400, "thread_id")
        assert error["message"] == (
            "Invalid 'thread_id': 'abc'. Expected an ID that begins with 'thread'."
        )

    def test_message_id_with_wrong_prefix(self, api):
        thread = make_thread(api)
        response = api.get(url("message-detail", thread_id=thread["id"], message_id="thread_x"))
        assert_error(response, 400, "message_id", "Expected an ID that begins with 'msg'.")

    @pytest.mark.parametrize("thread_id", ["thread_", "thread_doesnotexist", "thread_" + "a" * 24])
    def test_unknown_thread(self, api, thread_id):
        assert_error(api.get(url("thread-detail", thread_id=thread_id)), 404,
                     contains=f"No thread found with id '{thread_id}'.")

    def test_body_must_be_an_object(self, api):
        assert_error(post(api, url("thread-list"), [1, 2]), 400)
        assert counts() == (0, 0)


class TestErrorsEverywhere:
    def test_unparsable_json(self, api):
        response = api.post(url("thread-list"), "{nope", content_type="application/json")
        assert_error(response, 400)
        assert counts() == (0, 0)

    def test_body_not_json(self, api):
        response = api.post(url("thread-list"), "a=b",
                            content_type="application/x-www-form-urlencoded")
        assert_error(response, 415)

    @pytest.mark.parametrize("path", ["nope", "threads/", "threads/thread_x/runs", ""])
    def test_unknown_url(self, api, path):
        full = url("thread-list").removesuffix("threads") + path
        error = assert_error(api.get(full), 404)
        assert error["message"] == f"Invalid URL (GET {full})"

    def test_unknown_url_needs_no_key(self, client):
        full = url("thread-list").removesuffix("threads") + "nope"
        assert_error(client.post(full), 404)

    @pytest.mark.parametrize("method", ["put", "patch", "options"])
    def test_method_not_allowed(self, api, method):
        assert_error(getattr(api, method)(url("thread-list")), 405)

    def test_delete_collection_not_allowed(self, api):
        assert_error(api.delete(url("thread-list")), 405)

    def test_method_not_allowed_names_the_allowed_ones(self, api):
        messages = url("message-list", thread_id=make_thread(api)["id"])
        response = api.put(messages)
        assert_error(response, 405)
        assert set(response["Allow"].split(", ")) == {"GET", "POST", "HEAD"}
        # Only a 405 lists them, as HTTP asks; OpenAI's answers had no Allow either.
        assert "Allow" not in api.get(messages)

    def test_unexpected_exception_is_a_500_envelope(self, api, monkeypatch):
        def explode(*args, **kwargs):
            raise RuntimeError("internal detail that must not leak")

        monkeypatch.setattr("threads_app.views.thread_object", explode)
        response = api.post(url("thread-list"), "{}", content_type="application/json")
        error = assert_error(response, 500)
        assert error["type"] == "server_error"
        assert "internal detail" not in error["message"]
        assert response["x-request-id"] in error["message"]
        assert counts() == (0, 0)  # the thread's insert was rolled back

    def test_a_failing_message_create_stores_nothing(self, api, monkeypatch):
        thread = make_thread(api)

        def explode(*args, **kwargs):
            raise RuntimeError("fails while answering")

        monkeypatch.setattr("threads_app.views.message_object", explode)
        response = post(api, url("message-list", thread_id=thread["id"]),
                        {"role": "user", "content": "x"})
        assert_error(response, 500)
        assert counts() == (1, 0)

    def test_every_answer_has_a_request_id(self, api):
        ids = {api.get(url("thread-list"))["x-request-id"] for _ in range(3)}
        assert len(ids) == 3

    def test_accept_and_format_are_ignored(self, api):
        response = api.get(url("thread-list") + "?format=api", HTTP_ACCEPT="text/html")
        assert response.status_code == 200
        assert response["content-type"] == "application/json"


class TestAuthentication:
    def test_missing_key(self, client, db):
        response = client.get(url("thread-list"))
        error = assert_error(response, 401)
        assert "API key" in error["message"]
        assert response["www-authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("header", ["Bearer wrong", "Bearer", "Bearer a b", "Basic abc"])
    def test_wrong_key(self, client, secret, header):
        response = client.get(url("thread-list"), HTTP_AUTHORIZATION=header)
        assert response.status_code == 401

    def test_wrong_key_is_not_echoed(self, client, db):
        response = client.get(url("thread-list"), HTTP_AUTHORIZATION="Bearer sk-secretvalue")
        error = assert_error(response, 401)
        assert error["code"] == "invalid_api_key"
        assert "secretvalue" not in response.content.decode()

    def test_revoked_key(self, client, user):
        from threads_app.models import APIKey

        api_key, secret = APIKey.generate(user)
        header = f"Bearer {secret}"
        assert client.get(url("thread-list"), HTTP_AUTHORIZATION=header).status_code == 200
        api_key.revoke()
        assert client.get(url("thread-list"), HTTP_AUTHORIZATION=header).status_code == 401

    def test_inactive_user(self, api, user):
        user.is_active = False
        user.save()
        assert_error(api.get(url("thread-list")), 401)

    def test_key_is_stored_hashed(self, user):
        from threads_app.models import APIKey

        api_key, secret = APIKey.generate(user)
        api_key.refresh_from_db()
        stored = [str(v) for v in api_key.__dict__.values()]
        assert secret not in stored
        assert api_key.prefix == secret[:10]

    def test_last_used_is_recorded(self, api, user):
        api.get(url("thread-list"))
        assert user.threads_api_keys.get().last_used_at is not None

    def test_openai_beta_header_optional(self, api):
        assert api.get(url("thread-list"), HTTP_OPENAI_BETA="assistants=v2").status_code == 200
        assert api.get(url("thread-list")).status_code == 200


def every_endpoint(thread_id, message_id):
    """(method, url, body) for each of the ten endpoints that name an object or list."""
    return [
        ("get", url("thread-list"), None),
        ("post", url("thread-list"), {}),
        ("get", url("thread-detail", thread_id=thread_id), None),
        ("post", url("thread-detail", thread_id=thread_id), {"metadata": {"x": "y"}}),
        ("delete", url("thread-detail", thread_id=thread_id), None),
        ("post", url("message-list", thread_id=thread_id), {"role": "user", "content": "x"}),
        ("get", url("message-list", thread_id=thread_id), None),
        ("get", url("message-detail", thread_id=thread_id, message_id=message_id), None),
        ("post", url("message-detail", thread_id=thread_id, message_id=message_id),
         {"metadata": {"x": "y"}}),
        ("delete", url("message-detail", thread_id=thread_id, message_id=message_id), None),
    ]


def call(client, method, path, body):
    if method == "get":
        return client.get(path)
    return getattr(client, method)(path, json.dumps(body or {}), content_type="application/json")


class TestRememberedKeys:
    """A key a process remembers is confirmed before anything is answered with it."""

    @pytest.fixture
    def remembered(self, api, user):
        thread = make_thread(api, metadata={"a": "1"})
        message = make_message(api, thread["id"])
        assert api.get(url("thread-list")).status_code == 200
        return thread, message, user.threads_api_keys.get()

    @pytest.mark.parametrize("index", range(10))
    def test_a_revoked_key_is_refused_at_once_everywhere(self, api, remembered, index):
        thread, message, api_key = remembered
        method, path, body = every_endpoint(thread["id"], message["id"])[index]
        api_key.revoke()
        before = (counts(), Thread.objects.get().metadata)
        error = assert_error(call(api, method, path, body), 401)
        assert error["code"] == "invalid_api_key"
        assert (counts(), Thread.objects.get().metadata) == before

    # The endpoints that confirm the key inside their own query: thread retrieve, and
    # message create, list and retrieve.
    @pytest.mark.parametrize("index", [2, 5, 6, 7])
    def test_a_deactivated_user_is_refused_at_once(self, api, remembered, user, index):
        thread, message, _ = remembered
        method, path, body = every_endpoint(thread["id"], message["id"])[index]
        user.is_active = False
        user.save()
        before = counts()
        assert_error(call(api, method, path, body), 401)
        assert counts() == before

    @pytest.mark.parametrize(
        "method, path, body",
        [
            ("post", "message-list", {"role": "nobody", "content": "x"}),
            ("get", "message-list?order=sideways", None),
            ("get", "message-list?after=msg_unknown", None),
            ("get", "missing-thread", None),
        ],
    )
    def test_an_error_is_not_answered_to_a_revoked_key(self, api, remembered, method, path, body):
        thread, _, api_key = remembered
        name, _, query = path.partition("?")
        if name == "missing-thread":
            target = url("message-list", thread_id="thread_" + "x" * 24)
        else:
            target = url(name, thread_id=thread["id"]) + (f"?{query}" if query else "")
        assert call(api, method, target, body).status_code in (400, 404)
        api_key.revoke()
        assert_error(call(api, method, target, body), 401)

    def test_a_replay_is_not_answered_to_a_revoked_key(self, api, remembered):
        thread, _, api_key = remembered
        path = url("message-list", thread_id=thread["id"])
        send = lambda: api.post(path, json.dumps({"role": "user", "content": "once"}),  # noqa: E731
                                content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
        assert send().status_code == 200
        assert send()["Idempotent-Replayed"] == "true"
        api_key.revoke()
        assert_error(send(), 401)

    def test_an_action_that_forgets_to_confirm_is_caught_before_it_answers(
        self, api, remembered, monkeypatch
    ):
        thread, _, api_key = remembered
        # Claim that retrieving a thread confirms the key in its query, which it does not.
        monkeypatch.setattr(ThreadViewSet, "key_confirming_actions", frozenset({"retrieve"}))
        path = url("thread-detail", thread_id=thread["id"])
        assert api.get(path).status_code == 200
        api_key.revoke()
        assert_error(api.get(path), 401)

    def test_a_remembered_key_is_looked_up_again_once_its_time_is_up(
        self, api, remembered, monkeypatch
    ):
        thread, _, api_key = remembered
        path = url("message-list", thread_id=thread["id"])
        with CaptureQueriesContext(connection) as warm:
            assert api.get(path).status_code == 200
        clock = time.monotonic() + 61
        monkeypatch.setattr("threads_app.authentication.time.monotonic", lambda: clock)
        with CaptureQueriesContext(connection) as expired:
            assert api.get(path).status_code == 200
        assert len(warm) == 1
        assert any("threads_app_apikey" in q["sql"] for q in expired.captured_queries)
        assert len(expired) == 2

    def test_no_key_is_remembered_with_a_cache_of_zero_seconds(self, api, remembered, settings):
        thread, _, _ = remembered
        settings.THREADS_APP = {**getattr(settings, "THREADS_APP", {}), "API_KEY_CACHE_SECONDS": 0}
        APIKeyAuthentication.remembered.by_digest.clear()
        path = url("message-list", thread_id=thread["id"])
        for _ in range(2):
            with CaptureQueriesContext(connection) as captured:
                assert api.get(path).status_code == 200
            assert "threads_app_apikey" in captured.captured_queries[0]["sql"]

    def test_what_is_remembered_is_bounded(self, user, monkeypatch):
        monkeypatch.setattr(RememberedKeys, "max_size", 3)
        remembered = RememberedKeys()
        keys = [APIKey.generate(user)[0] for _ in range(5)]
        for api_key in keys:
            remembered.add(api_key.key_hash, api_key, 60)
        assert [remembered.get(k.key_hash) for k in keys] == [None, None, *keys[2:]]


class TestIsolation:
    @pytest.mark.parametrize("index", range(10))
    def test_another_owner_sees_nothing(self, api, other_api, index):
        thread = make_thread(api, metadata={"a": "1"})
        message = make_message(api, thread["id"])
        method, path, body = every_endpoint(thread["id"], message["id"])[index]
        before = (counts(), api.get(url("thread-detail", thread_id=thread["id"])).json())
        response = call(other_api, method, path, body)
        if path in (url("thread-list"),):
            # The collection answers, but only with the caller's own threads.
            assert response.status_code == 200
            if method == "get":
                assert response.json()["data"] == []
            else:
                assert response.json()["id"] != thread["id"]
                return
        else:
            assert_error(response, 404)
        assert (counts(), api.get(url("thread-detail", thread_id=thread["id"])).json()) == before
        assert api.get(url("message-detail", thread_id=thread["id"],
                           message_id=message["id"])).json() == message

    @pytest.mark.parametrize("index", range(10))
    def test_unauthenticated_sees_nothing(self, api, client, index):
        thread = make_thread(api)
        message = make_message(api, thread["id"])
        method, path, body = every_endpoint(thread["id"], message["id"])[index]
        before = counts()
        assert_error(call(client, method, path, body), 401)
        assert counts() == before

    def test_cursor_from_another_owner_is_refused(self, api, other_api):
        theirs = make_thread(other_api)
        make_thread(api)
        assert_error(api.get(url("thread-list"), {"after": theirs["id"]}), 400, "after")
