"""A host's own Bearer tokens beside our API keys, as docs/installation.md §5 sets them up."""

import secrets

import openai
import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from threads_app.models import APIKey, Thread

from .conftest import mount_url

# The host's token table: token -> username.
TEAM_TOKENS: dict[str, str] = {}


class TeamTokenAuthentication(BaseAuthentication):
    """The host's class of the documented example: its own tokens, sent as Bearer tokens."""

    def authenticate(self, request):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return None
        # Like DRF's TokenAuthentication, it refuses a Bearer token it does not know,
        # so it can only come after a class that steps aside for tokens not its own.
        if token not in TEAM_TOKENS:
            raise AuthenticationFailed("Unknown team token.")
        return get_user_model().objects.get(username=TEAM_TOKENS[token]), token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="team"'


def team_account(request):
    """Every member of the team shares the team's threads."""
    return get_user_model().objects.get_or_create(username="team")[0]


HOST_SETTINGS = {
    "AUTHENTICATION_CLASSES": [
        "threads_app.authentication.APIKeyAuthentication",
        "tests.test_host_authentication.TeamTokenAuthentication",
    ],
    "OWNER_FUNCTION": "tests.test_host_authentication.team_account",
}


@pytest.fixture
def host_site(db):
    with override_settings(THREADS_APP=HOST_SETTINGS):
        yield
    TEAM_TOKENS.clear()


def client(live_server, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=api_key, base_url=mount_url(live_server), max_retries=0)


def test_host_tokens_work_beside_our_keys_through_the_sdk(host_site, live_server, sdk, user):
    get_user_model().objects.create_user("bob")
    team_token = secrets.token_hex(20)
    TEAM_TOKENS[team_token] = "bob"
    with client(live_server, team_token) as bob:
        thread = bob.beta.threads.create(messages=[{"role": "user", "content": "from bob"}])
        # Alice's API key acts for the same team, so she sees and extends Bob's thread.
        assert sdk.beta.threads.retrieve(thread.id).id == thread.id
        sdk.beta.threads.messages.create(thread.id, role="assistant", content="from alice")
        listed = bob.beta.threads.messages.list(thread.id, order="asc")
        assert [m.content[0].text.value for m in listed] == ["from bob", "from alice"]
    assert Thread.objects.get().owner.username == "team"

    # The host's class refuses its own unknown tokens, in its own words.
    with client(live_server, "not-a-team-token") as stranger:
        with pytest.raises(openai.AuthenticationError) as refused:
            stranger.beta.threads.retrieve(thread.id)
    assert refused.value.body["message"] == "Unknown team token."

    # A token shaped like our keys is ours to judge: unknown, it is refused by us.
    with client(live_server, "sk-" + "A" * 43) as guessed:
        with pytest.raises(openai.AuthenticationError) as refused:
            guessed.beta.threads.retrieve(thread.id)
    assert refused.value.body["code"] == "invalid_api_key"
    assert refused.value.body["message"] == "Incorrect API key provided."

    # Alice's key is remembered by now; revoked, it is refused on the very next request.
    user.threads_api_keys.get().revoke()
    with pytest.raises(openai.AuthenticationError) as refused:
        sdk.beta.threads.messages.create(thread.id, role="user", content="after revoking")
    assert refused.value.body["code"] == "invalid_api_key"
    assert Thread.objects.get().messages.count() == 2


def test_a_foreign_token_is_refused_when_only_our_keys_are_configured(live_server, db):
    with client(live_server, "not-one-of-our-keys") as stranger:
        with pytest.raises(openai.AuthenticationError) as refused:
            stranger.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    assert refused.value.status_code == 401
    assert refused.value.response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert refused.value.response.headers["x-request-id"]
    assert set(refused.value.response.json()["error"]) == {"message", "type", "param", "code"}
    assert refused.value.body["code"] == "invalid_api_key"
    assert not Thread.objects.exists()


def test_every_generated_secret_is_shaped_like_our_keys(user):
    for _ in range(200):
        assert APIKey.is_secret_shaped(APIKey.generate(user)[1])
    assert not APIKey.is_secret_shaped("sk-" + "A" * 42)
    assert not APIKey.is_secret_shaped("sk-" + "A" * 42 + "=")
