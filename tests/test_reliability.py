"""Idempotency keys, limits, throttling, a busy database, and what reaches the logs."""

import io
import json
import logging
import threading
from datetime import timedelta
from types import SimpleNamespace

import openai
import psycopg
import pytest
from django.core.management import call_command
from django.db import InternalError, OperationalError, connection
from django.utils import timezone

from threads_app import views
from threads_app.idempotency import IdempotencyPolicy
from threads_app.models import IdempotencyRecord, Message, Thread
from threads_app.store import keys

from .conftest import url
from .test_api import assert_error, counts, make_thread

pytestmark = pytest.mark.django_db


def post_with_key(client, path, body, key="key-1", raw=None):
    return client.post(path, raw if raw is not None else json.dumps(body),
                       content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def thread_id(api):
    return make_thread(api)["id"]


class TestIdempotencyKeys:
    def test_repeat_replays_the_first_answer(self, api, thread_id):
        path = url("message-list", thread_id=thread_id)
        first = post_with_key(api, path, {"role": "user", "content": "once"})
        again = post_with_key(api, path, {"role": "user", "content": "once"})
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert Message.objects.count() == 1

    def test_body_is_compared_as_parsed_json(self, api, thread_id):
        path = url("message-list", thread_id=thread_id)
        first = post_with_key(api, path, None, raw='{"role": "user", "content": "x"}')
        again = post_with_key(api, path, None, raw='{"content":"x",\n "role":"user"}')
        assert again.json()["id"] == first.json()["id"]
        assert Message.objects.count() == 1

    def test_other_body_is_refused_with_422(self, api, thread_id):
        path = url("message-list", thread_id=thread_id)
        post_with_key(api, path, {"role": "user", "content": "one"})
        response = post_with_key(api, path, {"role": "user", "content": "two"})
        assert_error(response, 422)
        assert Message.objects.count() == 1

    def test_same_body_on_another_path_is_another_request(self, api, thread_id):
        other = make_thread(api)["id"]
        body = {"role": "user", "content": "x"}
        post_with_key(api, url("message-list", thread_id=thread_id), body)
        response = post_with_key(api, url("message-list", thread_id=other),
                                 {"role": "user", "content": "x"})
        assert_error(response, 422)

    def test_keys_belong_to_their_owner(self, api, other_api, thread_id):
        mine = post_with_key(api, url("thread-list"), {})
        theirs = post_with_key(other_api, url("thread-list"), {})
        assert mine.json()["id"] != theirs.json()["id"]
        assert Thread.objects.count() == 3

    def test_client_errors_are_replayed_too(self, api, thread_id):
        path = url("message-list", thread_id=thread_id)
        first = post_with_key(api, path, {"role": "user", "content": ""})
        again = post_with_key(api, path, {"role": "user", "content": ""})
        assert_error(first, 400, "content")
        assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"

    def test_server_errors_are_not_kept(self, api, thread_id, monkeypatch):
        path = url("message-list", thread_id=thread_id)
        calls = []
        real = views.message_object

        def fail_once(*args):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("boom")  # while answering: nothing may be kept
            return real(*args)

        monkeypatch.setattr(views, "message_object", fail_once)
        assert_error(post_with_key(api, path, {"role": "user", "content": "x"}), 500)
        retry = post_with_key(api, path, {"role": "user", "content": "x"})
        assert retry.status_code == 200 and "Idempotent-Replayed" not in retry
        assert Message.objects.count() == 1

    def test_write_and_answer_commit_together(self, api, thread_id, monkeypatch):
        """A failure after the write but before its answer is stored keeps neither."""
        path = url("message-list", thread_id=thread_id)
        real_complete = IdempotencyPolicy.complete
        failures = []

        def complete(self, record, status_code, data):
            if status_code == 200 and not failures:
                failures.append(1)
                raise OperationalError("disk I/O error")
            return real_complete(self, record, status_code, data)

        monkeypatch.setattr(IdempotencyPolicy, "complete", complete)
        assert post_with_key(api, path, {"role": "user", "content": "x"}).status_code == 500
        assert Message.objects.count() == 0
        assert post_with_key(api, path, {"role": "user", "content": "x"}).status_code == 200
        assert Message.objects.count() == 1

    def test_in_flight_key_answers_409_until_abandoned(self, api, user, thread_id):
        path = url("message-list", thread_id=thread_id)
        body = {"role": "user", "content": "x"}
        policy = IdempotencyPolicy()
        request = type("R", (), {"method": "POST", "path": path, "data": body})()
        IdempotencyRecord.objects.create(
            owner=user, key="busy", fingerprint=policy.fingerprint(request)
        )
        response = post_with_key(api, path, body, key="busy")
        assert_error(response, 409)
        assert Message.objects.count() == 0

        IdempotencyRecord.objects.filter(key="busy").update(
            claimed_at=timezone.now() - timedelta(minutes=10)
        )
        assert post_with_key(api, path, body, key="busy").status_code == 200
        assert Message.objects.count() == 1

    def test_expired_keys_run_again_and_are_purged(self, api, thread_id):
        path = url("message-list", thread_id=thread_id)
        post_with_key(api, path, {"role": "user", "content": "x"}, key="old")
        IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
        again = post_with_key(api, path, {"role": "user", "content": "y"}, key="old")
        assert again.status_code == 200
        IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
        post_with_key(api, path, {"role": "user", "content": "z"}, key="fresh")
        out = io.StringIO()
        call_command("purge_idempotency_keys", stdout=out)
        assert "Deleted 1 " in out.getvalue()
        assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]

    def test_key_length(self, api):
        assert_error(post_with_key(api, url("thread-list"), {}, key="k" * 256), 400)
        assert post_with_key(api, url("thread-list"), {}, key="k" * 255).status_code == 200
        assert_error(post_with_key(api, url("thread-list"), {}, key="a\x00b"), 400)

    def test_get_ignores_the_header(self, api):
        response = api.get(url("thread-list"), HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 200
        assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
class TestIdempotencyThroughTheSDK:
    def test_retried_create_is_stored_once(self, sdk):
        thread = sdk.beta.threads.create()
        headers = {"Idempotency-Key": "sdk-key-1"}
        first = sdk.beta.threads.messages.create(thread.id, role="user", content="hi",
                                                 extra_headers=headers)
        second = sdk.beta.threads.messages.create(thread.id, role="user", content="hi",
                                                  extra_headers=headers)
        assert second.id == first.id
        assert len(sdk.beta.threads.messages.list(thread.id).data) == 1
        with pytest.raises(openai.UnprocessableEntityError):
            sdk.beta.threads.messages.create(thread.id, role="user", content="other",
                                             extra_headers=headers)

    def test_concurrent_requests_with_one_key_store_one_message(self, sdk):
        thread = sdk.beta.threads.create()
        # Retries on: a request that meets the other in flight gets 409, which the
        # SDK retries, and then the first answer.
        client = sdk.with_options(max_retries=5)
        results, errors = [], []
        barrier = threading.Barrier(4)

        def send():
            barrier.wait()
            try:
                results.append(client.beta.threads.messages.create(
                    thread.id, role="user", content="same",
                    extra_headers={"Idempotency-Key": "race"},
                ).id)
            except Exception as exc:  # reported below, with the others
                errors.append(exc)

        workers = [threading.Thread(target=send) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        assert len(set(results)) == 1 and len(results) == 4
        assert [m.id for m in sdk.beta.threads.messages.list(thread.id).data] == results[:1]


class TestLimits:
    def test_body_too_large(self, api, thread_id, settings):
        settings.THREADS_APP = {"MAX_BODY_SIZE": 200}
        before = counts()
        response = api.post(url("message-list", thread_id=thread_id),
                            json.dumps({"role": "user", "content": "x" * 300}),
                            content_type="application/json")
        assert_error(response, 413)
        assert counts() == before
        small = api.post(url("message-list", thread_id=thread_id),
                         json.dumps({"role": "user", "content": "x" * 10}),
                         content_type="application/json")
        assert small.status_code == 200

    def test_default_limit_is_ours_not_djangos(self, api):
        # Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB) must not cut our 8 MiB limit short.
        messages = [{"role": "user", "content": "x" * 40_000}] * 100
        body = json.dumps({"messages": messages})
        assert len(body) > 3 * 1024 * 1024
        response = api.post(url("thread-list"), body, content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        assert Message.objects.count() == 100

    def test_busy_database_answers_503(self, api, monkeypatch):
        def locked(*args, **kwargs):
            raise OperationalError("database is locked")

        monkeypatch.setattr(Thread.objects, "create", locked)
        response = api.post(url("thread-list"), "{}", content_type="application/json")
        error = assert_error(response, 503)
        assert error["type"] == "server_error"
        assert response["Retry-After"] == "1"

    @pytest.mark.django_db(transaction=True)
    def test_a_connection_the_server_ended_answers_503(self, api, user):
        """A worker's idle connection ended by a restart of PostgreSQL, say: the SDK retries."""
        if connection.vendor != "postgresql":
            pytest.skip("SQLite has no server to end a connection")
        thread = make_thread(api)
        backend = connection.connection.info.backend_pid
        with psycopg.connect(connection.connection.info.dsn, autocommit=True) as admin:
            # Typed: Citus adds an overload of the function.
            admin.execute("SELECT pg_terminate_backend(%s::integer)", [backend])
        response = api.get(url("message-list", thread_id=thread["id"]))
        error = assert_error(response, 503)
        assert response["Retry-After"] == "1" and error["type"] == "server_error"
        connection.close_if_unusable_or_obsolete()  # as Django does after every request
        assert api.get(url("message-list", thread_id=thread["id"])).status_code == 200

    @pytest.mark.parametrize(("message", "status"), [
        ("could not commit transaction for shard 102041 on at least one active node", 503),
        ("failure on connection marked as essential: 10.0.0.7:5432", 503),
        ("could not create distributed plan", 500),
    ])
    def test_a_citus_worker_lost_in_a_transaction_answers_503(self, api, monkeypatch, message,
                                                               status):
        """Citus names no SQLSTATE for a worker lost at COMMIT (XX000): its own messages
        answer 503, no other internal error does (tests/test_citus_faults.py meets them)."""

        def lost(*args, **kwargs):
            raise InternalError(message) from ServerError("XX000", message)

        monkeypatch.setattr(Thread.objects, "create", lost)
        response = api.post(url("thread-list"), "{}", content_type="application/json")
        assert assert_error(response, status)["type"] == "server_error"
        assert response.get("Retry-After") == ("1" if status == 503 else None)

    def test_a_key_whose_use_cannot_be_recorded_still_authenticates(self, api, user, monkeypatch,
                                                                     caplog):
        """On Citus the keys are a reference table, written on every node: with a worker down,
        recording a key's use fails, which must not fail requests on the other workers."""
        message = "connection to the remote node postgres@10.0.0.7:5432 failed"

        def refused(*args, **kwargs):
            raise OperationalError(message) from ServerError("08006", message)

        monkeypatch.setattr(keys, "record_use", refused)
        assert api.get(url("thread-list")).status_code == 200
        assert user.threads_api_keys.get().last_used_at is None
        assert "not recorded" in caplog.text


class ServerError(Exception):
    """What psycopg raises for an error the server sent: its SQLSTATE and message."""

    def __init__(self, sqlstate: str, message: str):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.diag = SimpleNamespace(message_primary=message)


@pytest.fixture
def shared_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "threads_app_test_cache",
        },
    }
    call_command("createcachetable", "threads_app_test_cache")
    return "shared"


class TestThrottling:
    def test_off_by_default(self, api):
        for _ in range(30):
            assert api.get(url("thread-list")).status_code == 200

    def test_per_key_limit_with_retry_after(self, api, other_api, settings, shared_cache):
        from django.db import connection

        settings.THREADS_APP = {"THROTTLE_RATE": "3/min", "THROTTLE_CACHE": shared_cache}
        for _ in range(3):
            assert api.get(url("thread-list")).status_code == 200
        response = api.get(url("thread-list"))
        error = assert_error(response, 429)
        assert error["type"] == "rate_limit_exceeded"
        assert 1 <= int(response["Retry-After"]) <= 60
        # Another key has its own budget.
        assert other_api.get(url("thread-list")).status_code == 200
        # The counters live in the shared cache's table, not in this process.
        with connection.cursor() as cursor:
            cursor.execute("SELECT cache_key FROM threads_app_test_cache")
            keys = [row[0] for row in cursor.fetchall()]
        assert sum("threads_app:throttle:key:" in key for key in keys) == 2

    def test_host_throttle_settings_are_ignored(self, api):
        # tests/settings.py sets a host-wide anonymous throttle of 1/day.
        assert all(api.get(url("thread-list")).status_code == 200 for _ in range(3))


class TestLogs:
    def test_no_secret_or_text_in_logs(self, client, api, secret, thread_id, caplog,
                                       monkeypatch):
        caplog.set_level(logging.DEBUG)
        marker = "TOP-SECRET-MESSAGE-TEXT"

        def explode(*args, **kwargs):
            raise RuntimeError("failure")

        monkeypatch.setattr("threads_app.views.message_object", explode)
        api.post(url("message-list", thread_id=thread_id),
                 json.dumps({"role": "user", "content": marker}), content_type="application/json")
        client.get(url("thread-list"), HTTP_AUTHORIZATION=f"Bearer {secret}x")
        assert "unexpected error" in caplog.text  # the 500 was logged, with its request id
        assert marker not in caplog.text
        assert secret not in caplog.text
