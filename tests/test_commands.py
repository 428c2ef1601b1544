import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from threads_app.models import APIKey

from .conftest import url

pytestmark = pytest.mark.django_db


def create_key(username):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", username, stdout=out, stderr=err)
    return out.getvalue().splitlines()[-1], err.getvalue()


def test_create_api_key_makes_the_user_and_a_working_key(client):
    secret, messages = create_key("newcomer")
    assert "newcomer" in messages and secret not in messages
    user = get_user_model().objects.get(username="newcomer")
    assert not user.has_usable_password()
    response = client.get(url("thread-list"), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200


def test_create_api_key_for_an_existing_user_adds_a_key(user):
    first, _ = create_key(user.username)
    second, _ = create_key(user.username)
    assert first != second
    assert APIKey.objects.filter(user=user).count() == 2
    assert get_user_model().objects.count() == 1


def test_migrations_are_complete():
    # Fails if a model change has no migration shipped with it.
    call_command("makemigrations", "threads_app", "--check", "--dry-run", stdout=io.StringIO())
