"""What a host site can plug in: signal receivers, its own authentication, its own owners."""

import json

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete

from threads_app import signals
from threads_app.models import Message, Thread
from threads_app.renderers import JSONRenderer
from threads_app.views import MessageViewSet

from .conftest import url
from .test_api import make_message, make_thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def received():
    log = []
    receivers = {}
    for name in ("thread_created", "thread_updated", "thread_deleted",
                 "message_created", "message_updated", "message_deleted"):
        def receiver(sender, name=name, request=None, **kwargs):
            obj = kwargs["thread"] if sender is Thread else kwargs["message"]
            assert request is not None
            log.append((name, sender.__name__, obj.public_id))
        receivers[name] = receiver
        getattr(signals, name).connect(receiver)
    yield log
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def test_every_change_is_signalled(api, received):
    thread = make_thread(api, messages=[{"role": "user", "content": "a"}])
    first = Thread.objects.get(public_id=thread["id"]).messages.get().public_id
    message = make_message(api, thread["id"])
    detail = url("message-detail", thread_id=thread["id"], message_id=message["id"])
    api.post(detail, json.dumps({"metadata": {"k": "v"}}), content_type="application/json")
    api.delete(detail)
    api.post(url("thread-detail", thread_id=thread["id"]), json.dumps({"metadata": {}}),
             content_type="application/json")
    api.delete(url("thread-detail", thread_id=thread["id"]))
    assert received == [
        ("thread_created", "Thread", thread["id"]),
        ("message_created", "Message", first),
        ("message_created", "Message", message["id"]),
        ("message_updated", "Message", message["id"]),
        ("message_deleted", "Message", message["id"]),
        ("thread_updated", "Thread", thread["id"]),
        ("thread_deleted", "Thread", thread["id"]),
    ]


def test_a_thread_delete_still_tells_a_receiver_of_djangos_delete_signals(api):
    """A thread goes by a DELETE of the store's own unless a host listens for Django's
    delete signals of threads (or refers to them): then Django deletes it, and sends them."""
    heard = []

    def receiver(sender, instance, **kwargs):
        heard.append((instance.public_id, instance.messages.count()))

    thread = make_thread(api, messages=[{"role": "user", "content": "a"}])
    post_delete.connect(receiver, sender=Thread)
    try:
        assert api.delete(url("thread-detail", thread_id=thread["id"])).status_code == 200
    finally:
        post_delete.disconnect(receiver, sender=Thread)
    assert heard == [(thread["id"], 0)]
    assert not Thread.objects.filter(public_id=thread["id"]).exists()
    assert not Message.objects.filter(thread=thread["id"]).exists()

    other = make_thread(api, messages=[{"role": "user", "content": "b"}])
    assert api.delete(url("thread-detail", thread_id=other["id"])).status_code == 200
    assert heard == [(thread["id"], 0)]  # disconnected: the store's own DELETE, unheard
    assert not Thread.objects.filter(public_id=other["id"]).exists()
    assert not Message.objects.filter(thread=other["id"]).exists()


def test_nothing_is_signalled_for_a_rolled_back_write(api, received, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("fails after the insert")

    monkeypatch.setattr("threads_app.views.thread_object", explode)
    # The write happened, then failed before commit: no receiver may hear of it.
    response = api.post(url("thread-list"), "{}", content_type="application/json")
    assert response.status_code == 500
    assert received == []


def team_owner(request):
    """A host's rule: everyone in the request acts for one shared account."""
    return get_user_model().objects.get_or_create(username="team")[0]


def test_owner_function_is_a_setting(api, other_api, settings):
    settings.THREADS_APP = {"OWNER_FUNCTION": "tests.test_host_hooks.team_owner"}
    thread = make_thread(api)
    # Both keys act for the team, so both see the thread.
    assert other_api.get(url("thread-detail", thread_id=thread["id"])).status_code == 200
    assert Thread.objects.get().owner.username == "team"


def test_host_authentication_classes(user, settings):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    settings.THREADS_APP = {
        "AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"]
    }
    assert client.get(url("thread-list")).status_code == 403  # no session, no Bearer realm
    client.force_login(user)
    assert client.get(url("thread-list")).json()["object"] == "list"
    # Session authentication brings CSRF protection with it, answered in our envelope.
    refused = client.post(url("thread-list"), "{}", content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]


class IndentedJSON(JSONRenderer):
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return orjson.dumps(data, option=orjson.OPT_INDENT_2)


def test_a_renderer_of_the_hosts_renders_every_answer(api, monkeypatch):
    thread = make_thread(api)
    monkeypatch.setattr(MessageViewSet, "renderer_classes", [IndentedJSON])
    messages = url("message-list", thread_id=thread["id"])
    created = api.post(messages, json.dumps({"role": "user", "content": "hi"}),
                       content_type="application/json")
    detail = url("message-detail", thread_id=thread["id"], message_id=created.json()["id"])
    answers = [created, api.get(messages), api.get(detail), api.get(messages + "?after=nope")]
    for response in answers:
        assert response["content-type"] == "application/json; charset=utf-8"
        assert response.content.startswith(b'{\n  "')  # indented: this renderer's work
    assert [response.status_code for response in answers] == [200, 200, 200, 400]
