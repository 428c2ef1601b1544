"""The store's SQL runs where a host's Django expects it: on the routed database, watched."""

import openai
import pytest
from django.contrib.auth import get_user_model

from threads_app.models import APIKey, Message, Thread

from . import instrumentation
from .conftest import mount_url


class SecondDatabaseRouter:
    """A host's router: every model on the database "second"."""

    def db_for_read(self, model, **hints):
        return "second"

    def db_for_write(self, model, **hints):
        return "second"

    def allow_relation(self, obj1, obj2, **hints):
        return True


@pytest.fixture
def recorded():
    instrumentation.recording = []
    yield instrumentation.recording
    instrumentation.recording = None


@pytest.mark.django_db(databases=["default", "second"], transaction=True)
def test_the_app_follows_the_host_router(live_server, settings, recorded):
    """Every query of the API's answers runs on the database the router names."""
    settings.DATABASE_ROUTERS = [f"{__name__}.SecondDatabaseRouter"]
    user = get_user_model().objects.create_user("routed")
    secret = APIKey.generate(user)[1]
    with openai.OpenAI(api_key=secret, base_url=mount_url(live_server), max_retries=0) as sdk:
        thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "first"}])
        created = sdk.beta.threads.messages.create(thread.id, role="user", content="second")
        assert sdk.beta.threads.retrieve(thread.id) == thread
        listed = sdk.beta.threads.messages.list(thread.id, order="asc")
        assert [m.content[0].text.value for m in listed.data] == ["first", "second"]
        assert sdk.beta.threads.messages.retrieve(created.id, thread_id=thread.id) == created
        page = sdk.beta.threads.messages.list(thread.id, order="asc", after=listed.data[0].id)
        assert [m.id for m in page.data] == [created.id]

    assert [q for q in recorded if q[0] != "second"] == []
    stored = Message.objects.using("second").filter(thread__public_id=thread.id)
    assert stored.count() == 2
    assert not Thread.objects.using("default").exists()
    assert not Message.objects.using("default").exists()


@pytest.mark.django_db(transaction=True)
def test_a_host_execute_wrapper_sees_every_query(sdk, recorded):
    """As many queries as tests/test_queries.py counts: list, retrieve, create one each."""
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "first"}])
    sdk.beta.threads.messages.list(thread.id)  # the key is remembered from here on

    def queries(call) -> list[str]:
        recorded.clear()
        call()
        return [sql for _, sql in recorded]

    message_id = sdk.beta.threads.messages.list(thread.id).data[0].id
    listed = queries(lambda: sdk.beta.threads.messages.list(thread.id))
    retrieved = queries(lambda: sdk.beta.threads.messages.retrieve(message_id,
                                                                   thread_id=thread.id))
    created = queries(lambda: sdk.beta.threads.messages.create(thread.id, role="user",
                                                               content="x"))
    thread_retrieved = queries(lambda: sdk.beta.threads.retrieve(thread.id))
    assert [len(listed), len(retrieved), len(created), len(thread_retrieved)] == [1, 1, 1, 1]
    assert "threads_app_message" in listed[0] and "threads_app_apikey" in listed[0]
    assert created[0].startswith("WITH") and "INSERT INTO" in created[0]
