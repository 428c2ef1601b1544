"""The keyset paginator against a reference model of OpenAI's cursor semantics."""

import itertools
import json
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from django.utils import timezone

from threads_app.models import Message, Thread

from .conftest import url
from .oracle import assert_schema
from .test_api import assert_error, make_message, make_thread

pytestmark = pytest.mark.django_db


def expected_page(ids, order, limit, after=None, before=None, deleted=()):
    """What a page must hold, from the spec's words, on a list of IDs in insertion order."""
    sequence = list(ids) if order == "asc" else list(reversed(ids))
    start = sequence.index(after) + 1 if after else 0
    stop = sequence.index(before) if before else len(sequence)
    window = [i for i in sequence[start:stop] if i not in deleted]
    if before and not after:
        return window[-limit:], len(window) > limit
    return window[:limit], len(window) > limit


@pytest.fixture
def same_second_thread(user):
    """Seven messages stamped with one and the same instant."""
    thread = Thread.objects.create(owner=user)
    now = timezone.now()
    messages = Message.objects.bulk_create(
        Message(thread=thread, role="user", created_at=now, completed_at=now,
                content=[{"type": "text", "text": {"value": str(i), "annotations": []}}])
        for i in range(7)
    )
    return thread.public_id, [m.public_id for m in messages]


def fetch(api, thread_id, **params):
    params = {k: v for k, v in params.items() if v is not None}
    response = api.get(url("message-list", thread_id=thread_id), params)
    assert response.status_code == 200, response.content
    return response.json()


def test_every_window_matches_the_reference(api, same_second_thread):
    thread_id, ids = same_second_thread
    cursors = [None, *ids]
    for order, limit, after, before in itertools.product(
        ("asc", "desc"), (1, 2, 3, 7, 8), cursors, cursors
    ):
        page = fetch(api, thread_id, order=order, limit=limit, after=after, before=before)
        want, want_more = expected_page(ids, order, limit, after, before)
        got = [m["id"] for m in page["data"]]
        assert (got, page["has_more"]) == (want, want_more), (order, limit, after, before)
        assert page["first_id"] == (got[0] if got else None)
        assert page["last_id"] == (got[-1] if got else None)


def test_default_is_desc_and_twenty(api, user):
    thread = make_thread(api)
    ids = [make_message(api, thread["id"], content=str(i))["id"] for i in range(21)]
    page = fetch(api, thread["id"])
    assert [m["id"] for m in page["data"]] == ids[::-1][:20]
    assert page["has_more"] is True
    assert_schema(page, "ListMessagesResponse")


def test_deleted_cursor_keeps_its_place(api, same_second_thread):
    thread_id, ids = same_second_thread
    gone = {ids[2], ids[4]}
    for message_id in gone:
        api.delete(url("message-detail", thread_id=thread_id, message_id=message_id))
    for order, cursor, side in itertools.product(("asc", "desc"), gone, ("after", "before")):
        page = fetch(api, thread_id, order=order, limit=2, **{side: cursor})
        want, want_more = expected_page(ids, order, 2, deleted=gone, **{side: cursor})
        assert ([m["id"] for m in page["data"]], page["has_more"]) == (want, want_more)


def test_after_the_last_item_is_an_empty_page(api, same_second_thread):
    thread_id, ids = same_second_thread
    page = fetch(api, thread_id, order="asc", after=ids[-1])
    assert page == {"object": "list", "data": [], "first_id": None, "last_id": None,
                    "has_more": False}


def test_cursor_of_another_thread_is_refused(api, same_second_thread):
    thread_id, _ = same_second_thread
    other = make_thread(api)
    foreign = make_message(api, other["id"])["id"]
    for side in ("after", "before"):
        assert_error(api.get(url("message-list", thread_id=thread_id), {side: foreign}), 400, side)
        assert_error(api.get(url("message-list", thread_id=thread_id),
                             {side: "msg_" + "x" * 24}), 400, side)
        assert_error(api.get(url("message-list", thread_id=thread_id), {side: "thread_abc"}),
                     400, side, "Expected an ID that begins with 'msg'.")


@pytest.mark.parametrize(
    "params,param",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "2.5"}, "limit"),
        ({"order": "up"}, "order"),
    ],
)
def test_bad_query(api, same_second_thread, params, param):
    thread_id, _ = same_second_thread
    assert_error(api.get(url("message-list", thread_id=thread_id), params), 400, param)


@pytest.mark.django_db(transaction=True)
# Arabic-Indic one and five, fullwidth five, superscript two: digits to str.isdigit() alone.
@pytest.mark.parametrize(
    "raw", [" 1", "1 ", "\t2", "+5", "1_0", "\u0661", "\u0665", "\uff15", "\u00b2"]
)
def test_limit_is_ascii_digits_only(live_server, secret, raw):
    """`int()` takes spaces, signs, underscores and other scripts' digits: over HTTP, the
    three lists refuse them all."""
    made = make_thread_over_http(live_server, secret)
    lists = [
        url("message-list", thread_id=made),
        url("thread-list"),
        url("item-list", conversation_id="conv_" + made.removeprefix("thread_")),
    ]
    for path in lists:
        status, body = get_over_http(live_server, secret, f"{path}?limit={quote(raw)}")
        assert status == 400, (path, raw, body)
        assert body["error"]["param"] == "limit"
        status, body = get_over_http(live_server, secret, f"{path}?limit=05")
        assert status == 200 and body["object"] == "list"


def make_thread_over_http(live_server, secret: str) -> str:
    request = urllib.request.Request(
        live_server.url + url("thread-list"), data=b"{}", method="POST",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())["id"]


def get_over_http(live_server, secret: str, path: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        live_server.url + path, headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_limit_bounds_are_settings(api, same_second_thread, settings):
    thread_id, _ = same_second_thread
    settings.THREADS_APP = {"DEFAULT_PAGE_SIZE": 3, "MAX_PAGE_SIZE": 5}
    assert len(fetch(api, thread_id)["data"]) == 3
    assert_error(api.get(url("message-list", thread_id=thread_id), {"limit": 6}), 400, "limit")


def test_settings_read_once_still_follow_a_change(api, same_second_thread, settings):
    # The app keeps each value it has read (conf.py): a change must still reach it.
    thread_id, _ = same_second_thread
    settings.THREADS_APP = {"DEFAULT_PAGE_SIZE": 2}
    assert len(fetch(api, thread_id)["data"]) == 2
    settings.THREADS_APP = {"DEFAULT_PAGE_SIZE": 4}
    assert len(fetch(api, thread_id)["data"]) == 4
    settings.THREADS_APP = {}
    assert len(fetch(api, thread_id)["data"]) == 7  # all of them: the default is 20
