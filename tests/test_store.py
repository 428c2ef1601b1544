"""The store's SQL runs where a host's Django expects it: on the routed database, watched."""

from datetime import timedelta

import openai
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from threads_app import store
from threads_app.models import APIKey, Message, Thread, hash_api_key

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


def fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname)
            for field in type(instance)._meta.concrete_fields}


@pytest.mark.django_db
def test_a_key_is_found_with_its_user_as_the_orm_finds_them(user):
    """Every field as ``select_related("user")`` loads it (times aware), saved as stored
    rows are; a revoked key is not found, and a deactivated user's is (the caller checks)."""
    user.last_login = timezone.now() - timedelta(days=1)
    user.save()
    api_key, secret = APIKey.generate(user, name="laptop")
    APIKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    digest = hash_api_key(secret)

    found = store.find_key(digest)
    expected = APIKey.objects.select_related("user").get(pk=api_key.pk)
    assert fields(found) == fields(expected)
    assert fields(found.user) == fields(expected.user)
    assert timezone.is_aware(found.last_used_at) and timezone.is_aware(found.user.date_joined)
    found.name = "renamed"
    found.save(update_fields=["name"])  # an update of the stored row, not an insert
    assert APIKey.objects.get().name == "renamed"

    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert store.find_key(digest).user.is_active is False
    APIKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    assert store.find_key(digest) is None
    assert store.find_key(hash_api_key("sk-unknown")) is None
