import openai
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.test import APIClient

from threads_app.authentication import APIKeyAuthentication
from threads_app.models import APIKey

from .browser import browser  # noqa: F401 (offered to every test module)

NAMESPACE = "openai"


def url(name: str, **kwargs: str) -> str:
    return reverse(f"{NAMESPACE}:{name}", kwargs=kwargs)


def mount_url(live_server) -> str:
    return live_server.url + url("thread-list").removesuffix("threads")


@pytest.fixture(autouse=True)
def forget_remembered_keys():
    """Each test starts as a new process would: with no API key remembered."""
    APIKeyAuthentication.remembered.by_digest.clear()
    yield
    APIKeyAuthentication.remembered.by_digest.clear()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("mallory")


@pytest.fixture
def secret(user) -> str:
    return APIKey.generate(user)[1]


@pytest.fixture
def other_secret(other_user) -> str:
    return APIKey.generate(other_user)[1]


@pytest.fixture
def api(secret) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def other_api(other_secret) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other_secret}")
    return client


@pytest.fixture
def sdk(live_server, secret) -> openai.OpenAI:
    # No retries: a test must see the first answer, not a retried one.
    return openai.OpenAI(api_key=secret, base_url=mount_url(live_server), max_retries=0)


@pytest.fixture
def other_sdk(live_server, other_secret) -> openai.OpenAI:
    return openai.OpenAI(api_key=other_secret, base_url=mount_url(live_server), max_retries=0)


@pytest.fixture
def async_sdk(live_server, secret) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=secret, base_url=mount_url(live_server), max_retries=0)
